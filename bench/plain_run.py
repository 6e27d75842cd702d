"""The pipeline's whole job as one plain TensorFlow script, to time a run against.

What a competent user would write instead of the pipeline, with nothing of TFX, Beam,
tf.Transform or TFMA: list the image folder, split it 80/20 by a hash of each path, read and
decode the files with `tf.data`, take the per-channel mean and std of the train split,
normalize and cache, train the Trainer's model with its augmentation and settings in Keras
`fit` (on four fifths of the train split, validating on the fifth held out, as the Trainer
does), score the eval split with the gate's metrics, and save a SavedModel. It shares
bench/plain.py's pieces, so the work is that of the stages it times.

`make bench` runs it in a fresh process and times the whole process, as it times the
pipeline's, so Python's and TensorFlow's start-up count on both sides. The folder must hold
images only: a file that does not decode stops it, as it would a user's script.

    python -m bench.plain_run --data <image folder> --work <scratch dir> --out <result.json>
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys

import tensorflow as tf

from bench import plain
from components import features
from components.trainer import training
from components.trainer.training_config import TrainingConfig
from components.transform.augmentation_spec import AugmentationSpec
from components.transform.preprocessing import decode_and_resize

# The listing comes class by class; shuffled once, the shuffle buffer sees every class.
_LISTING_SEED = 0
_DECODE_BATCH = 64


def split(root: str, files: list[tuple[str, int]]) -> dict[str, list[tuple[str, int]]]:
    """{split: [(path, label)]} by bench/plain.py's split rule, paths joined to `root`."""
    splits: dict[str, list[tuple[str, int]]] = {features.TRAIN_SPLIT: [], features.EVAL_SPLIT: []}
    for relative_path, label in files:
        splits[plain.split_of(relative_path)].append((os.path.join(root, relative_path), label))
    return splits


def images(files: list[tuple[str, int]], image_size: int) -> tf.data.Dataset:
    """(float image in [0, 1], label) batches, read from the files and decoded as Transform
    decodes them."""

    def read(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return tf.io.read_file(path), label

    def decode(data: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return decode_and_resize(data, image_size), labels

    paths, labels = zip(*files, strict=True)
    # As plain.decoded's: without tf.data's autotuning thread.
    return training.without_autotuning_thread(
        tf.data.Dataset.from_tensor_slices((list(paths), list(labels)))
        .map(read, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(_DECODE_BATCH)
        .map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    )


def run(data_dir: str, work: str, config: TrainingConfig) -> dict:
    """The whole job on one image folder, its SavedModel written under `work`: the images
    per split, the metrics (to show the work was done) and this process's peak memory."""
    from pipeline.run.memory import peak_rss_mb

    class_names, files = plain.list_images(data_dir)
    random.Random(_LISTING_SEED).shuffle(files)
    splits = split(data_dir, files)
    train_files, eval_files = splits[features.TRAIN_SPLIT], splits[features.EVAL_SPLIT]
    norm = plain.channel_statistics(images(train_files, config.image_size))
    train_data = plain.normalize(images(train_files, config.image_size), norm)
    eval_data = plain.normalize(images(eval_files, config.image_size), norm)
    _, model = plain.fit(train_data, config, AugmentationSpec(), len(class_names), len(train_files))
    metrics = plain.score(model, eval_data)
    os.makedirs(work, exist_ok=True)
    save_servable(model, config.image_size, os.path.join(work, "model"))
    return {
        "train_images": len(train_files),
        "eval_images": len(eval_files),
        "metrics": metrics,
        "peak_memory_mb": peak_rss_mb(),
    }


def save_servable(model, image_size: int, export_dir: str) -> None:
    """As the Trainer exports (components/trainer/export.py): the variables and a serving
    function in a plain tf.Module, without Keras's metadata and per-layer traces, which nothing
    here loads and which cost seconds (a plain side slowed by them would flatter the
    pipeline's ratio)."""
    servable = tf.Module()
    servable.model_variables = list(model.variables)
    serve = tf.function(
        lambda images: model(images, training=False),
        input_signature=[tf.TensorSpec([None, image_size, image_size, 3], tf.float32)],
        autograph=False,
    )
    tf.saved_model.save(servable, export_dir, signatures={"serving_default": serve})


def main(argv: list[str] | None = None) -> int:
    from bench.speed import bench_training  # the benchmark's settings, one place

    parser = argparse.ArgumentParser(
        prog="python -m bench.plain_run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--data", required=True, help="the image folder, one subfolder a class")
    parser.add_argument("--work", required=True, help="scratch folder for the SavedModel")
    parser.add_argument("--out", required=True, help="where to write the result, as JSON")
    args = parser.parse_args(argv)
    result = run(args.data, args.work, bench_training())
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
