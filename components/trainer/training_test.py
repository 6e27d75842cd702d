"""The two-phase schedule: frozen base first, then fine-tuning that only touches what it should."""

import collections
import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from components.common import tracing
from components.trainer import fine_tuning, training, training_report
from components.trainer import model as model_lib
from components.trainer.model import (
    backbone_of,
    build_model,
    compile_model,
    plain_model,
)
from components.trainer.training_config import TrainingConfig
from components.transform.augmentation_spec import AugmentationSpec
from tests.helpers import calibrated_backbone_weights

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module", autouse=True)
def libraries_unconverted():
    """As every entry point that trains does: tracing Keras's own code costs minutes here."""
    tracing.leave_libraries_unconverted()


SIZE = 32


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A saved backbone standing in for a pretrained one (what matters here is how it trains):
    untrained, its BatchNorm statistics set from noise images so its features do not vanish."""
    path = tmp_path_factory.mktemp("weights") / "backbone.weights.h5"
    images = np.random.default_rng(0).normal(size=(64, SIZE, SIZE, 3)).astype("float32")
    return calibrated_backbone_weights(str(path), images)


def tiny_examples(seed: int, count: int = 20) -> tf.data.Dataset:
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(count, SIZE, SIZE, 3)).astype("float32")
    return tf.data.Dataset.from_tensor_slices((images, np.arange(count) % 2))


def tiny_data(
    seed: int = 0, batch_size: int = 8, spec: AugmentationSpec | None = None
) -> training.TrainingData:
    """16 examples to fit, 4 to validate on: noise, what matters here is how training runs."""
    return training.TrainingData.from_training_split(
        tiny_examples(seed), 20, batch_size, spec, cache=False
    )


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
    plan = fine_tuning.choose_strategy(settings, 16, 2)

    record = training.train(model, tiny_data(), settings, plan)

    assert changed(before, snapshot(backbone.layers)) == set()
    assert not np.array_equal(head_before, model.get_layer("head_softmax").get_weights()[0])
    assert record.fine_tune_from_epoch is None
    assert [c["strategy"] for c in record.candidates] == ["feature_extraction"]
    assert record.epochs_run == record.candidates[0]["epochs"] == len(record.history["val_loss"])


def test_the_head_learns_on_features_computed_once_until_validation_stops_improving(
    weights_file,
):
    """Phase 1 fits the head on the frozen features, as long as validation loss improves: a
    head that can separate the classes ends where a linear model on those features does."""
    # Cut shallow: 48 features, where 320 images pin a hyperplane down (at the top's 1280
    # they fit any labels, and validation stops the head within a few epochs).
    settings = config(
        weights_file,
        strategy="feature_extraction",
        dropout=0.0,
        feature_layer="block_3_expand_relu",
    )
    model = build_model(settings, num_classes=2)
    backbone = backbone_of(model)
    rng = np.random.default_rng(3)
    images = rng.normal(size=(400, SIZE, SIZE, 3)).astype("float32")
    features_ = backbone(images, training=False).numpy()
    # Labels a linear model on these features can fit exactly: which side of a hyperplane.
    projection = features_ @ rng.normal(size=features_.shape[1])
    labels = (projection > np.median(projection)).astype(np.int64)
    examples = tf.data.Dataset.from_tensor_slices((images, labels))
    data = training.TrainingData.from_training_split(examples, 400, 32, cache=False)

    record = training.train(model, data, settings, fine_tuning.choose_strategy(settings, 400, 2))

    assert record.epochs_run > settings.epochs  # not cut at the image epochs' budget
    fit_images = np.stack([x for x, _ in data.fit.as_numpy_iterator()])
    fit_labels = np.array([y for _, y in data.fit.as_numpy_iterator()])
    predicted = model.predict(fit_images, verbose=0).argmax(axis=1)
    assert (predicted == fit_labels).mean() >= 0.9  # linearly separable: a converged head fits it
    # The head standardizes by the fit part's statistics, inside the model that is served.
    standardization = model.get_layer(model_lib.HEAD_STANDARDIZATION)
    fit_features = backbone(fit_images, training=False).numpy()
    mean = standardization.get_weights()[0]
    np.testing.assert_allclose(mean, fit_features.mean(axis=0), rtol=1e-4, atol=1e-6)
    assert not standardization.trainable


@pytest.mark.parametrize("train_batch_norm", [True, False])
def test_fine_tuning_changes_only_the_unfrozen_top_batchnorm_when_batches_allow(
    weights_file, train_batch_norm
):
    model = build_model(config(weights_file), num_classes=2)
    backbone = backbone_of(model)
    before = snapshot(backbone.layers)

    opened, batch_norms = fine_tuning.unfreeze_top(backbone, 0.3, train_batch_norm)
    compile_model(model, config(weights_file), 1e-3, epochs=1)
    model.fit(tiny_data().fit_batches(), epochs=1, verbose=0)

    moved = changed(before, snapshot(backbone.layers))
    first_open = len(backbone.layers) - round(0.3 * len(backbone.layers))
    top = {layer.name for layer in backbone.layers[first_open:]}
    norms = {
        layer.name for layer in backbone.layers if "BatchNormalization" in type(layer).__name__
    }
    assert moved, "fine-tuning must change the unfrozen layers"
    if train_batch_norm:
        assert moved <= top
        assert len(moved & norms) == batch_norms > 0  # statistics follow this data
    else:
        assert moved <= top - norms
        assert batch_norms == 0
    assert opened == len([layer for layer in backbone.layers[first_open:] if layer.weights]) - (
        0 if train_batch_norm else len(top & norms)
    )


def test_two_phases_are_recorded_and_a_worse_phase_two_is_undone(weights_file):
    # An absurd fine-tuning rate wrecks the backbone: phase 2 cannot beat phase 1.
    # Cut shallow, where the untrained backbone's pooled features still hold the colours.
    settings = config(
        weights_file,
        strategy="full",
        fine_tune_epochs=2,
        fine_tune_learning_rate=1e6,
        feature_layer="block_3_expand_relu",
    )
    model = build_model(settings, num_classes=2)
    plan = fine_tuning.choose_strategy(settings, 80, 2)
    # Learnable, so that phase 1 validates clearly below chance (log 2), where the wrecked
    # phase 2 cannot reach it; on noise both sit near log 2 and either may come out lower.
    examples = tf.data.Dataset.from_tensor_slices(coloured(80, seed=2, size=SIZE))
    data = training.TrainingData.from_training_split(examples, 80, 8, cache=False)

    record = training.train(model, data, settings, plan)

    assert record.candidates[0]["val_loss"] < 0.6
    head_epochs = record.candidates[0]["epochs"]
    assert record.fine_tune_from_epoch == head_epochs + 1
    assert record.epochs_run == head_epochs + 2
    assert record.kept_phase == 1
    assert record.kept_strategy == "feature_extraction"
    assert record.fine_tune_check["better_by"] < 0  # per image, the wrecked model is worse
    assert not record.fine_tune_check["kept"]
    assert "of full" in record.kept_because()
    assert "not beyond the noise" in record.kept_because()
    val_loss = model.evaluate(data.validation_batches(), verbose=0)[0]
    assert val_loss == pytest.approx(min(record.history["val_loss"][:head_epochs]), rel=1e-4)


def test_fine_tuning_is_kept_only_when_it_predicts_better_beyond_the_noise():
    rng = np.random.default_rng(0)
    head = rng.uniform(0.2, 1.0, size=200)
    # Lower on average, but by a little against a large spread: one outcome of the noise.
    noisy = head - 0.02 + rng.normal(0.0, 0.5, size=200)
    # Lower on nearly every image.
    steady = head - 0.05 + rng.normal(0.0, 0.01, size=200)

    within = training.fine_tuning_check(head, noisy)
    beyond = training.fine_tuning_check(head, steady)

    assert noisy.mean() < head.mean() and not within["kept"]
    assert 0 < within["better_by"] < within["noise"]
    assert beyond["kept"] and beyond["better_by"] > beyond["noise"] > 0


def test_auto_keeps_what_it_measures_not_what_the_domain_suggests(weights_file):
    """DOMAIN=different suggests fine-tuning the whole backbone; when that does worse on the
    validation part (here an absurd rate wrecks it), auto keeps the head alone, and says why."""
    # Cut at block_3, where the untrained backbone's pooled features hold the colours.
    settings = config(
        weights_file,
        domain="different",
        fine_tune_learning_rate=1e6,
        feature_layer="block_3_expand_relu",
    )
    plan = fine_tuning.choose_strategy(settings, 80, 2)
    model = build_model(settings, num_classes=2)
    # 16 images to validate on: with 8, a head's validation loss ranged 0.41-0.63 over runs.
    examples = tf.data.Dataset.from_tensor_slices(coloured(80, seed=2, size=SIZE))
    data = training.TrainingData.from_training_split(examples, 80, 8, cache=False)

    record = training.train(model, data, settings, plan)

    assert plan.strategy == "full"
    assert [c["strategy"] for c in record.candidates] == ["feature_extraction", "full"]
    assert record.kept_strategy == "feature_extraction"
    head, tuned = record.candidates
    assert f"validation loss {head['val_loss']:.4f}" in record.kept_because()
    assert f"against {tuned['val_loss']:.4f}" in record.kept_because()


def test_the_same_seed_trains_the_same_model(weights_file):
    """Both phases, with augmentation on and BatchNorm fine-tuning: a seed fixes the model, so
    that two runs differ only in what was changed between them."""
    settings = config(
        weights_file, strategy="full", fine_tune_epochs=1, feature_layer="block_3_expand_relu"
    )
    images, labels = coloured(64, seed=0, size=SIZE)

    def one_run():
        examples = tf.data.Dataset.from_tensor_slices((images, labels))
        data = training.TrainingData.from_training_split(
            examples, 64, 16, AugmentationSpec(), seed=3, cache=False
        )
        model = build_model(settings, num_classes=2, steps_per_epoch=data.steps_per_epoch)
        record = training.train(model, data, settings, fine_tuning.choose_strategy(settings, 64, 2))
        return model.get_weights(), record.history

    (weights, history), (weights_again, history_again) = one_run(), one_run()

    assert history["val_loss"] == history_again["val_loss"]  # phase 2's too, kept or not
    assert len(history["val_loss"]) == len(history["loss"]) > 1
    for first, second in zip(weights, weights_again, strict=True):
        np.testing.assert_array_equal(first, second)


def stripes(count: int, seed: int, mirrored_classes: bool) -> tf.data.Dataset:
    """Diagonal stripes, of random phase and frequency. With `mirrored_classes`, the class is
    the direction (a horizontal flip turns one class into the other); without, the class is
    the frequency (a flip changes nothing that matters)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    rows, columns = np.mgrid[:SIZE, :SIZE]
    images = []
    for label in labels:
        direction = (1 if label else -1) if mirrored_classes else rng.choice([-1, 1])
        frequency = rng.uniform(0.5, 0.7) if mirrored_classes else (0.4 if label else 1.2)
        wave = np.sin(frequency * (rows + direction * columns) + rng.uniform(0, 2 * np.pi))
        images.append(np.repeat(wave[..., None], 3, axis=-1))
    return tf.data.Dataset.from_tensor_slices((np.stack(images).astype("float32"), labels))


