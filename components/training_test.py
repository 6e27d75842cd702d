"""The two-phase schedule: frozen base first, then fine-tuning that only touches what it should."""

import collections
import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from components import training, training_report, transfer
from components.augmentation import AugmentationSpec
from components.model import (
    backbone_of,
    build_backbone,
    build_model,
    compile_model,
    plain_model,
)
from components.training_config import TrainingConfig

pytestmark = pytest.mark.unit

SIZE = 32


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A saved backbone standing in for a pretrained one (what matters here is how it trains)."""
    path = tmp_path_factory.mktemp("weights") / "backbone.weights.h5"
    build_backbone(TrainingConfig(image_size=SIZE)).save_weights(str(path))
    return str(path)


def tiny_data(seed: int) -> tf.data.Dataset:
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(16, SIZE, SIZE, 3)).astype("float32")
    return tf.data.Dataset.from_tensor_slices((images, np.arange(16) % 2)).batch(8)


def config(weights_file, **settings) -> TrainingConfig:
    return TrainingConfig(image_size=SIZE, weights=weights_file, epochs=2, **settings)


def snapshot(layers):
    return {layer.name: [w.numpy().copy() for w in layer.weights] for layer in layers}


def changed(before, after) -> set[str]:
    return {
        name
        for name in before
        if any(not np.array_equal(b, a) for b, a in zip(before[name], after[name], strict=True))
    }


def test_phase_one_leaves_a_pretrained_backbone_untouched(weights_file):
    settings = config(weights_file, strategy="feature_extraction")
    model = build_model(settings, num_classes=2)
    backbone = backbone_of(model)
    before = snapshot(backbone.layers)
    head_before = model.get_layer("head_softmax").get_weights()[0].copy()
    plan = transfer.choose_strategy(settings, 16, 2)

    record = training.train(model, tiny_data(0), tiny_data(1), settings, plan)

    assert changed(before, snapshot(backbone.layers)) == set()
    assert not np.array_equal(head_before, model.get_layer("head_softmax").get_weights()[0])
    assert record.fine_tune_from_epoch is None
    assert record.epochs_run == 2


def test_fine_tuning_changes_only_the_unfrozen_top_and_never_batchnorm(weights_file):
    model = build_model(config(weights_file), num_classes=2)
    backbone = backbone_of(model)
    before = snapshot(backbone.layers)

    transfer.unfreeze_top(backbone, 0.3)
    compile_model(model, config(weights_file), 1e-3, epochs=1)
    model.fit(tiny_data(0), epochs=1, verbose=0)

    moved = changed(before, snapshot(backbone.layers))
    first_open = len(backbone.layers) - round(0.3 * len(backbone.layers))
    top = {layer.name for layer in backbone.layers[first_open:]}
    norms = {
        layer.name for layer in backbone.layers if "BatchNormalization" in type(layer).__name__
    }
    assert moved, "fine-tuning must change the unfrozen layers"
    assert moved <= top - norms


def test_two_phases_are_recorded_and_a_worse_phase_two_is_undone(weights_file):
    # An absurd fine-tuning rate wrecks the backbone: phase 2 cannot beat phase 1.
    settings = config(
        weights_file, strategy="full", fine_tune_epochs=2, fine_tune_learning_rate=1e6
    )
    model = build_model(settings, num_classes=2)
    plan = transfer.choose_strategy(settings, 16, 2)

    record = training.train(model, tiny_data(0), tiny_data(1), settings, plan)

    assert record.fine_tune_from_epoch == 3
    assert record.epochs_run == 4
    assert record.kept_phase == 1
    val_loss = model.evaluate(tiny_data(1), verbose=0)[0]
    assert val_loss == pytest.approx(min(record.history["val_loss"][:2]), rel=1e-4)


def test_training_report_holds_history_curves_and_effective_config(weights_file, tmp_path):
    settings = config(weights_file, strategy="feature_extraction")
    model = build_model(settings, num_classes=2)
    plan = transfer.choose_strategy(settings, 16, 2)
    record = training.train(model, tiny_data(0), tiny_data(1), settings, plan)

    training_report.write(
        str(tmp_path), record, settings, plan, model, AugmentationSpec(zoom=0.0), 16
    )

    history = json.loads((tmp_path / training_report.HISTORY_FILE).read_text())
    assert history["epochs_run"] == 2
    assert set(history["history"]) >= {"loss", "val_loss", "accuracy", "val_accuracy"}
    effective = json.loads((tmp_path / training_report.EFFECTIVE_CONFIG_FILE).read_text())
    assert effective["strategy"] == "feature_extraction"
    assert effective["settings"] == settings.to_dict()
    assert effective["regularizers"]["augmentation"] == {
        "flip": True,
        "rotation_degrees": 20.0,
        "shift": 0.2,
        "noise_stddev": 0.05,
    }
    assert effective["parameters"]["trainable_at_end"] < effective["parameters"]["total"]
    png = tf.io.decode_png((tmp_path / training_report.CURVES_FILE).read_bytes())
    assert png.shape[0] > 100 and png.shape[1] > 100


def test_l2_sp_is_zero_at_the_pretrained_point_and_grows_away_from_it(weights_file):
    backbone = backbone_of(build_model(config(weights_file), num_classes=2))
    transfer.unfreeze_top(backbone, 1.0)
    penalty = transfer.L2SP(backbone.trainable_weights, strength=0.5)

    assert float(penalty()) == 0.0
    kernel = backbone.trainable_weights[0]
    kernel.assign_add(tf.ones_like(kernel) * 0.1)
    near = float(penalty())
    kernel.assign_add(tf.ones_like(kernel) * 0.1)
    far = float(penalty())
    assert near == pytest.approx(0.5 * 0.01 * int(tf.size(kernel)), rel=1e-3)
    assert far > near > 0


def test_l2_sp_joins_the_loss_only_in_fine_tuning(weights_file):
    settings = config(weights_file, strategy="full", fine_tune_epochs=1, l2_sp=0.01)
    model = build_model(settings, num_classes=2)
    losses_before = len(model.losses)

    training.train(
        model, tiny_data(0), tiny_data(1), settings, transfer.choose_strategy(settings, 16, 2)
    )

    assert len(model.losses) == losses_before + 1


@pytest.mark.parametrize(
    ("schedule", "callback", "rate_type"),
    [
        ("plateau", "ReduceLROnPlateau", float),
        ("cosine", None, "CosineDecay"),
        ("constant", None, float),
    ],
)
def test_learning_rate_schedule_is_a_setting(weights_file, schedule, callback, rate_type):
    settings = config(weights_file, lr_schedule=schedule)
    model = build_model(settings, num_classes=2, steps_per_epoch=3)
    callbacks = training._callbacks(settings, None)
    plateau = [c for c in callbacks if isinstance(c, keras.callbacks.ReduceLROnPlateau)]
    assert bool(plateau) == (callback is not None)
    rate = model.optimizer._learning_rate
    if rate_type == "CosineDecay":
        assert type(rate).__name__ == "CosineDecay"
        assert rate.decay_steps == settings.epochs * 3
    else:
        assert not callable(rate)


@pytest.mark.parametrize(("backbone_rate", "backbone_moves"), [(0.0, False), (1e-2, True)])
def test_differential_rates_let_the_backbone_learn_slower_than_the_head(
    weights_file, backbone_rate, backbone_moves
):
    settings = config(weights_file)
    model = build_model(settings, num_classes=2)
    backbone = backbone_of(model)
    transfer.unfreeze_top(backbone, 1.0)
    compile_model(model, settings, 1e-2, epochs=1, backbone_learning_rate=backbone_rate)
    before = snapshot(backbone.layers)
    head_before = model.get_layer("head_softmax").get_weights()[0].copy()

    model.fit(tiny_data(0), epochs=1, verbose=0)

    assert bool(changed(before, snapshot(backbone.layers))) == backbone_moves
    assert not np.array_equal(head_before, model.get_layer("head_softmax").get_weights()[0])


def test_exported_model_is_plain_keras_with_the_same_weights(weights_file):
    model = build_model(config(weights_file), num_classes=2)
    exported = plain_model(model)
    assert type(model).__name__ == "TransferModel"
    assert type(exported).__name__ == "Functional"
    images = next(iter(tiny_data(0)))[0]
    np.testing.assert_array_equal(model(images).numpy(), exported(images).numpy())


@pytest.mark.parametrize("early_stopping", [True, False])
def test_early_stopping_is_a_setting_that_picks_the_kept_epoch(weights_file, early_stopping):
    # A rate this high makes validation loss jump about, so the best epoch is rarely the last.
    settings = dataclasses.replace(config(weights_file), epochs=4)
    settings = dataclasses.replace(
        settings,
        learning_rate=5.0,
        early_stopping=early_stopping,
        early_stopping_patience=1,
        lr_schedule="constant",
        strategy="feature_extraction",
    )
    model = build_model(settings, num_classes=2)
    plan = transfer.choose_strategy(settings, 16, 2)

    record = training.train(model, tiny_data(0), tiny_data(1), settings, plan)

    val_loss = model.evaluate(tiny_data(1), verbose=0)[0]
    losses = record.history["val_loss"]
    if early_stopping:
        assert val_loss == pytest.approx(min(losses), rel=1e-4)
        assert record.best_epoch() == 1 + losses.index(min(losses))
    else:
        assert record.epochs_run == 4
        assert val_loss == pytest.approx(losses[-1], rel=1e-4)
        assert record.best_epoch() == 4


def test_plateau_cuts_the_backbone_rate_with_the_heads(weights_file):
    settings = config(weights_file, lr_schedule="plateau")
    model = build_model(settings, num_classes=2)
    compile_model(model, settings, 1e-3, epochs=1, backbone_learning_rate=1e-4)
    plateau = next(
        c
        for c in training._callbacks(settings, None)
        if isinstance(c, keras.callbacks.ReduceLROnPlateau)
    )
    plateau.set_model(model)
    plateau.on_train_begin()

    for epoch, val_loss in enumerate([1.0, 1.5, 2.0]):  # no progress after the first epoch
        plateau.on_epoch_end(epoch, {"val_loss": val_loss})

    head = float(keras.backend.get_value(model.optimizer.learning_rate))
    backbone = float(keras.backend.get_value(model.backbone_optimizer.learning_rate))
    assert head < 1e-3
    assert backbone == pytest.approx(head / 10, rel=1e-5)


def test_kept_epoch_is_never_a_diverged_one():
    record = training_report.TrainingRecord(history={"val_loss": [0.9, float("nan"), 0.5, 0.7]})
    assert record.best_epoch() == 3
    assert training_report.TrainingRecord(history={"val_loss": [float("nan")]}).best_epoch() == 0


def test_the_cache_holds_what_fits_its_budget_and_no_more():
    one_image = training.decoded_bytes(1, 224)
    assert one_image == 224 * 224 * 3 * 4  # float32 RGB
    assert training.cache_in_memory(10, 224, budget_bytes=10 * one_image)
    assert not training.cache_in_memory(11, 224, budget_bytes=10 * one_image)
    # The default keeps the bench's 32,000 images at 64 px (1.5 GB), not 30,000 photos at
    # 224 px (18 GB).
    assert training.cache_in_memory(32_000, 64)
    assert not training.cache_in_memory(30_000, 224)


@pytest.mark.parametrize("cache, reads_per_example", [(True, 1), (False, 2)])
def test_examples_are_decoded_once_when_cached_and_every_epoch_when_not(cache, reads_per_example):
    reads = collections.Counter()

    def decode(index):  # stands in for the transform graph: counts each example it decodes
        reads[int(index)] += 1
        return index

    examples = tf.data.Dataset.range(6).map(lambda i: tf.py_function(decode, [i], tf.int64))
    data = training.batches(examples, 4, shuffle_seed=1, cache=cache)

    for _ in range(2):  # two epochs, each seeing every example once
        assert sorted(np.concatenate(list(data.as_numpy_iterator()))) == list(range(6))
    assert dict(reads) == {index: reads_per_example for index in range(6)}
