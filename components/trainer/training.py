"""The Trainer's run_fn, kept thin: read data, train, export, each testable without TFX."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from absl import logging

from components import features
from components.common import tracing
from components.example_gen import record_compression
from components.example_gen.class_names import examples_dir_of_split_pattern, read_class_names
from components.trainer import (
    devices,
    export,
    fine_tuning,
    head_fit,
    hyperparameters,
    serving_requests,
    training_report,
)
from components.trainer import model as model_lib
from components.trainer.model import (
    backbone_of,
    build_model,
    compile_model,
    create_training_variables,
    head_model,
    plain_model,
)
from components.trainer.training_config import HEAD_RATE_FACTOR, TrainingConfig
from components.transform import augmentation, augmentation_spec
from components.transform.augmentation_spec import AugmentationSpec

if TYPE_CHECKING:  # only run_fn's annotation names it; TFX's components take ~4 s to import
    from tfx.components.trainer.fn_args_utils import FnArgs

_PARSE_BATCH = 256
# Every HOLDOUT_EVERY-th training example validates (early stopping, the kept strategy, the
# Tuner's trials) instead of training: the eval split is the Evaluator's alone.
HOLDOUT_EVERY = 5
# Phase 1 on features computed once: an epoch of the head alone costs milliseconds, so it
# runs until validation loss has not improved for HEAD_PATIENCE epochs, HEAD_EPOCHS at most.
HEAD_EPOCHS = 300
HEAD_PATIENCE = 15
# A network learning from nothing has a long flat start before it takes off (the demo: at
# chance for 20 epochs, validation loss drifting down by less than its noise). Fine-tuning's
# patience (3 epochs, the rate halved at each stalled one) stopped it there; from scratch the
# run waits SCRATCH_PATIENCE stalled epochs, halving the rate after half of them.
SCRATCH_PATIENCE = 10
# BatchNorm layers opened by fine-tuning learn this data's statistics from each batch; below
# this many images per replica a batch's statistics are too noisy, and they stay frozen.
MIN_BATCH_NORM_BATCH = 16
# An augmentation check drops a group of transforms only when the head trained with them
# predicts the validation images worse by more than this many standard errors of the mean
# per-image difference: a validation part of a few hundred images moves its mean loss by
# more than the differences the checks first acted on (the demo: 0.2813 against 0.2779).
NOISE_STANDARD_ERRORS = 2.0
# Batches whose statistics BatchNorm's are measured again from before each validation.
REESTIMATE_BATCHES = 20


def _files(file_pattern: str | list[str]) -> list[str]:
    patterns = [file_pattern] if isinstance(file_pattern, str) else file_pattern
    files = sorted(f for pattern in patterns for f in tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"No example files match {file_pattern}")
    return files


def count_examples(file_pattern: str | list[str]) -> int:
    """Examples in TFRecord files (a quick pass over the records, no parsing)."""
    files = _files(file_pattern)
    records = tf.data.TFRecordDataset(files, compression_type=record_compression(files))
    return int(records.reduce(0, _add_one))


# The functions this module hands to tf.data and tf.function are marked to stay as written:
# AutoGraph would rewrite each (0.03-0.3 s apiece, a lambda the most) for control flow on
# tensors that none has.
@tf.autograph.experimental.do_not_convert
def _add_one(count: tf.Tensor, _record: tf.Tensor) -> tf.Tensor:
    return count + 1


def transformed_examples(
    file_pattern: str | list[str], tft_output: tft.TFTransformOutput
) -> tf.data.Dataset:
    """(image, label) examples from raw records, through the transform graph.

    The transform graph runs here instead of being materialized by Transform: materialized
    float images would cost ~110 KB each on disk. Not cached: callers cache what they keep.
    """
    files = _files(file_pattern)
    raw_spec = tft_output.raw_feature_spec()
    raw_spec = {k: raw_spec[k] for k in (features.IMAGE_KEY, features.LABEL_KEY)}

    @tf.autograph.experimental.do_not_convert
    def transform(serialized):
        transformed = tft_output.transform_raw_features(tf.io.parse_example(serialized, raw_spec))
        return transformed[features.TRANSFORMED_IMAGE_KEY], transformed[features.LABEL_KEY]

    return (
        tf.data.TFRecordDataset(files, compression_type=record_compression(files))
        .batch(_PARSE_BATCH)
        .map(transform, num_parallel_calls=tf.data.AUTOTUNE)
        .unbatch()
    )


# What the Trainer logs for a training split past its cache budget (make bench-memory reads it).
DECODED_EVERY_EPOCH = "decoding them again every epoch instead of keeping them in memory"


def decoded_bytes(num_examples: int, image_size: int) -> int:
    """The memory `num_examples` decoded float32 RGB images of `image_size` px take."""
    return num_examples * image_size * image_size * 3 * 4


def cache_in_memory(num_examples: int, image_size: int, budget_gb: float) -> bool:
    """Whether the decoded images fit the cache budget (TrainingConfig.cache_budget_gb); logs
    the choice when they do not."""
    needed = decoded_bytes(num_examples, image_size)
    if needed <= budget_gb * 2**30:
        return True
    logging.info(
        "%d images at %d px decode to %.2f GB, more than the %g GB cache budget: %s",
        num_examples,
        image_size,
        needed / 2**30,
        budget_gb,
        DECODED_EVERY_EPOCH,
    )
    return False


def batches(
    examples: tf.data.Dataset,
    batch_size: int,
    shuffle_seed: int | None = None,
    augmenter: keras.Sequential | None = None,
    cache: bool = True,
) -> tf.data.Dataset:
    """Batches of examples, cached: decoded once (first epoch), read from memory after.

    With `shuffle_seed`, the order changes every epoch; with an `augmenter` (training data
    only), so do the images, since augmentation runs after the cache. With `cache=False`
    (see `cache_in_memory`, or examples cached upstream), every epoch reads `examples` again.
    """
    dataset = examples.cache() if cache else examples
    if shuffle_seed is not None:
        dataset = dataset.shuffle(4096, seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = augmentation.augment(dataset.batch(batch_size), augmenter)
    return without_autotuning_thread(dataset.prefetch(tf.data.AUTOTUNE))


def without_autotuning_thread(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset` with tf.data's autotuning model off: each AUTOTUNE parallel map then runs
    min(16, cores) calls at once, the value the model starts from and here keeps.

    With the model on, every iterator runs a thread that re-tunes at doubling intervals, up
    to a minute, and deleting the iterator (Keras does after each epoch and at the end) now
    and then waits that interval out (TensorFlow 2.16): 34 to 56 s at an epoch's end in 4 of
    9 runs at 32,000 images, the Trainer idle meanwhile.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def make_dataset(
    file_pattern: str | list[str],
    tft_output: tft.TFTransformOutput,
    batch_size: int,
    shuffle_seed: int | None = None,
) -> tf.data.Dataset:
    """(image, label) batches of the examples in `file_pattern`, transformed and cached."""
    return batches(transformed_examples(file_pattern, tft_output), batch_size, shuffle_seed)


def split_validation(examples: tf.data.Dataset) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """(fit, validation): every HOLDOUT_EVERY-th example held out, deterministically."""

    def keep(held_out: bool):
        return tf.autograph.experimental.do_not_convert(
            lambda index, _example: tf.equal(index % HOLDOUT_EVERY == 0, held_out)
        )

    @tf.autograph.experimental.do_not_convert
    def drop_index(_index, example):
        return example

    indexed = examples.enumerate()
    return (
        indexed.filter(keep(False)).map(drop_index),
        indexed.filter(keep(True)).map(drop_index),
    )


def validation_count(total: int) -> int:
    """How many of `total` training examples `split_validation` holds out."""
    return math.ceil(total / HOLDOUT_EVERY)


@dataclass(frozen=True)
class TrainingData:
    """What `train` learns from: the fit and validation parts of the training split, as single
    (image, label) examples, and how to batch and augment them. The eval split is not here:
    the Evaluator judges on it, so nothing the Trainer chooses (epochs kept, strategy,
    augmentation) may look at it."""

    fit: tf.data.Dataset
    validation: tf.data.Dataset
    fit_count: int
    validation_count: int
    batch_size: int
    augmentation: AugmentationSpec = field(default_factory=AugmentationSpec.off)
    seed: int = 0

    @classmethod
    def from_training_split(
        cls,
        examples: tf.data.Dataset,
        total: int,
        batch_size: int,
        spec: AugmentationSpec | None = None,
        seed: int = 0,
        cache: bool = True,
    ) -> TrainingData:
        """Splits the training split's examples; cached before the split, so that each is
        decoded once, whichever part reads it first."""
        source = examples.cache() if cache else examples
        fit, validation = split_validation(source)
        held_out = validation_count(total)
        spec = spec or AugmentationSpec.off()
        return cls(fit, validation, total - held_out, held_out, batch_size, spec, seed)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.fit_count / self.batch_size)

    def fit_batches(self) -> tf.data.Dataset:
        augmenter = augmentation.build_augmenter(self.augmentation, self.seed)
        return batches(self.fit, self.batch_size, self.seed, augmenter, cache=False)

    def validation_batches(self) -> tf.data.Dataset:
        return batches(self.validation, self.batch_size, cache=False)

    def batch_norm_sample(self) -> tf.data.Dataset:
        """REESTIMATE_BATCHES batches of unaugmented fit examples, the same ones each pass:
        drawn once through a seeded shuffle, then kept in memory (a few tens of MB), so that
        each validation's BatchNorm re-estimation reads them at once instead of filling a
        shuffle buffer again (1-1.8 s per validation at 32,000 images)."""
        drawn = self.fit.shuffle(4096, seed=self.seed, reshuffle_each_iteration=False)
        sample = drawn.take(REESTIMATE_BATCHES * self.batch_size).cache()
        return batches(sample, self.batch_size, cache=False)


class ReduceBothRatesOnPlateau(keras.callbacks.ReduceLROnPlateau):
    """Keras's plateau schedule, extended to the backbone's own optimizer (differential rates):
    when the head's rate is cut, the backbone's is cut by the same factor, so the two keep
    their ratio instead of the head slowing down while the backbone does not."""

    def on_epoch_end(self, epoch, logs=None):
        before = float(keras.backend.get_value(self.model.optimizer.learning_rate))
        super().on_epoch_end(epoch, logs)
        after = float(keras.backend.get_value(self.model.optimizer.learning_rate))
        backbone_optimizer = getattr(self.model, "backbone_optimizer", None)
        if backbone_optimizer is not None and after < before:
            rate = float(keras.backend.get_value(backbone_optimizer.learning_rate))
            backbone_optimizer.learning_rate = rate * after / before


def trained_batch_norms(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """The BatchNorm layers that train (and so normalize by each batch) in `model`."""
    return [
        layer
        for layer in model.submodules
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
    ]


# Each epoch's wall seconds (validation included), beside its loss in history.json and
# TensorBoard: the training's pace, and a benchmark's images per second apart from fixed costs.
EPOCH_SECONDS_KEY = "epoch_seconds"


class EpochSeconds(keras.callbacks.Callback):
    """Adds each epoch's wall seconds to its logs, which History and TensorBoard keep. First
    among the callbacks, so every later one (History always comes last) sees the value."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs[EPOCH_SECONDS_KEY] = time.perf_counter() - self._started


