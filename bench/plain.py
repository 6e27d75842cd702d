"""The pipeline's work done in plain TensorFlow, to measure the pipeline's overhead against.

Each function does what one component must do, with nothing of TFX, Beam, tf.Transform or TFMA:
the first on the image folder, the others on the same examples ImageExampleGen wrote (plain
TFRecords of encoded images):

- `examplegen`: list the folder, read and decode each image once (to check it and take its
  shape), and write its tf.Example to a TFRecord file per split, in a plain loop.
- `transform`: decode and resize every training image and compute the per-channel mean and
  standard deviation (Transform's analyze pass: the only work our Transform must do, since it
  does not materialize).
- `train`: the Trainer's model (`build_model`), batch size, augmentation and epochs with Keras
  `fit` on four fifths of the train split, validating each epoch on the fifth held out (as the
  Trainer does), on decoded images cached in memory.
- `evaluate`: `predict` on the eval split and the gate's metrics (accuracy, macro F1, macro
  AUC) and the confusion matrix, in numpy and scikit-learn.

Keras runs as in the Trainer, with AutoGraph leaving its own code unconverted
(components/common/tracing.py), so the ratios compare the same Keras work, not a tracing setting.
Each returns its wall seconds, and what the next one needs or shows the work was done.
The folder listing, the split rule and the pieces of `train` and `evaluate` serve the plain
whole run too (bench/plain_run.py).

`make bench` runs all four in a fresh process per repeat, as it runs the pipeline, so neither
side inherits what earlier repeats left in a long-lived process:

    python -m bench.plain --data <image folder> --examples <Examples artifact dir> \
        --work <scratch dir> --out <result.json>
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import math
import os
import sys
import time
import zlib
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
import tf_keras as keras
from sklearn.metrics import roc_auc_score

from components import features
from components.common import tracing
from components.example_gen import DEFAULT_EVAL_PERCENT, record_compression, split_dir
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


def list_images(root: str) -> tuple[list[str], list[tuple[str, int]]]:
    """(class names, [(path under root, label id)]) of `root/<class>/<image file>`: class ids
    are the sorted class folders' positions, hidden names are skipped, and only the image
    extensions ImageExampleGen reads are taken, so both sides start from the same files."""
    classes = sorted(
        name
        for name in os.listdir(root)
        if not name.startswith(".") and os.path.isdir(os.path.join(root, name))
    )
    files = [
        (f"{name}/{file}", label)
        for label, name in enumerate(classes)
        for file in sorted(os.listdir(os.path.join(root, name)))
        if not file.startswith(".") and file.lower().endswith(features.IMAGE_EXTENSIONS)
    ]
    return classes, files


def split_of(relative_path: str) -> str:
    """The split a file goes to, by a cheap hash of its path under the data folder: the same
    share as ImageExampleGen's and as stable as files are added, without copying TFX's own
    fingerprint (which files land where need not match, only how many)."""
    bucket = zlib.crc32(relative_path.encode("utf-8")) % 100
    return features.EVAL_SPLIT if bucket < DEFAULT_EVAL_PERCENT else features.TRAIN_SPLIT


def examplegen(root: str, out_dir: str) -> tuple[float, dict[str, int]]:
    """Seconds to turn an image folder into TFRecords of ImageExampleGen's examples
    (the encoded bytes, the label, the file name and the shape as stored), one file per split
    in `out_dir`, skipping files that do not decode; and the examples written per split."""
    started = time.perf_counter()
    _, files = list_images(root)
    os.makedirs(out_dir, exist_ok=True)
    splits = (features.TRAIN_SPLIT, features.EVAL_SPLIT)
    written = dict.fromkeys(splits, 0)
    with contextlib.ExitStack() as stack:
        writers = {
            split: stack.enter_context(
                tf.io.TFRecordWriter(os.path.join(out_dir, f"{split}.tfrecord"))
            )
            for split in splits
        }
        for relative_path, label in files:
            with open(os.path.join(root, relative_path), "rb") as f:
                image_bytes = f.read()
            try:
                shape = tf.io.decode_image(image_bytes, expand_animations=False).shape
            except tf.errors.OpError:
                continue  # not an image after all: skipped, as ImageExampleGen skips it
            split = split_of(relative_path)
            example = _example(image_bytes, label, relative_path, shape)
            writers[split].write(example.SerializeToString())
            written[split] += 1
    return time.perf_counter() - started, written


def _example(
    image_bytes: bytes, label: int, relative_path: str, shape: tf.TensorShape
) -> tf.train.Example:
    """ImageExampleGen's features for one image: what Transform reads, and what it checks."""
    feature = {
        features.IMAGE_KEY: _bytes_feature(image_bytes),
        features.LABEL_KEY: _int_feature(label),
        features.FILENAME_KEY: _bytes_feature(relative_path.encode("utf-8")),
    }
    for key, size in zip(features.IMAGE_SHAPE_KEYS, shape, strict=True):
        feature[key] = _int_feature(int(size))
    return tf.train.Example(features=tf.train.Features(feature=feature))


