"""The Trainer's run_fn, kept thin: read data, train, export, each testable without TFX."""

from __future__ import annotations

import json
import os

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from absl import logging
from tfx.components.trainer.fn_args_utils import FnArgs

from components import export, features
from components.model import build_model
from components.training_config import TrainingConfig

HISTORY_FILE = "history.json"
_PARSE_BATCH = 256


def make_dataset(
    file_pattern: str | list[str],
    tft_output: tft.TFTransformOutput,
    batch_size: int,
    shuffle_seed: int | None = None,
) -> tf.data.Dataset:
    """(image, label) batches from raw gzipped examples, transformed once and cached.

    The transform graph runs here instead of being materialized by Transform: decoding happens
    once (first epoch), later epochs read the in-memory cache. With `shuffle_seed`, the order
    changes every epoch.
    """
    files = (
        tf.io.gfile.glob(file_pattern)
        if isinstance(file_pattern, str)
        else [f for pattern in file_pattern for f in tf.io.gfile.glob(pattern)]
    )
    if not files:
        raise FileNotFoundError(f"No example files match {file_pattern}")
    raw_spec = tft_output.raw_feature_spec()
    raw_spec = {k: raw_spec[k] for k in (features.IMAGE_KEY, features.LABEL_KEY)}

    def transform(serialized):
        transformed = tft_output.transform_raw_features(tf.io.parse_example(serialized, raw_spec))
        return transformed[features.TRANSFORMED_IMAGE_KEY], transformed[features.LABEL_KEY]

    dataset = (
        tf.data.TFRecordDataset(sorted(files), compression_type="GZIP")
        .batch(_PARSE_BATCH)
        .map(transform, num_parallel_calls=tf.data.AUTOTUNE)
        .unbatch()
        .cache()
    )
    if shuffle_seed is not None:
        dataset = dataset.shuffle(4096, seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def train(
    model: keras.Model,
    train_data: tf.data.Dataset,
    eval_data: tf.data.Dataset,
    config: TrainingConfig,
    log_dir: str | None = None,
) -> keras.callbacks.History:
    """Fits with early stopping on validation loss, restoring the best epoch's weights."""
    callbacks = [
        keras.callbacks.EarlyStopping(
            monitor="val_loss",
            patience=config.early_stopping_patience,
            restore_best_weights=True,
            verbose=1,
        )
    ]
    if log_dir:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=log_dir, profile_batch=0))
    return model.fit(
        train_data, validation_data=eval_data, epochs=config.epochs, callbacks=callbacks, verbose=2
    )


def save_history(history: keras.callbacks.History, directory: str) -> str:
    """Per-epoch losses and accuracies, for the run summary and later the learning curves."""
    tf.io.gfile.makedirs(directory)
    path = os.path.join(directory, HISTORY_FILE)
    record = {key: [float(v) for v in values] for key, values in history.history.items()}
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump({"epochs_run": len(history.epoch), "history": record}, f, indent=2)
    return path


def run_fn(fn_args: FnArgs) -> None:
    """TFX Trainer entry point."""
    config = TrainingConfig.from_dict(fn_args.custom_config or {})
    class_names = features.read_class_names(
        features.examples_dir_of_split_pattern(fn_args.train_files[0])
    )
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    logging.info("Training %s on %d classes: %s", config.backbone, len(class_names), class_names)

    train_data = make_dataset(fn_args.train_files, tft_output, config.batch_size, config.seed)
    eval_data = make_dataset(fn_args.eval_files, tft_output, config.batch_size)
    model = build_model(config, num_classes=len(class_names))
    history = train(model, train_data, eval_data, config, log_dir=fn_args.model_run_dir)
    save_history(history, fn_args.model_run_dir)
    export.export_serving_model(model, tft_output, class_names, fn_args.serving_model_dir)