class ReestimateBatchNorm(keras.callbacks.Callback):
    """Before each validation, measures the moving statistics of the BatchNorm layers that
    train again, for the weights as they are now ("precise BatchNorm", Wu and Johnson 2021).

    A moving average trails the weights it averages over: while they change fast (from
    scratch, or fine-tuning on data unlike the source), the statistics an epoch ends with
    belong to earlier weights, and the model in inference mode (validation, serving) answers
    noise where the same weights in training mode are right (measured on a small task: 0.50
    in inference mode, 0.97 in training mode; 0.88 after re-estimating). Here they become
    the mean of `batches`' statistics (unaugmented training images), and validation, early
    stopping and the exported model see the statistics of the weights they judge.
    """

    def __init__(self, batches: tf.data.Dataset):
        super().__init__()
        self.batches = batches
        self._forward = None

    def on_test_begin(self, logs=None):
        norms = trained_batch_norms(self.model)
        if not norms:
            return
        momenta = [layer.momentum for layer in norms]
        for layer in norms:  # each forward pass then leaves that batch's statistics
            layer.momentum = 0.0
        if self._forward is None:  # traced once per phase, with momentum 0
            self._forward = tf.function(
                lambda images: self.model(images, training=True),
                reduce_retracing=True,
                autograph=False,
            )
        sums = [np.zeros((3, *layer.moving_mean.shape)) for layer in norms]
        count = 0
        for images, _ in self.batches:
            self._forward(images)
            count += 1
            for total, layer in zip(sums, norms, strict=True):
                mean = layer.moving_mean.numpy()
                total += (mean, mean**2, layer.moving_variance.numpy())
        for total, layer, momentum in zip(sums, norms, momenta, strict=True):
            mean, mean_of_squares, variance = total / max(count, 1)
            # The population's variance: the batches' mean variance plus their means' spread.
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(variance + mean_of_squares - mean**2)
            layer.momentum = momentum