def _int_feature(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def _bytes_feature(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def split_files(examples_dir: str, split: str) -> list[str]:
    """The TFRecord files of one split of an Examples artifact."""
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

    # Without tf.data's autotuning thread, as the Trainer's batches: deleting an iterator
    # sometimes waits out its re-tuning interval (training.without_autotuning_thread), noise
    # in every stage below, not work. What is built on this dataset keeps the option.
    return training.without_autotuning_thread(
        tf.data.TFRecordDataset(files, compression_type=record_compression(files))
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
    norm = channel_statistics(decoded(train_files, image_size))
    return time.perf_counter() - started, norm


def channel_statistics(batches: tf.data.Dataset) -> Normalization:
    """The per-channel mean and std over every pixel of (image, label) batches, in one pass."""
    total = np.zeros(3)
    total_of_squares = np.zeros(3)
    count = 0
    for images, _ in batches:
        total += tf.reduce_sum(tf.reduce_mean(images, axis=[1, 2]), axis=0).numpy()
        total_of_squares += tf.reduce_sum(
            tf.reduce_mean(tf.square(images), axis=[1, 2]), axis=0
        ).numpy()
        count += int(images.shape[0])
    mean = total / count
    std = np.maximum(np.sqrt(np.maximum(total_of_squares / count - mean**2, 0.0)), MIN_STD)
    return Normalization(mean, std)


def normalized(files: list[str], image_size: int, norm: Normalization) -> tf.data.Dataset:
    """Single (normalized image, label) examples, decoded once and cached in memory."""
    return normalize(decoded(files, image_size), norm)


def normalize(batches: tf.data.Dataset, norm: Normalization) -> tf.data.Dataset:
    """(image, label) batches -> single (normalized image, label) examples, cached in memory
    on the first pass, so later epochs decode nothing."""
    mean = tf.constant(norm.mean, tf.float32)
    std = tf.constant(norm.std, tf.float32)
    return batches.map(lambda images, labels: ((images - mean) / std, labels)).unbatch().cache()


def train(
    train_files: list[str],
    config: TrainingConfig,
    spec: AugmentationSpec,
    num_classes: int,
    train_examples: int,
    norm: Normalization,
) -> tuple[float, keras.Model]:
    """Seconds of Keras `fit` on the Trainer's model, batch, augmentation and epochs."""
    return fit(
        normalized(train_files, config.image_size, norm),
        config,
        spec,
        num_classes,
        train_examples,
    )


def fit(
    train_data: tf.data.Dataset,
    config: TrainingConfig,
    spec: AugmentationSpec,
    num_classes: int,
    train_examples: int,
) -> tuple[float, keras.Model]:
    """Seconds of Keras `fit` of the Trainer's model on single (normalized image, label)
    examples of the train split, and the model. As the Trainer does: fit on four fifths of
    them, shuffled, batched and augmented, and validate each epoch on the fifth held out
    (`training.split_validation`, the same images), so both sides do the same work."""
    tracing.leave_libraries_unconverted()  # as the Trainer does: the same Keras, traced the same
    fit_part, held_out = training.split_validation(train_data)
    fit_count = train_examples - training.validation_count(train_examples)
    augmenter = augmentation.build_augmenter(spec, config.seed)
    batches = augmentation.augment(
        fit_part.shuffle(4096, seed=config.seed, reshuffle_each_iteration=True).batch(
            config.batch_size
        ),
        augmenter,
    ).prefetch(tf.data.AUTOTUNE)
    validation = held_out.batch(config.batch_size).prefetch(tf.data.AUTOTUNE)
    steps_per_epoch = math.ceil(fit_count / config.batch_size)
    started = time.perf_counter()
    model = build_model(config, num_classes, steps_per_epoch)
    # One iterator for every epoch, as the Trainer's (training.fit_epochs).
    model.fit(
        batches.repeat(),
        steps_per_epoch=steps_per_epoch,
        validation_data=validation,
        epochs=config.epochs,
        verbose=0,
    )
    return time.perf_counter() - started, model


def evaluate(
    model: keras.Model, eval_files: list[str], image_size: int, norm: Normalization
) -> tuple[float, dict[str, float]]:
    """Seconds to predict the eval split and compute the gate's metrics and the confusion
    matrix; the metrics, to show the work was done."""
    started = time.perf_counter()
    metrics = score(model, normalized(eval_files, image_size, norm))
    return time.perf_counter() - started, metrics


def score(model: keras.Model, data: tf.data.Dataset) -> dict[str, float]:
    """`predict` on single (normalized image, label) examples, and the gate's metrics."""
    tracing.leave_libraries_unconverted()
    labels = np.array([int(label) for _, label in data])
    probabilities = model.predict(data.batch(64), verbose=0)
    return gate_metrics(labels, probabilities)


def gate_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Accuracy, macro F1 and macro AUC, from the confusion matrix, as the gate reads them."""
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
    return {
        "accuracy": float((predicted == labels).mean()),
        "macro_f1": float(f1.mean()),
        "macro_auc": float(auc),
    }


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0."""
    out = np.zeros(numerator.shape, dtype=float)
    return np.divide(numerator, denominator, out=out, where=denominator > 0)


def measure(data_dir: str, examples_dir: str, work: str, config: TrainingConfig) -> dict:
    """All four stages: ingestion of the image folder into `work`, then the other three on the
    pipeline's Examples artifact. Their seconds, the images each split holds, the examples
    written, the metrics (to show the work was done) and this process's peak memory."""
    from pipeline.run.memory import peak_rss_mb

    train_files = split_files(examples_dir, features.TRAIN_SPLIT)
    eval_files = split_files(examples_dir, features.EVAL_SPLIT)
    train_images = training.count_examples(train_files)
    num_classes = len(read_class_names(examples_dir))
    seconds = {}
    seconds["examplegen"], written = examplegen(data_dir, work)
    seconds["transform"], norm = transform(train_files, config.image_size)
    seconds["trainer"], model = train(
        train_files, config, AugmentationSpec(), num_classes, train_images, norm
    )
    seconds["evaluator"], metrics = evaluate(model, eval_files, config.image_size, norm)
    return {
        "seconds": seconds,
        "train_images": train_images,
        "eval_images": training.count_examples(eval_files),
        "examples_written": written,
        "metrics": metrics,
        "peak_memory_mb": peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> int:
    from bench.speed import bench_training  # the benchmark's settings, one place

    parser = argparse.ArgumentParser(
        prog="python -m bench.plain", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--data", required=True, help="the image folder the pipeline read")
    parser.add_argument("--examples", required=True, help="an Examples artifact's folder")
    parser.add_argument("--work", required=True, help="scratch folder for the examples it writes")
    parser.add_argument("--out", required=True, help="where to write the result, as JSON")
    args = parser.parse_args(argv)
    result = measure(args.data, args.examples, args.work, bench_training())
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