@pytest.mark.parametrize("mirrored_classes", [True, False])
def test_the_flip_check_drops_a_flip_that_changes_the_class_and_keeps_one_that_does_not(
    weights_file, mirrored_classes
):
    # Cut shallow, where the untrained backbone's features still see which way edges run.
    settings = config(
        weights_file, strategy="feature_extraction", feature_layer="block_3_expand_relu"
    )
    model = build_model(settings, num_classes=2)
    spec = AugmentationSpec(flip=True, rotation_degrees=0.0, shift=0.0, zoom=0.0)
    examples = stripes(400, seed=3, mirrored_classes=mirrored_classes)
    data = training.TrainingData.from_training_split(examples, 400, 16, spec, cache=False)

    head = training.fit_head_on_features(model, data, settings, None)

    checks, kept = head.augmentation_checks, head.data
    assert checks["flip"]["kept"] is not mirrored_classes
    assert kept.augmentation.flip is not mirrored_classes
    if mirrored_classes:  # flipped copies with swapped meanings: far past the noise
        assert checks["flip"]["worse_by"] > 3 * checks["flip"]["noise"]


@pytest.mark.parametrize("labels_from_two_features", [True, False])
def test_dropout_goes_only_where_the_head_predicts_clearly_better_without_it(
    weights_file, labels_from_two_features
):
    """Labels that two of the features decide: a head that loses either of them most of the
    time learns hedged answers, far past the noise; labels unrelated to the images: no head
    predicts them better, and the dropout set stays."""
    # Cut shallow: a few dozen features, which 320 images can pin a boundary in.
    settings = config(
        weights_file,
        strategy="feature_extraction",
        dropout=0.7,
        feature_layer="block_3_expand_relu",
    )
    model = build_model(settings, num_classes=2)
    rng = np.random.default_rng(5)
    images = rng.normal(size=(1000, SIZE, SIZE, 3)).astype("float32")
    if labels_from_two_features:
        features_ = backbone_of(model)(images, training=False).numpy()
        a, b = np.argsort(features_.std(axis=0))[-2:]
        standardized = (features_ - features_.mean(axis=0)) / features_.std(axis=0)
        labels = (standardized[:, a] > standardized[:, b]).astype(np.int64)
    else:
        labels = rng.integers(0, 2, size=1000)
    examples = tf.data.Dataset.from_tensor_slices((images, labels))
    data = training.TrainingData.from_training_split(
        examples, 1000, 32, AugmentationSpec.off(), cache=False
    )

    head = training.fit_head_on_features(model, data, settings, None)

    check = head.dropout_check
    assert check["kept"] is not labels_from_two_features
    assert head.dropout == (0.0 if labels_from_two_features else 0.7)
    assert model.get_layer(model_lib.HEAD_DROPOUT).rate == head.dropout  # fine-tuning's too
    if labels_from_two_features:  # far past the noise
        assert check["better_without_by"] > 3 * check["noise"]