def _callbacks(
    config: TrainingConfig,
    log_dir: str | None,
    head_on_features: bool = False,
    data: TrainingData | None = None,
    from_scratch: bool = False,
) -> list[keras.callbacks.Callback]:
    """Each epoch's seconds, then early stopping, the plateau schedule and TensorBoard, as the
    settings ask; with `data`, BatchNorm statistics measured again before each validation. The
    head on features waits longer before stopping or slowing (HEAD_PATIENCE), its epochs
    costing milliseconds; so does a network from scratch (SCRATCH_PATIENCE), through its flat
    start."""
    callbacks: list[keras.callbacks.Callback] = [EpochSeconds()]
    if data is not None:
        callbacks.append(ReestimateBatchNorm(data.batch_norm_sample()))
    patience = config.early_stopping_patience
    plateau_patience = 1
    if head_on_features:
        patience, plateau_patience = HEAD_PATIENCE, max(1, HEAD_PATIENCE // 3)
    elif from_scratch:
        patience, plateau_patience = SCRATCH_PATIENCE, max(1, SCRATCH_PATIENCE // 2)
    if config.early_stopping:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=patience,
                restore_best_weights=True,
                verbose=0 if head_on_features else 1,
            )
        )
    if config.lr_schedule == "plateau":
        callbacks.append(
            ReduceBothRatesOnPlateau(
                monitor="val_loss",
                factor=0.5,
                patience=plateau_patience,
                verbose=0 if head_on_features else 1,
            )
        )
    if log_dir:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=log_dir, profile_batch=0))
    return callbacks


