"""The Trainer's run_fn, kept thin: read data, train, export, each testable without TFX."""

from __future__ import annotations

import math

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from absl import logging
from tfx.components.trainer.fn_args_utils import FnArgs

from components import (
    augmentation,
    devices,
    export,
    features,
    hyperparameters,
    tracing,
    training_report,
    transfer,
)
from components.model import backbone_of, build_model, compile_model, plain_model
from components.training_config import TrainingConfig

_PARSE_BATCH = 256
# Decoded images are float32 RGB at the training size: 49 KB each at 64 px, 600 KB at 224. Up
# to this many bytes of them (train and eval splits together) are cached in memory after the
# first epoch; a larger data set is decoded again every epoch, a few percent of a training step
# per image, instead of growing the Trainer's memory with the data until it is killed.
CACHE_BUDGET_BYTES = 4 * 2**30


def _files(file_pattern: str | list[str]) -> list[str]:
    patterns = [file_pattern] if isinstance(file_pattern, str) else file_pattern
    files = sorted(f for pattern in patterns for f in tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"No example files match {file_pattern}")
    return files


def count_examples(file_pattern: str | list[str]) -> int:
    """Examples in gzipped TFRecord files (a quick pass over the records, no parsing)."""
    records = tf.data.TFRecordDataset(_files(file_pattern), compression_type="GZIP")
    return int(records.reduce(0, lambda count, _: count + 1))


def transformed_examples(
    file_pattern: str | list[str], tft_output: tft.TFTransformOutput
) -> tf.data.Dataset:
    """(image, label) examples from raw gzipped records, through the transform graph.

    The transform graph runs here instead of being materialized by Transform: materialized
    float images would cost ~110 KB each on disk. Not cached: callers cache what they keep.
    """
    files = _files(file_pattern)
    raw_spec = tft_output.raw_feature_spec()
    raw_spec = {k: raw_spec[k] for k in (features.IMAGE_KEY, features.LABEL_KEY)}

    def transform(serialized):
        transformed = tft_output.transform_raw_features(tf.io.parse_example(serialized, raw_spec))
        return transformed[features.TRANSFORMED_IMAGE_KEY], transformed[features.LABEL_KEY]

    return (
        tf.data.TFRecordDataset(files, compression_type="GZIP")
        .batch(_PARSE_BATCH)
        .map(transform, num_parallel_calls=tf.data.AUTOTUNE)
        .unbatch()
    )


def decoded_bytes(num_examples: int, image_size: int) -> int:
    """The memory `num_examples` decoded float32 RGB images of `image_size` px take."""
    return num_examples * image_size * image_size * 3 * 4