def test_a_paired_difference_within_its_noise_is_not_called_worse():
    rng = np.random.default_rng(0)
    baseline = rng.uniform(0.1, 2.0, size=200)

    noisy, noise = training.paired_difference(baseline + rng.normal(0, 0.5, 200), baseline)
    shifted, shifted_noise = training.paired_difference(baseline + 0.3, baseline)

    assert abs(noisy) <= noise  # mean of 200 draws of N(0, 0.5): within 2 standard errors
    assert shifted == pytest.approx(0.3) and shifted_noise == pytest.approx(0.0, abs=1e-9)


def test_training_report_holds_history_curves_and_effective_config(weights_file, tmp_path):
    settings = config(weights_file, strategy="feature_extraction")
    model = build_model(settings, num_classes=2)
    plan = fine_tuning.choose_strategy(settings, 16, 2)
    record = training.train(model, tiny_data(spec=AugmentationSpec(zoom=0.0)), settings, plan)

    training_report.write(str(tmp_path), record, settings, plan, model, 16)

    history = json.loads((tmp_path / training_report.HISTORY_FILE).read_text())
    assert history["epochs_run"] == record.epochs_run
    assert set(history["history"]) >= {"loss", "val_loss", "accuracy", "val_accuracy"}
    effective = json.loads((tmp_path / training_report.EFFECTIVE_CONFIG_FILE).read_text())
    assert effective["strategy"] == effective["kept"] == "feature_extraction"
    assert effective["candidates"] == record.candidates
    assert effective["settings"] == settings.to_dict()
    dropout = effective["dropout_check"]
    kept_dropout = settings.dropout if dropout["kept"] else 0.0
    assert effective["regularizers"]["dropout"] == kept_dropout
    checks = effective["augmentation_checks"]
    for group in ("flip", "geometry"):
        assert checks[group]["kept"] == (checks[group]["worse_by"] <= checks[group]["noise"])
    # Transform's spec as applied: zoom was off, each checked group on only if it was kept.
    expected = {"noise_stddev": 0.05}
    if checks["flip"]["kept"]:
        expected["flip"] = True
    if checks["geometry"]["kept"]:
        expected.update(rotation_degrees=20.0, shift=0.2)
    assert effective["regularizers"]["augmentation"] == expected
    assert effective["parameters"]["trainable_at_end"] < effective["parameters"]["total"]
    png = tf.io.decode_png((tmp_path / training_report.CURVES_FILE).read_bytes())
    assert png.shape[0] > 100 and png.shape[1] > 100


