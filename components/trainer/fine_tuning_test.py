"""What auto tries, and what unfreezing opens: BatchNorm only where batches allow."""

import pytest
import tf_keras as keras

from components.trainer import fine_tuning
from components.trainer.model import build_backbone
from components.trainer.training_config import TrainingConfig

pytestmark = pytest.mark.unit

PRETRAINED = "/weights/backbone.weights.h5"  # choose_strategy only looks at the setting


@pytest.mark.parametrize(
    ("per_class", "domain", "expected"),
    [
        (100, "similar", "partial"),
        (100, "different", "full"),
        (2000, "similar", "partial"),
        (2000, "different", "full"),
    ],
)
def test_auto_always_tries_fine_tuning_as_deep_as_the_domain_suggests(per_class, domain, expected):
    config = TrainingConfig(weights=PRETRAINED, strategy="auto", domain=domain)
    plan = fine_tuning.choose_strategy(config, train_examples=per_class * 4, num_classes=4)
    assert plan.strategy == expected
    assert plan.unfreeze_fraction > 0  # measured against the head alone, never skipped
    assert f"{per_class} training images per class" in plan.reason
    assert domain in plan.reason
    assert "better than the head beyond the noise" in plan.reason


def test_unfreeze_fraction_follows_the_strategy():
    def fraction(strategy, **settings):
        config = TrainingConfig(weights=PRETRAINED, strategy=strategy, **settings)
        return fine_tuning.choose_strategy(config, 400, 4).unfreeze_fraction

    assert fraction("feature_extraction") == 0.0
    assert fraction("partial", fine_tune_fraction=0.25) == 0.25
    assert fraction("full") == 1.0
    assert fraction("full", fine_tune_epochs=0) == 0.0


def test_random_weights_train_whole_whatever_the_strategy():
    plan = fine_tuning.choose_strategy(TrainingConfig(weights="none", strategy="full"), 400, 4)
    assert plan.strategy == fine_tuning.SCRATCH
    assert plan.unfreeze_fraction == 0.0


@pytest.mark.parametrize("train_batch_norm", [True, False])
def test_unfreeze_top_opens_the_top_layers_batchnorm_only_when_asked(train_batch_norm):
    backbone = build_backbone(TrainingConfig(image_size=32))
    backbone.trainable = False

    count, batch_norms = fine_tuning.unfreeze_top(backbone, 0.25, train_batch_norm)

    layers = backbone.layers
    first_open = len(layers) - round(0.25 * len(layers))
    assert count > 0
    for index, layer in enumerate(layers):
        is_norm = isinstance(layer, keras.layers.BatchNormalization)
        assert layer.trainable == (index >= first_open and (train_batch_norm or not is_norm))
    assert count == sum(1 for layer in layers if layer.trainable and layer.weights)
    norms_opened = sum(
        1 for layer in layers[first_open:] if isinstance(layer, keras.layers.BatchNormalization)
    )
    assert batch_norms == (norms_opened if train_batch_norm else 0)


def test_unknown_strategy_or_domain_is_rejected():
    with pytest.raises(ValueError, match="strategy='everything'"):
        TrainingConfig(strategy="everything")
    with pytest.raises(ValueError, match="domain='close'"):
        TrainingConfig(domain="close")