def cache_in_memory(
    num_examples: int, image_size: int, budget_bytes: int = CACHE_BUDGET_BYTES
) -> bool:
    """Whether the decoded images fit the cache budget; logs the choice when they do not."""
    needed = decoded_bytes(num_examples, image_size)
    if needed <= budget_bytes:
        return True
    logging.info(
        "%d images at %d px decode to %.1f GB, more than the %.1f GB cache budget: decoding "
        "them again every epoch instead of keeping them in memory",
        num_examples,
        image_size,
        needed / 2**30,
        budget_bytes / 2**30,
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
    (see `cache_in_memory`), every epoch reads and decodes the examples again.
    """
    dataset = examples.cache() if cache else examples
    if shuffle_seed is not None:
        dataset = dataset.shuffle(4096, seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = augmentation.augment(dataset.batch(batch_size), augmenter)
    return dataset.prefetch(tf.data.AUTOTUNE)


def make_dataset(
    file_pattern: str | list[str],
    tft_output: tft.TFTransformOutput,
    batch_size: int,
    shuffle_seed: int | None = None,
    augmenter: keras.Sequential | None = None,
    cache: bool = True,
) -> tf.data.Dataset:
    """(image, label) batches of the examples in `file_pattern`, transformed (and cached)."""
    examples = transformed_examples(file_pattern, tft_output)
    return batches(examples, batch_size, shuffle_seed, augmenter, cache)


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


def _callbacks(config: TrainingConfig, log_dir: str | None) -> list[keras.callbacks.Callback]:
    callbacks: list[keras.callbacks.Callback] = []
    if config.early_stopping:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=config.early_stopping_patience,
                restore_best_weights=True,
                verbose=1,
            )
        )
    if config.lr_schedule == "plateau":
        callbacks.append(
            ReduceBothRatesOnPlateau(monitor="val_loss", factor=0.5, patience=1, verbose=1)
        )
    if log_dir:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=log_dir, profile_batch=0))
    return callbacks


def train(
    model: keras.Model,
    train_data: tf.data.Dataset,
    eval_data: tf.data.Dataset,
    config: TrainingConfig,
    plan: transfer.FineTunePlan,
    log_dir: str | None = None,
    steps_per_epoch: int | None = None,
) -> training_report.TrainingRecord:
    """Phase 1, then (if the plan says so) phase 2 fine-tuning at a lower rate.

    Each phase stops early on validation loss and restores its best weights; if fine-tuning
    never beats phase 1's best, the phase 1 weights are put back. With early stopping off,
    nothing is chosen by validation loss: all epochs run and the last weights stay.
    """
    record = training_report.TrainingRecord(selects_best=config.early_stopping)
    phase1 = model.fit(
        train_data,
        validation_data=eval_data,
        epochs=config.epochs,
        callbacks=_callbacks(config, log_dir),
        verbose=2,
    )
    record.extend(phase1)
    if not plan.unfreeze_fraction:
        return record

    best_phase1 = training_report.lowest_finite(phase1.history["val_loss"])
    phase1_weights = model.get_weights()
    backbone = backbone_of(model)
    record.trainable_backbone_layers = transfer.unfreeze_top(backbone, plan.unfreeze_fraction)
    if config.l2_sp:
        model.add_loss(transfer.L2SP(backbone.trainable_weights, config.l2_sp))
    # Differential rates: the head carries on at phase 1's rate, the backbone learns slower.
    compile_model(
        model,
        config,
        config.learning_rate,
        config.fine_tune_epochs,
        steps_per_epoch,
        backbone_learning_rate=config.fine_tune_learning_rate,
    )
    logging.info(
        "Fine-tuning (%s): %d backbone layers train at learning rate %g, the head at %g",
        plan.strategy,
        record.trainable_backbone_layers,
        config.fine_tune_learning_rate,
        config.learning_rate,
    )
    record.fine_tune_from_epoch = record.epochs_run + 1
    phase2 = model.fit(
        train_data,
        validation_data=eval_data,
        initial_epoch=record.epochs_run,
        epochs=record.epochs_run + config.fine_tune_epochs,
        callbacks=_callbacks(config, log_dir),
        verbose=2,
    )
    record.extend(phase2)
    if (
        not config.early_stopping
        or training_report.lowest_finite(phase2.history["val_loss"]) < best_phase1
    ):
        record.kept_phase = 2
    else:
        model.set_weights(phase1_weights)
    return record


def run_fn(fn_args: FnArgs) -> None:
    """TFX Trainer entry point: plan, train, record, export."""
    tracing.leave_keras_unconverted()
    tuned = hyperparameters.best_values(fn_args.hyperparameters)
    config = hyperparameters.apply(TrainingConfig.from_dict(fn_args.custom_config or {}), tuned)
    if tuned:
        logging.info("Training with the Tuner's best values: %s", tuned)
    class_names = features.read_class_names(
        features.examples_dir_of_split_pattern(fn_args.train_files[0])
    )
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    train_examples = count_examples(fn_args.train_files)
    plan = transfer.choose_strategy(config, train_examples, len(class_names))
    logging.info(
        "Training %s on %d images of %d classes %s; strategy %s: %s",
        config.backbone,
        train_examples,
        len(class_names),
        class_names,
        plan.strategy,
        plan.reason,
    )

    strategy = devices.distribution_strategy()
    precision = devices.set_precision(config.mixed_precision)
    batch_size = devices.global_batch_size(config.batch_size, strategy)
    logging.info(
        "%d replica(s), global batch %d, %s", strategy.num_replicas_in_sync, batch_size, precision
    )
    augmentation_spec = augmentation.read_spec(fn_args.transform_graph_path)
    augmenter = augmentation.build_augmenter(augmentation_spec, config.seed)
    cache = cache_in_memory(train_examples + count_examples(fn_args.eval_files), config.image_size)
    train_data = make_dataset(
        fn_args.train_files, tft_output, batch_size, config.seed, augmenter, cache
    )
    eval_data = make_dataset(fn_args.eval_files, tft_output, batch_size, cache=cache)
    steps_per_epoch = math.ceil(train_examples / batch_size)
    with strategy.scope():  # variables, and optimizers made when (re)compiling, per replica
        model = build_model(config, len(class_names), steps_per_epoch)
        record = train(
            model, train_data, eval_data, config, plan, fn_args.model_run_dir, steps_per_epoch
        )
    record.tuned_hyperparameters = tuned
    training_report.write(
        fn_args.model_run_dir, record, config, plan, model, augmentation_spec, train_examples
    )
    export.export_serving_model(
        plain_model(model), tft_output, class_names, fn_args.serving_model_dir
    )
