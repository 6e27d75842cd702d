"""The classifier builds for every backbone setting that needs no download."""

import numpy as np
import pytest

from components.trainer import model as model_lib
from components.trainer.model import WeightsUnavailableError, build_backbone, build_model
from components.trainer.training_config import TrainingConfig

pytestmark = pytest.mark.unit

SMALL = TrainingConfig(image_size=32, backbone_alpha=0.35)


def test_model_maps_images_to_class_probabilities():
    model = build_model(SMALL, num_classes=5)

    images = np.random.default_rng(0).normal(size=(3, 32, 32, 3)).astype("float32")
    probabilities = model.predict(images, verbose=0)

    assert probabilities.shape == (3, 5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert model.get_layer("head_dropout").rate == SMALL.dropout


def head_kernel_of_ones(model):
    """The head's kernel starts at zero (no penalty yet): ones make the penalty countable."""
    kernel = model.get_layer("head_softmax").kernel
    kernel.assign(np.ones(kernel.shape, "float32"))
    return int(np.prod(kernel.shape))


def test_weight_decay_adds_a_regularization_loss_only_when_on():
    with_decay = build_model(SMALL, num_classes=2)
    without = build_model(TrainingConfig(image_size=32, weight_decay=0.0), num_classes=2)
    weights = head_kernel_of_ones(with_decay)

    assert len(with_decay.losses) == 1
    assert float(with_decay.losses[0]) == pytest.approx(SMALL.weight_decay * weights)
    assert without.losses == []


def test_model_trains_one_step_and_changes_weights():
    model = build_model(SMALL, num_classes=2)
    before = [w.copy() for w in model.get_layer("head_softmax").get_weights()]
    images = np.random.default_rng(1).normal(size=(4, 32, 32, 3)).astype("float32")

    model.fit(images, np.array([0, 1, 0, 1]), epochs=1, verbose=0)

    after = model.get_layer("head_softmax").get_weights()
    assert any(not np.allclose(b, a) for b, a in zip(before, after, strict=True))


def test_missing_weights_file_is_a_clear_error(tmp_path):
    config = TrainingConfig(image_size=32, weights=str(tmp_path / "nope.h5"))
    with pytest.raises(WeightsUnavailableError, match="nope.h5"):
        build_model(config, num_classes=2)


def test_unknown_backbone_lists_the_choices():
    with pytest.raises(ValueError, match="mobilenet_v2"):
        build_model(TrainingConfig(image_size=32, backbone="alexnet"), num_classes=2)


def test_decoupled_weight_decay_uses_adamw_instead_of_a_penalty():
    model = build_model(TrainingConfig(image_size=32, weight_decay_mode="decoupled"), 2)
    assert type(model.optimizer).__name__ == "AdamW"
    assert model.optimizer.weight_decay == pytest.approx(SMALL.weight_decay)
    assert model.losses == []


def test_l1_adds_a_penalty_on_the_head():
    plain = build_model(TrainingConfig(image_size=32, weight_decay=0.0), 2)
    with_l1 = build_model(TrainingConfig(image_size=32, weight_decay=0.0, l1=0.01), 2)
    weights = head_kernel_of_ones(with_l1)
    assert plain.losses == []
    assert len(with_l1.losses) == 1
    assert float(with_l1.losses[0]) == pytest.approx(0.01 * weights)


def test_label_smoothing_penalizes_overconfidence_only_when_on():
    labels = np.array([0, 1, 2])
    confident = np.eye(3, dtype="float32") * 0.998 + 0.001  # right, and almost certain
    hedged = np.full((3, 3), 0.05, dtype="float32") + np.eye(3, dtype="float32") * 0.85

    def mean_loss(label_smoothing, predictions):
        model = build_model(TrainingConfig(image_size=32, label_smoothing=label_smoothing), 3)
        return float(np.mean(model.loss(labels, predictions)))

    assert mean_loss(0.0, confident) < mean_loss(0.0, hedged)
    assert mean_loss(0.2, confident) > mean_loss(0.2, hedged)


@pytest.mark.parametrize("backbone", sorted(model_lib.BACKBONES))
def test_every_feature_layer_candidate_cuts_its_backbone_shallower(backbone):
    whole = model_lib.full_backbone(TrainingConfig(image_size=32, backbone=backbone))
    sizes = []
    for name in model_lib.feature_layer_candidates(backbone):
        cut = model_lib.cut_at(whole, name)
        assert len(cut.output_shape) == 2  # pooled: (batch, channels)
        sizes.append(len(cut.layers))
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)  # shallow to deep
    assert sizes[-1] == len(whole.layers)  # the output last


def test_a_cut_backbone_serves_the_layers_below_the_cut_only():
    config = TrainingConfig(image_size=32, feature_layer="block_6_expand_relu")
    model = build_model(config, num_classes=3)
    backbone = model_lib.backbone_of(model)
    names = {layer.name for layer in backbone.layers}

    assert "block_6_expand_relu" in names and "block_7_expand" not in names
    assert backbone.output_shape == (None, 96)  # block_6's expanded channels at width 0.35
    assert model.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0).shape == (2, 3)


def test_an_unknown_feature_layer_is_a_clear_error():
    with pytest.raises(ValueError, match="feature_layer 'block_99'.*'auto'"):
        build_backbone(TrainingConfig(image_size=32, feature_layer="block_99"))