def frozen_features(
    backbone: keras.Model, parts: list[tf.data.Dataset]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(features, labels) of every example of each part, (image, label) batches: the frozen
    backbone's output in inference mode, computed once, as serving will compute it."""
    return [(outputs[0], labels) for outputs, labels in _frozen_outputs(backbone, parts)]


def _frozen_outputs(
    extractor: keras.Model, parts: list[tf.data.Dataset]
) -> list[tuple[list[np.ndarray], np.ndarray]]:
    """([each output's features], labels) of every example of each part, in inference mode."""
    image_spec = tf.TensorSpec([None, *extractor.input_shape[1:]], tf.float32)
    embed = tf.function(
        lambda images: extractor(images, training=False), [image_spec], autograph=False
    )
    results = []
    for batches_ in parts:
        outputs, labels = [], []
        for images, batch_labels in batches_.prefetch(tf.data.AUTOTUNE):
            found = embed(tf.cast(images, tf.float32))
            found = found if isinstance(found, list | tuple) else [found]
            outputs.append([output.numpy() for output in found])
            labels.append(batch_labels.numpy())
        results.append(
            ([np.concatenate(each) for each in zip(*outputs, strict=True)], np.concatenate(labels))
        )
    return results


def resolve_feature_layer(
    config: TrainingConfig, data: TrainingData, num_classes: int
) -> tuple[TrainingConfig, dict[str, dict[str, float]]]:
    """Where the head reads the backbone: `config` with `feature_layer` settled, and what each
    measured depth scored on the validation part (empty when nothing was measured).

    With `auto` and a pretrained backbone, a head learns from the fit part's pooled
    activations at each of model.feature_layer_candidates (the start of each deeper stage,
    and the output; one pass of the frozen backbone gives them all), and the shallowest depth
    whose head predicts the validation images no worse than the best one's beyond the noise
    is kept (shallowest_within_noise). The backbone is then cut there: fine-tuning and
    serving run only the layers below it. The deeper a layer, the more it answers the source
    task: on data unlike it, earlier layers can be far better (model.FEATURE_LAYERS). A
    backbone from scratch learns at every depth and is used whole.
    """
    if not model_lib.is_pretrained(config):
        if config.feature_layer not in (model_lib.AUTO_LAYER, model_lib.TOP_LAYER):
            logging.warning(
                "feature_layer %s ignored: from scratch the whole network trains",
                config.feature_layer,
            )
        return dataclasses.replace(config, feature_layer=model_lib.TOP_LAYER), {}
    if config.feature_layer != model_lib.AUTO_LAYER:
        return config, {}
    candidates = model_lib.feature_layer_candidates(config.backbone)
    started = time.monotonic()
    extractor = model_lib.features_at(model_lib.full_backbone(config), candidates)
    (fit_x, fit_y), (validation_x, validation_y) = _frozen_outputs(
        extractor, [data.fit.batch(data.batch_size), data.validation.batch(data.batch_size)]
    )
    scores: dict[str, dict[str, float]] = {}
    losses: dict[str, np.ndarray] = {}
    for name, fit_features, validation_features in zip(
        candidates, fit_x, validation_x, strict=True
    ):
        head = model_lib.new_head(config, num_classes, fit_features.shape[1])
        model_lib.standardize_head(head, fit_features)
        history = _fit_head(
            head, (fit_features, fit_y), (validation_features, validation_y), config, None
        )
        _, loss, accuracy = training_report.kept_scores(history, config.early_stopping)
        scores[name] = {"val_loss": round(loss, 4), "val_accuracy": round(accuracy, 4)}
        losses[name] = example_losses(head, validation_features, validation_y)
    worse = worse_than_best(losses)
    kept = shallowest_within_noise(worse)
    for name, gap in worse.items():
        scores[name].update(gap)
    logging.info(
        "Feature layer: %s kept, the shallowest depth within the noise of the best (a head on "
        "each depth's features, validation loss, accuracy: %s; %.1f s)",
        kept,
        ", ".join(
            f"{name} {score['val_loss']:.4f} {score['val_accuracy']:.3f}"
            for name, score in scores.items()
        ),
        time.monotonic() - started,
    )
    return dataclasses.replace(config, feature_layer=kept), scores


def _best_depth(losses: dict[str, np.ndarray]) -> str | None:
    """The depth whose per-image losses have the lowest finite mean; None if none has one."""
    means = {name: float(np.mean(each)) for name, each in losses.items()}
    finite = {name: mean for name, mean in means.items() if math.isfinite(mean)}
    return min(finite, key=finite.get) if finite else None


def worse_than_best(losses: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Per depth, how much worse its head predicts the validation images than the best
    depth's head (per image, paired_difference), and the noise in that difference."""
    best = _best_depth(losses)
    if best is None:
        return {}
    compared = {name: paired_difference(each, losses[best]) for name, each in losses.items()}
    return {
        name: {"worse_than_best_by": round(worse, 4), "noise": round(noise, 4)}
        for name, (worse, noise) in compared.items()
    }


def shallowest_within_noise(worse: dict[str, dict[str, float]]) -> str:
    """Of depths (shallow to deep) and how much worse each one's head is than the best's
    (worse_than_best), the shallowest whose mean loss is above the best depth's by no more
    than the noise of the paired difference; the backbone whole (TOP_LAYER) if no head
    learnt anywhere.

    On a few dozen validation images the lowest mean loss is a noisy pick: on 20 classes of
    12 training images (bench.quality's many_classes, 47 to validate) the best mean moved
    from block_3 to block_10 when only the order the examples were written in changed, and
    the eval accuracy with it from 0.56 to 0.45, where a linear probe cross-validated on the
    whole training split reads block_3. Within the noise the shallower cut stays, as the
    other checks keep what is simpler within theirs: its model is smaller and faster to
    fine-tune and serve, and its features are the ones every image task shares.
    """
    return next(
        (name for name, each in worse.items() if each["worse_than_best_by"] <= each["noise"]),
        model_lib.TOP_LAYER,
    )


def _fit_head(
    head: keras.Model,
    fit: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    config: TrainingConfig,
    log_dir: str | None,
) -> keras.callbacks.History:
    steps = math.ceil(len(fit[1]) / config.batch_size)
    compile_model(head, config, config.learning_rate * HEAD_RATE_FACTOR, HEAD_EPOCHS, steps)
    return head_fit.fit_on_features(
        head,
        fit,
        validation,
        epochs=HEAD_EPOCHS,
        batch_size=config.batch_size,
        callbacks=_callbacks(config, log_dir, head_on_features=True),
        seed=config.seed,
    )


def example_losses(head: keras.Model, features_: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each example's cross-entropy under `head` (no penalty, no smoothing: what it predicts)."""
    probabilities = head.predict(features_, verbose=0)
    return keras.losses.sparse_categorical_crossentropy(labels, probabilities).numpy()


def paired_difference(losses: np.ndarray, baseline: np.ndarray) -> tuple[float, float]:
    """(how much higher `losses` are than `baseline` on the same examples, on average; the
    noise in that mean: NOISE_STANDARD_ERRORS of its standard error)."""
    differences = losses - baseline
    error = differences.std(ddof=1) / math.sqrt(len(differences)) if len(differences) > 1 else 0.0
    return float(differences.mean()), float(NOISE_STANDARD_ERRORS * error)


def validation_losses(model: keras.Model, data: TrainingData) -> np.ndarray:
    """Each validation image's cross-entropy under the whole `model`, in inference mode."""
    labels = np.concatenate([labels.numpy() for _, labels in data.validation_batches()])
    probabilities = model.predict(data.validation_batches(), verbose=0)
    return keras.losses.sparse_categorical_crossentropy(labels, probabilities).numpy()


def fine_tuning_check(head_losses: np.ndarray, tuned_losses: np.ndarray) -> dict[str, Any]:
    """Whether fine-tuning is kept, from the per-image validation losses of phase 1's model
    and phase 2's: only if phase 2 predicts these images better beyond the noise of the
    paired difference (paired_difference), as the dropout and augmentation checks decide.
    Within the noise the head alone stays: phase 2 kept the best of its epochs on these same
    images, which flatters it, and it fitted the whole backbone to them, not a head. (Photos,
    77 images to validate: full fine-tuning's loss 0.35 against the head's 0.40, +0.05 per
    image against noise 0.14; on the eval split, 0.786 against the head's 0.867.)"""
    better, noise = paired_difference(head_losses, tuned_losses)
    return {"kept": better > noise, "better_by": round(better, 4), "noise": round(noise, 4)}


@dataclass(frozen=True)
class HeadOnFeatures:
    """What phase 1 on features settled: the kept head's history, the data with the
    augmentation kept, the head's dropout kept, and what each check measured."""

    history: keras.callbacks.History
    data: TrainingData
    dropout: float
    dropout_check: dict[str, Any]
    augmentation_checks: dict[str, Any]


def _check_dropout(
    head: keras.Model,
    initial: list[np.ndarray],
    fit: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    config: TrainingConfig,
    losses_with: np.ndarray,
) -> tuple[bool, tuple[Any, ...], np.ndarray, dict[str, Any]]:
    """Trains `head` again from `initial` without dropout: (whether dropout stays; the head
    without it as (kept scores, history, weights); its per-image validation losses; the
    check's scores). Dropout goes only when the head without it predicts the validation
    images better beyond the noise (paired_difference); `head` is left trained without it,
    its dropout layer at rate 0, for the caller to keep or undo."""
    dropout = head.get_layer(model_lib.HEAD_DROPOUT)
    dropout.rate = 0.0  # read when the training step is traced, which _fit_head does anew
    head.set_weights(initial)
    trial = _fit_head(head, fit, validation, config, None)
    losses_without = example_losses(head, *validation)
    better, margin = paired_difference(losses_with, losses_without)
    keeps = better <= margin
    kept_scores = training_report.kept_scores(trial, config.early_stopping)
    loss = kept_scores[1]
    scores = {
        "kept": keeps,
        "rate": config.dropout,
        "val_loss_without": round(loss, 4),
        "better_without_by": round(better, 4),
        "noise": round(margin, 4),
    }
    logging.info(
        "Dropout check: the head without dropout %g reaches validation loss %.4f (per image "
        "%+.4f better, noise %.4f): %s",
        config.dropout,
        loss,
        better,
        margin,
        "kept" if keeps else "these features generalize better without it; training goes without",
    )
    return keeps, (kept_scores, trial, head.get_weights()), losses_without, scores


def fit_head_on_features(
    model: keras.Model, data: TrainingData, config: TrainingConfig, log_dir: str | None
) -> HeadOnFeatures:
    """Phase 1 with a pretrained backbone: the head alone, on features computed once.

    Nothing below the head changes in this phase, so passing every image through the frozen
    backbone each epoch would recompute the same features: here they are computed once and
    the head trains on them until validation loss stops improving (HEAD_EPOCHS at most), in
    seconds, where 10 epochs of images left it far from converged.

    It checks two regularizers on this data before fine-tuning takes them over:
    - Dropout (a head without it): on a few dozen standardized features (a shallow cut),
      dropping a fifth of them at random is noise the head cannot see through (photos at
      block_3: validation loss 0.42 with dropout 0.2, 0.34 without). It goes, for the whole
      run, only if the head without it predicts the validation images better by more than the
      noise of the per-image paired difference (paired_difference); otherwise it stays as set.
    - The augmentation (augmentation_spec.CHECKS): for each group of transforms that is on, a head
      learns from the fit images and one transformed copy of them; if it predicts the
      validation images worse beyond the noise, that group changes what these images show (a
      flipped digit, a letter rotated or shifted out of its frame), and fine-tuning trains
      without it. Within the noise it stays, as set.
    """
    backbone = backbone_of(model)
    augmenters = {
        name: (only, augmentation.build_augmenter(only, data.seed))
        for name, only in augmentation_spec.checks(data.augmentation).items()
    }
    checked = {name: only for name, (only, augmenter) in augmenters.items() if augmenter}
    parts = [data.fit.batch(data.batch_size), data.validation.batch(data.batch_size)]
    for name in checked:
        augmented_batches = augmentation.augment(
            data.fit.batch(data.batch_size), augmenters[name][1]
        )
        parts.append(augmented_batches)
    started = time.monotonic()
    (fit_x, fit_y), validation, *augmented = frozen_features(backbone, parts)
    head = head_model(model)
    model_lib.standardize_head(head, fit_x)
    initial = head.get_weights()
    history = _fit_head(head, (fit_x, fit_y), validation, config, log_dir)
    best = (
        training_report.kept_scores(history, config.early_stopping),
        history,
        head.get_weights(),
    )
    losses_without = example_losses(head, *validation)
    dropout, dropout_check = config.dropout, {}
    if config.dropout:
        keeps, without, losses_without_dropout, dropout_check = _check_dropout(
            head, initial, (fit_x, fit_y), validation, config, losses_without
        )
        if keeps:
            head.get_layer(model_lib.HEAD_DROPOUT).rate = config.dropout
        else:
            dropout, best, losses_without = 0.0, without, losses_without_dropout
    scores: dict[str, Any] = {"val_loss_without": round(best[0][1], 4)}
    spec = data.augmentation
    for (name, only), (x, y) in zip(checked.items(), augmented, strict=True):
        head.set_weights(initial)
        trial = _fit_head(
            head, (np.concatenate([fit_x, x]), np.concatenate([fit_y, y])), validation, config, None
        )
        score = training_report.kept_scores(trial, config.early_stopping)
        worse, margin = paired_difference(example_losses(head, *validation), losses_without)
        keeps = worse <= margin
        scores[name] = {
            "kept": keeps,
            "val_loss_with": round(score[1], 4),
            "worse_by": round(worse, 4),
            "noise": round(margin, 4),
        }
        logging.info(
            "Augmentation check, %s: a head that also learns from transformed images reaches "
            "validation loss %.4f against %.4f without (per image %+.4f, noise %.4f): %s",
            name,
            score[1],
            scores["val_loss_without"],
            worse,
            margin,
            "kept" if keeps else "it changes what these images show; fine-tuning goes without",
        )
        if not keeps:
            spec = augmentation_spec.without(spec, only)
        elif score[1] < best[0][1]:
            best = (score, trial, head.get_weights())
    (kept, loss, accuracy), history, weights = best
    head.set_weights(weights)
    logging.info(
        "Head on the frozen backbone's features (%d to fit, %d to validate): %d epochs, "
        "%.1f s with the checks, kept epoch %d: validation loss %.4f, accuracy %.4f",
        len(fit_y),
        len(validation[1]),
        len(history.history["val_loss"]),
        time.monotonic() - started,
        kept + 1,
        loss,
        accuracy,
    )
    return HeadOnFeatures(
        history, dataclasses.replace(data, augmentation=spec), dropout, dropout_check, scores
    )


def fit_epochs(
    model: keras.Model,
    data: TrainingData,
    epochs: int,
    callbacks: list[keras.callbacks.Callback],
    initial_epoch: int = 0,
) -> keras.callbacks.History:
    """`model.fit` on `data`'s fit part up to epoch `epochs`, validating after each.

    One iterator serves every epoch: the batches repeat and `steps_per_epoch` marks the
    epochs. Given the batches alone, Keras makes a new iterator each epoch and deletes the
    last (see `without_autotuning_thread` for what that could cost), and the new one fills
    its shuffle buffer again first: 1.9 s before an epoch's first batch at 32,000 images,
    against 0.1 s here. The train step is traced once (`create_training_variables`).
    """
    create_training_variables(model)
    return model.fit(
        data.fit_batches().repeat(),
        steps_per_epoch=data.steps_per_epoch,
        validation_data=data.validation_batches(),
        initial_epoch=initial_epoch,
        epochs=epochs,
        callbacks=callbacks,
        verbose=2,
    )


def train(
    model: keras.Model,
    data: TrainingData,
    config: TrainingConfig,
    plan: fine_tuning.FineTunePlan,
    log_dir: str | None = None,
) -> training_report.TrainingRecord:
    """Phase 1, then (if the plan says so) phase 2 fine-tuning at a lower rate.

    Phase 1 trains the head on the frozen backbone's features (a pretrained backbone), or the
    whole network on images (from scratch). Each phase stops early on the validation part's
    loss and restores its best weights; unless fine-tuning predicts the validation images
    better than phase 1 beyond the noise (fine_tuning_check), phase 1's weights are put back,
    so a fine-tuning that does not clearly help costs time, not accuracy. With early stopping
    off, nothing is chosen by validation loss: all epochs run, the last stay.
    """
    record = training_report.TrainingRecord(selects_best=config.early_stopping)
    if plan.strategy == fine_tuning.SCRATCH:
        phase1 = fit_epochs(
            model,
            data,
            epochs=config.epochs,
            callbacks=_callbacks(config, log_dir, data=data, from_scratch=True),
        )
        record.augmentation = data.augmentation
        record.extend(phase1)
        record.tried(fine_tuning.SCRATCH, phase1, config.early_stopping)
        return record
    head = fit_head_on_features(model, data, config, log_dir)
    phase1, data = head.history, head.data
    record.dropout, record.dropout_check = head.dropout, head.dropout_check
    record.augmentation_checks = head.augmentation_checks
    record.augmentation = data.augmentation
    record.extend(phase1)
    record.tried("feature_extraction", phase1, config.early_stopping)
    if not plan.unfreeze_fraction:
        return record

    phase1_weights = model.get_weights()
    phase1_losses = validation_losses(model, data) if config.early_stopping else None
    backbone = backbone_of(model)
    record.trainable_backbone_layers, record.trainable_batch_norms = fine_tuning.unfreeze_top(
        backbone, plan.unfreeze_fraction, train_batch_norm=config.batch_size >= MIN_BATCH_NORM_BATCH
    )
    if config.l2_sp:
        model.add_loss(fine_tuning.L2SP(backbone.trainable_weights, config.l2_sp))
    # The head at LEARNING_RATE, the backbone at its own FINE_TUNE_LR (a second optimizer).
    compile_model(
        model,
        config,
        config.learning_rate,
        config.fine_tune_epochs,
        data.steps_per_epoch,
        backbone_learning_rate=config.fine_tune_learning_rate,
    )
    logging.info(
        "Fine-tuning (%s): %d backbone layers train at learning rate %g, the head at %g; "
        "%d BatchNorm layers follow this data's statistics",
        plan.strategy,
        record.trainable_backbone_layers,
        config.fine_tune_learning_rate,
        config.learning_rate,
        record.trainable_batch_norms,
    )
    record.fine_tune_from_epoch = record.epochs_run + 1
    phase2 = fit_epochs(
        model,
        data,
        initial_epoch=record.epochs_run,
        epochs=record.epochs_run + config.fine_tune_epochs,
        callbacks=_callbacks(config, log_dir, data=data),
    )
    record.extend(phase2)
    record.tried(plan.strategy, phase2, config.early_stopping)
    if config.early_stopping:
        record.fine_tune_check = fine_tuning_check(phase1_losses, validation_losses(model, data))
    if not config.early_stopping or record.fine_tune_check["kept"]:
        record.kept_phase = 2
    else:
        model.set_weights(phase1_weights)
    logging.info("Kept %s: %s", record.kept_strategy, record.kept_because())
    return record


def training_data(
    fn_args: FnArgs,
    tft_output: tft.TFTransformOutput,
    config: TrainingConfig,
    batch_size: int,
    spec: AugmentationSpec,
) -> TrainingData:
    """The training split's examples, transformed, split into fit and validation parts, with
    Transform's augmentation for the fit part. Shared by the Trainer and the Tuner."""
    total = count_examples(fn_args.train_files)
    return TrainingData.from_training_split(
        transformed_examples(fn_args.train_files, tft_output),
        total,
        batch_size,
        spec,
        config.seed,
        cache=cache_in_memory(total, config.image_size, config.cache_budget_gb),
    )


def run_fn(fn_args: FnArgs) -> None:
    """TFX Trainer entry point: plan, train, record, export."""
    tracing.leave_libraries_unconverted()
    tuned = hyperparameters.best_values(fn_args.hyperparameters)
    config = hyperparameters.apply(TrainingConfig.from_dict(fn_args.custom_config or {}), tuned)
    if tuned:
        logging.info("Training with the Tuner's best values: %s", tuned)
    class_names = read_class_names(examples_dir_of_split_pattern(fn_args.train_files[0]))
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    strategy = devices.distribution_strategy()
    precision = devices.set_precision(config.mixed_precision)
    batch_size = devices.global_batch_size(config.batch_size, strategy)
    spec = augmentation.read_spec(fn_args.transform_graph_path)
    data = training_data(fn_args, tft_output, config, batch_size, spec)
    train_examples = data.fit_count + data.validation_count
    plan = fine_tuning.choose_strategy(config, train_examples, len(class_names))
    config, feature_layer_scores = resolve_feature_layer(config, data, len(class_names))
    logging.info(
        "Training %s on %d images of %d classes %s (%d to fit, the rest to validate; the eval "
        "split stays unseen); strategy %s: %s",
        config.backbone,
        train_examples,
        len(class_names),
        class_names,
        data.fit_count,
        plan.strategy,
        plan.reason,
    )
    logging.info(
        "%d replica(s), global batch %d, %s", strategy.num_replicas_in_sync, batch_size, precision
    )
    with strategy.scope():  # variables, and optimizers made when (re)compiling, per replica
        model = build_model(config, len(class_names), data.steps_per_epoch)
        record = train(model, data, config, plan, fn_args.model_run_dir)
    record.tuned_hyperparameters = tuned
    record.feature_layer_scores = feature_layer_scores
    training_report.write(fn_args.model_run_dir, record, config, plan, model, train_examples)
    export.export_serving_model(
        plain_model(model),
        tft_output,
        class_names,
        fn_args.serving_model_dir,
        # TF Serving's warmup: thumbnails of eval images (the eval split never trains).
        serving_requests.thumbnails(
            serving_requests.raw_images(
                _files(fn_args.eval_files), max(serving_requests.WARMUP_BATCH_SIZES)
            ),
            config.image_size,
        ),
    )