def test_l2_sp_is_zero_at_the_pretrained_point_and_grows_away_from_it(weights_file):
    backbone = backbone_of(build_model(config(weights_file), num_classes=2))
    fine_tuning.unfreeze_top(backbone, 1.0)
    penalty = fine_tuning.L2SP(backbone.trainable_weights, strength=0.5)

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

    training.train(model, tiny_data(), settings, fine_tuning.choose_strategy(settings, 16, 2))

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
    # BatchNorm frozen: its moving statistics would change whatever the rate.
    fine_tuning.unfreeze_top(backbone, 1.0, train_batch_norm=False)
    compile_model(model, settings, 1e-2, epochs=1, backbone_learning_rate=backbone_rate)
    before = snapshot(backbone.layers)
    head_before = model.get_layer("head_softmax").get_weights()[0].copy()

    model.fit(tiny_data().fit_batches(), epochs=1, verbose=0)

    assert bool(changed(before, snapshot(backbone.layers))) == backbone_moves
    assert not np.array_equal(head_before, model.get_layer("head_softmax").get_weights()[0])


def test_exported_model_is_plain_keras_with_the_same_weights(weights_file):
    model = build_model(config(weights_file), num_classes=2)
    exported = plain_model(model)
    assert type(model).__name__ == "TransferModel"
    assert type(exported).__name__ == "Functional"
    images = next(iter(tiny_data().fit_batches()))[0]
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
    plan = fine_tuning.choose_strategy(settings, 16, 2)

    data = tiny_data()
    record = training.train(model, data, settings, plan)

    val_loss = model.evaluate(data.validation_batches(), verbose=0)[0]
    losses = record.history["val_loss"]
    if early_stopping:
        assert record.epochs_run < training.HEAD_EPOCHS  # it stopped, not ran out of epochs
        assert val_loss == pytest.approx(min(losses), rel=1e-4)
        assert record.best_epoch() == 1 + losses.index(min(losses))
    else:
        assert record.epochs_run == training.HEAD_EPOCHS
        assert val_loss == pytest.approx(losses[-1], rel=1e-4)
        assert record.best_epoch() == training.HEAD_EPOCHS


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
    ten_images_gb = 10 * one_image / 2**30
    assert training.cache_in_memory(10, 224, ten_images_gb)
    assert not training.cache_in_memory(11, 224, ten_images_gb)
    assert not training.cache_in_memory(1, 32, 0.0)
    # The default keeps the bench's 32,000 images at 64 px (1.5 GB), not 30,000 photos at
    # 224 px (18 GB).
    default = TrainingConfig().cache_budget_gb
    assert training.cache_in_memory(32_000, 64, default)
    assert not training.cache_in_memory(30_000, 224, default)


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


