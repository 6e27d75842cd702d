"""The pipeline's work done in plain TensorFlow, to measure the pipeline's overhead against.

Each function does what one component must do, on the same examples ImageExampleGen wrote
(gzipped TFRecords of encoded images), with nothing of TFX, Beam, tf.Transform or TFMA:

- `transform`: decode and resize every training image and compute the per-channel mean and
  standard deviation (Transform's analyze pass: the only work our Transform must do, since it
  does not materialize).
- `train`: the Trainer's model (`build_model`), batch size, augmentation and epochs with Keras
  `fit`, validating on the eval split each epoch, on decoded images cached in memory.
- `evaluate`: `predict` on the eval split and the gate's metrics (accuracy, macro F1, macro
  AUC) and the confusion matrix, in numpy and scikit-learn.

Keras runs as in the Trainer, with AutoGraph leaving its own code unconverted
(components/common/tracing.py), so the ratios compare the same Keras work, not a tracing setting.
Each returns its wall seconds; the first two also what the next one needs.

`make bench` runs all three in a fresh process per repeat, as it runs the pipeline, so neither
side inherits what earlier repeats left in a long-lived process:

    python -m bench.plain --examples <Examples artifact dir> --out <result.json>
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys
import time
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
import tf_keras as keras
from sklearn.metrics import roc_auc_score

from components import features
from components.common import tracing
from components.example_gen import split_dir
from components.example_gen.class_names import read_class_names
from components.trainer import training
from components.trainer.model import build_model
from components.trainer.training_config import TrainingConfig
from components.transform import augmentation
from components.transform.augmentation_spec import AugmentationSpec
from components.transform.preprocessing import MIN_STD, decode_and_resize

_RECORD_SPEC = {
    features.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string),
    features.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
}
_PARSE_BATCH = 64


def split_files(examples_dir: str, split: str) -> list[str]:
    """The gzipped TFRecord files of one split of an Examples artifact."""
    folder = split_dir(examples_dir, split)
    files = sorted(glob.glob(os.path.join(folder, "*")))
    if not files:
        raise FileNotFoundError(f"No examples in {folder}")
    return files


def decoded(files: list[str], image_size: int) -> tf.data.Dataset:
    """(float image in [0, 1], label) batches of `_PARSE_BATCH`, decoded and resized."""

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, _RECORD_SPEC)
        return decode_and_resize(parsed[features.IMAGE_KEY], image_size), parsed[features.LABEL_KEY]

    return (
        tf.data.TFRecordDataset(files, compression_type="GZIP")
        .batch(_PARSE_BATCH)
        .map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    )


@dataclass(frozen=True)
class Normalization:
    mean: np.ndarray
    std: np.ndarray


def transform(train_files: list[str], image_size: int) -> tuple[float, Normalization]:
    """Seconds to decode, resize and take the per-channel mean and std of the train split."""
    started = time.perf_counter()
    total = np.zeros(3)
    total_of_squares = np.zeros(3)
    count = 0
    for images, _ in decoded(train_files, image_size):
        total += tf.reduce_sum(tf.reduce_mean(images, axis=[1, 2]), axis=0).numpy()
        total_of_squares += tf.reduce_sum(
            tf.reduce_mean(tf.square(images), axis=[1, 2]), axis=0
        ).numpy()
        count += int(images.shape[0])
    mean = total / count
    std = np.maximum(np.sqrt(np.maximum(total_of_squares / count - mean**2, 0.0)), MIN_STD)
    return time.perf_counter() - started, Normalization(mean, std)


def normalized(files: list[str], image_size: int, norm: Normalization) -> tf.data.Dataset:
    """Single (normalized image, label) examples, decoded once and cached in memory."""
    mean = tf.constant(norm.mean, tf.float32)
    std = tf.constant(norm.std, tf.float32)
    return (
        decoded(files, image_size)
        .map(lambda images, labels: ((images - mean) / std, labels))
        .unbatch()
        .cache()
    )


def train(
    train_files: list[str],
    eval_files: list[str],
    config: TrainingConfig,
    spec: AugmentationSpec,
    num_classes: int,
    train_examples: int,
    norm: Normalization,
) -> tuple[float, keras.Model]:
    """Seconds of Keras `fit` on the Trainer's model, batch, augmentation and epochs."""
    tracing.leave_keras_unconverted()  # as the Trainer does: the same Keras, traced the same
    augmenter = augmentation.build_augmenter(spec, config.seed)
    train_data = augmentation.augment(
        normalized(train_files, config.image_size, norm)
        .shuffle(4096, seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size),
        augmenter,
    ).prefetch(tf.data.AUTOTUNE)
    eval_data = (
        normalized(eval_files, config.image_size, norm)
        .batch(config.batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    started = time.perf_counter()
    model = build_model(config, num_classes, math.ceil(train_examples / config.batch_size))
    model.fit(train_data, validation_data=eval_data, epochs=config.epochs, verbose=0)
    return time.perf_counter() - started, model


def evaluate(
    model: keras.Model, eval_files: list[str], image_size: int, norm: Normalization
) -> tuple[float, dict[str, float]]:
    """Seconds to predict the eval split and compute the gate's metrics and the confusion
    matrix; the metrics, to show the work was done."""
    tracing.leave_keras_unconverted()
    started = time.perf_counter()
    data = normalized(eval_files, image_size, norm)
    labels = np.array([int(label) for _, label in data])
    probabilities = model.predict(data.batch(64), verbose=0)
    num_classes = probabilities.shape[1]
    predicted = probabilities.argmax(axis=1)
    matrix = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(matrix, (labels, predicted), 1)
    true_positives = np.diag(matrix).astype(float)
    precision = _ratio(true_positives, matrix.sum(axis=0))
    recall = _ratio(true_positives, matrix.sum(axis=1))
    f1 = _ratio(2 * precision * recall, precision + recall)
    present = [k for k in range(num_classes) if (labels == k).any() and (labels != k).any()]
    auc = np.mean([roc_auc_score(labels == k, probabilities[:, k]) for k in present])
    metrics = {
        "accuracy": float((predicted == labels).mean()),
        "macro_f1": float(f1.mean()),
        "macro_auc": float(auc),
    }
    return time.perf_counter() - started, metrics


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0."""
    out = np.zeros(numerator.shape, dtype=float)
    return np.divide(numerator, denominator, out=out, where=denominator > 0)


def measure(examples_dir: str, config: TrainingConfig) -> dict:
    """All three stages on one Examples artifact: their seconds, the images each split holds,
    the metrics (to show the work was done) and this process's peak memory."""
    from pipeline.run.memory import peak_rss_mb

    train_files = split_files(examples_dir, features.TRAIN_SPLIT)
    eval_files = split_files(examples_dir, features.EVAL_SPLIT)
    train_images = training.count_examples(train_files)
    num_classes = len(read_class_names(examples_dir))
    seconds = {}
    seconds["transform"], norm = transform(train_files, config.image_size)
    seconds["trainer"], model = train(
        train_files, eval_files, config, AugmentationSpec(), num_classes, train_images, norm
    )
    seconds["evaluator"], metrics = evaluate(model, eval_files, config.image_size, norm)
    return {
        "seconds": seconds,
        "train_images": train_images,
        "eval_images": training.count_examples(eval_files),
        "metrics": metrics,
        "peak_memory_mb": peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> int:
    from bench.speed import bench_training  # the benchmark's settings, one place

    parser = argparse.ArgumentParser(
        prog="python -m bench.plain", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--examples", required=True, help="an Examples artifact's folder")
    parser.add_argument("--out", required=True, help="where to write the result, as JSON")
    args = parser.parse_args(argv)
    result = measure(args.examples, bench_training())
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