SCRATCH_SIZE = 64  # at 32 px MobileNetV2 ends on 1x1 maps: 16 values per BatchNorm batch


def coloured(count: int, seed: int, size: int = SCRATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Noise images whose class is which colour is stronger, red or blue."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    images = rng.normal(size=(count, size, size, 3)).astype("float32")
    images[labels == 0, ..., 0] += 1.0
    images[labels == 1, ..., 2] += 1.0
    return images, labels


def test_scratch_learns_and_its_batch_norm_statistics_follow_the_data():
    """From scratch the model is scored in inference mode, as serving runs it: on the moving
    statistics, which must have left their initial 0 and 1 (they do not in a few dozen steps
    at keras.applications' momentum of 0.999, and the model then answers noise)."""
    settings = TrainingConfig(
        image_size=SCRATCH_SIZE, weights="none", epochs=10, batch_size=16, seed=1
    )
    images, labels = coloured(96, seed=0)
    examples = tf.data.Dataset.from_tensor_slices((images, labels))
    data = training.TrainingData.from_training_split(examples, 96, 16, cache=False)
    model = build_model(settings, num_classes=2, steps_per_epoch=data.steps_per_epoch)

    record = training.train(model, data, settings, fine_tuning.choose_strategy(settings, 60, 2))

    assert record.kept_strategy == fine_tuning.SCRATCH
    unseen, unseen_labels = coloured(40, seed=1)
    accuracy = model.evaluate(unseen, unseen_labels, verbose=0)[1]
    assert accuracy >= 0.7  # chance is 0.5: P(28 of 40 right by chance) < 0.01
    norms = [
        layer
        for layer in backbone_of(model).layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    variances = np.concatenate([layer.moving_variance.numpy() for layer in norms])
    assert np.median(np.abs(np.log(variances))) > 0.5  # far from the initial 1


def test_scratch_waits_through_a_flat_start_before_slowing_or_stopping():
    """Labels with no signal: validation loss stalls from the start, as it does for the first
    epochs of a network learning from nothing. Scratch keeps its rate for half of
    SCRATCH_PATIENCE stalled epochs and stops only after all of them, where fine-tuning's
    patience (3, halving at each stalled epoch) would have ended it at chance."""
    settings = TrainingConfig(
        image_size=SCRATCH_SIZE, weights="none", epochs=40, batch_size=16, seed=1
    )
    images, _ = coloured(48, seed=3)
    labels = np.random.default_rng(4).integers(0, 2, size=48)
    examples = tf.data.Dataset.from_tensor_slices((images, labels))
    data = training.TrainingData.from_training_split(examples, 48, 16, cache=False)
    model = build_model(settings, num_classes=2, steps_per_epoch=data.steps_per_epoch)

    record = training.train(model, data, settings, fine_tuning.choose_strategy(settings, 30, 2))

    assert record.epochs_run > training.SCRATCH_PATIENCE > settings.early_stopping_patience
    unchanged = training.SCRATCH_PATIENCE // 2
    assert record.history["lr"][:unchanged] == [pytest.approx(settings.learning_rate)] * unchanged


@pytest.mark.parametrize("strategy", ["full", fine_tuning.SCRATCH])
def test_each_phase_traces_its_train_step_once(weights_file, strategy):
    """Fine-tuning (two optimizers, after a recompile) and training from scratch (one): the
    variables a first train step would create exist before `fit`, or TensorFlow traces the
    step twice."""
    if strategy == fine_tuning.SCRATCH:  # what "auto" makes of a backbone without weights
        settings = config("none")
    else:
        settings = config(weights_file, strategy=strategy, fine_tune_epochs=1)
    model = build_model(settings, num_classes=2)
    plan = fine_tuning.choose_strategy(settings, 16, 2)

    record = training.train(model, tiny_data(), settings, plan)

    assert record.candidates[-1]["strategy"] == strategy  # the phase measured below ran
    assert model.train_function.experimental_get_tracing_count() == 1


def backbone_without_a_top(weights_file: str, path: str) -> str:
    """The fixture's backbone with its last convolution zeroed: its output is the same for
    every image, while the layers below still see colours."""
    backbone = model_lib.full_backbone(TrainingConfig(image_size=SIZE, weights=weights_file))
    kernel = backbone.get_layer("Conv_1").kernel
    kernel.assign(tf.zeros_like(kernel))
    backbone.save_weights(path)
    return path


def test_auto_feature_layer_keeps_a_depth_that_validates_within_the_noise_of_the_best(
    weights_file, tmp_path
):
    """A head on the output of a backbone whose top carries nothing cannot beat chance; auto
    measures every depth and cuts the backbone where a head learns."""
    weights = backbone_without_a_top(weights_file, str(tmp_path / "no-top.weights.h5"))
    settings = config(weights, strategy="feature_extraction")
    examples = tf.data.Dataset.from_tensor_slices(coloured(40, seed=2, size=SIZE))
    data = training.TrainingData.from_training_split(examples, 40, 8, cache=False)

    resolved, scores = training.resolve_feature_layer(settings, data, num_classes=2)

    assert list(scores) == list(model_lib.feature_layer_candidates(settings.backbone))
    assert resolved.feature_layer != model_lib.TOP_LAYER
    kept = scores[resolved.feature_layer]
    assert kept["worse_than_best_by"] <= kept["noise"]
    shallower = list(scores)[: list(scores).index(resolved.feature_layer)]
    assert all(scores[name]["worse_than_best_by"] > scores[name]["noise"] for name in shallower)
    assert scores[model_lib.TOP_LAYER]["val_accuracy"] <= 0.625  # 5 of 8: chance
    model = build_model(resolved, num_classes=2)
    assert backbone_of(model).layers[-2].name == resolved.feature_layer  # then the pooling


def _losses(mean: float, spread: float, count: int = 50, seed: int = 0) -> np.ndarray:
    return mean + spread * np.random.default_rng(seed).standard_normal(count)


def test_a_shallower_depth_within_the_noise_of_the_best_is_kept():
    """The same images, a deeper head 0.05 lower per image on average, its per-image
    difference spread 0.5: the shallow cut stays (the lowest mean alone takes the deep one)."""
    shallow = _losses(1.0, 1.0, seed=1)
    losses = {
        "shallow": shallow,
        "deep": shallow - 0.05 + _losses(0.0, 0.5, seed=2),
        "top": shallow + 1,
    }
    assert training._best_depth(losses) == "deep"
    assert training.shallowest_within_noise(training.worse_than_best(losses)) == "shallow"


def test_a_depth_clearly_better_than_the_shallower_ones_is_kept():
    shallow = _losses(1.0, 0.2, seed=1)
    losses = {"shallow": shallow, "middle": shallow - 0.5, "top": shallow - 0.49}
    assert training.shallowest_within_noise(training.worse_than_best(losses)) == "middle"


def test_no_head_that_learnt_anywhere_keeps_the_backbone_whole():
    nothing = np.full(10, np.nan)
    assert (
        training.shallowest_within_noise(
            training.worse_than_best({"shallow": nothing, "top": nothing})
        )
        == "top"
    )


@pytest.mark.parametrize(
    "asked, pretrained, expected",
    [
        ("top", True, "top"),
        ("block_3_expand_relu", True, "block_3_expand_relu"),
        ("auto", False, "top"),  # from scratch the whole network learns
    ],
)
def test_a_feature_layer_not_left_to_auto_is_not_measured(
    weights_file, asked, pretrained, expected
):
    settings = dataclasses.replace(
        config(weights_file if pretrained else "none"), feature_layer=asked
    )
    resolved, scores = training.resolve_feature_layer(settings, tiny_data(), num_classes=2)
    assert (resolved.feature_layer, scores) == (expected, {})


class _CountsSeenImages(keras.Model):
    """A model whose training step only adds up the images it is given (each image is filled
    with its own index), so an epoch's total says which examples the epoch saw."""

    def __init__(self):
        super().__init__()
        self.seen = tf.Variable(0.0, trainable=False)

    def call(self, images):
        return images

    def train_step(self, batch):
        images, _ = batch
        self.seen.assign_add(tf.reduce_sum(images[:, 0, 0, 0]))
        return {}

    def test_step(self, batch):
        return {}


class _SeenPerEpoch(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.totals = []

    def on_epoch_end(self, epoch, logs=None):
        self.totals.append(float(self.model.seen.numpy()))
        self.model.seen.assign(0.0)


def test_fit_epochs_sees_every_fit_example_once_per_epoch():
    # One iterator serves all epochs (the batches repeat): an epoch's end must still fall on
    # the fit part's end, not one batch early or late, every epoch, 13 examples in batches of
    # 4 leaving a short last batch.
    total = 17
    index_images = tf.data.Dataset.range(total).map(
        lambda i: (tf.fill([SIZE, SIZE, 3], tf.cast(i, tf.float32)), i % 2)
    )
    data = training.TrainingData.from_training_split(index_images, total, 4, cache=False)
    fit_indices = [i for i in range(total) if i % training.HOLDOUT_EVERY != 0]
    model, seen = _CountsSeenImages(), _SeenPerEpoch()
    model.compile()
    training.fit_epochs(model, data, epochs=3, callbacks=[seen])
    assert data.fit_count == len(fit_indices) == 13
    assert seen.totals == [float(sum(fit_indices))] * 3


def test_batch_norm_sample_is_the_same_fit_examples_each_pass_read_once():
    # Re-estimated before every validation: drawing a fresh shuffled sample each time refilled
    # a 4,096-example shuffle buffer each time (1-1.8 s at 32,000 images).
    total, batch_size = 400, 4
    reads = tf.Variable(0, dtype=tf.int64)

    def image_of(i):
        reads.assign_add(1)
        return tf.fill([SIZE, SIZE, 3], tf.cast(i, tf.float32)), i % 2

    examples = tf.data.Dataset.range(total).map(image_of)
    data = training.TrainingData.from_training_split(examples, total, batch_size, cache=False)
    sample = data.batch_norm_sample()

    passes = [[int(i) for images, _ in sample for i in images[:, 0, 0, 0]] for _ in range(2)]
    reads_of_first_pass = int(reads.numpy())
    passes.append([int(i) for images, _ in sample for i in images[:, 0, 0, 0]])

    assert passes[0] == passes[1] == passes[2]
    assert len(passes[0]) == training.REESTIMATE_BATCHES * batch_size == len(set(passes[0]))
    assert all(i % training.HOLDOUT_EVERY != 0 for i in passes[0])  # fit examples only
    assert passes[0] != sorted(passes[0])  # drawn, not the first ones in file order
    assert int(reads.numpy()) == reads_of_first_pass  # later passes read memory


def test_training_batches_leave_out_the_autotuning_thread():
    # Its end sometimes kept the Trainer idle for up to a minute (without_autotuning_thread).
    data = tiny_data()
    for batches in (
        data.fit_batches(),
        data.validation_batches(),
        data.batch_norm_sample(),
    ):
        assert batches.options().autotune.enabled is False
