"""The train/eval split, and which split each file lands in before ExampleGen runs.

TFX's ExampleGen assigns an example to a split by a hash of its partition feature (here the
file's path under the data folder), so which files go where is known from their names alone.
ImageExampleGen hashes each path once, with TFX's own function, before reading any file; the
counts are checked and each example written to its split from that one assignment.
A run whose eval split lacks a class cannot judge the model on it, and one whose train split
lacks a class cannot learn it; both are refused here, before any work, naming each class.
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf
from tfx.components.example_gen import base_example_gen_executor
from tfx.proto import example_gen_pb2

from components import features
from components.example_gen.ingest import DataError

Split = example_gen_pb2.SplitConfig.Split

# Each class needs at least this many images in each split: one to learn it from, one to judge
# the model on it.
MIN_IMAGES_PER_CLASS_AND_SPLIT = 1


def split_config(eval_percent: int) -> example_gen_pb2.Output:
    """Train/eval split by a hash of the file name: deterministic, stable as files are added."""
    if not 0 < eval_percent < 100:
        raise ValueError(f"eval_percent must be between 1 and 99, got {eval_percent}")
    return example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                Split(name=features.TRAIN_SPLIT, hash_buckets=100 - eval_percent),
                Split(name=features.EVAL_SPLIT, hash_buckets=eval_percent),
            ],
            partition_feature_name=features.FILENAME_KEY,
        )
    )


def split_of(relative_path: str, config: example_gen_pb2.SplitConfig) -> str:
    """The split ExampleGen puts this file's example in: TFX's own partition function, on an
    example holding only the feature it hashes."""
    name = tf.train.Feature(bytes_list=tf.train.BytesList(value=[relative_path.encode("utf-8")]))
    example = tf.train.Example(
        features=tf.train.Features(feature={config.partition_feature_name: name})
    )
    buckets, total = [], 0
    for split in config.splits:
        total += split.hash_buckets
        buckets.append(total)
    # Private in TFX 1.16, and exactly what its executor calls: a copy could drift from it.
    index = base_example_gen_executor._PartitionFn(example, len(buckets), buckets, config)
    return config.splits[index].name


class AssignedFile(NamedTuple):
    """An image file and the split ExampleGen puts it in."""

    path: str  # relative to the data folder
    label: int
    split: str


def assign_splits(
    files: list[tuple[str, int]], config: example_gen_pb2.SplitConfig
) -> list[AssignedFile]:
    """Each (relative path, label) pair with its split, hashed once: ingestion checks the
    counts, tags each example and counts again from this one assignment."""
    return [AssignedFile(path, label, split_of(path, config)) for path, label in files]


def counts_by_split(
    class_names: list[str], assigned: list[AssignedFile], config: example_gen_pb2.SplitConfig
) -> dict[str, dict[str, int]]:
    """{split: {class name: images}}, every split and class listed."""
    counts = {split.name: dict.fromkeys(class_names, 0) for split in config.splits}
    for file in assigned:
        counts[file.split][class_names[file.label]] += 1
    return counts


def check_splits(
    class_names: list[str], files: list[tuple[str, int]], config: example_gen_pb2.SplitConfig
) -> dict[str, dict[str, int]]:
    """The counts by split of (relative path, label) pairs, or DataError as
    `check_assigned_splits` says."""
    return check_assigned_splits(class_names, assign_splits(files, config), config)


def check_assigned_splits(
    class_names: list[str], assigned: list[AssignedFile], config: example_gen_pb2.SplitConfig
) -> dict[str, dict[str, int]]:
    """The counts by split, or DataError naming each class short of
    MIN_IMAGES_PER_CLASS_AND_SPLIT images in a split, with its counts."""
    counts = counts_by_split(class_names, assigned, config)
    short = [
        (name, split)
        for name in class_names
        for split in counts
        if counts[split][name] < MIN_IMAGES_PER_CLASS_AND_SPLIT
    ]
    if short:
        eval_share = {s.name: s.hash_buckets for s in config.splits}[features.EVAL_SPLIT] / 100
        lines = "\n".join(
            f"  {name!r}: {counts[split][name]} in {split} "
            f"({', '.join(f'{counts[s][name]} in {s}' for s in counts if s != split)})"
            for name, split in short
        )
        chance = ", ".join(f"{(1 - eval_share) ** n:.1%} for {n}" for n in (10, 20))
        raise DataError(
            f"Too few images to train and judge a model: each class needs at least "
            f"{MIN_IMAGES_PER_CLASS_AND_SPLIT} image in each split, and these have fewer:\n"
            f"{lines}\n"
            f"Files go to a split by a hash of their path, {eval_share:.0%} to eval (the chance "
            f"that a class gets no eval image: {chance} images). Add images to these classes, "
            "or raise the eval percent."
        )
    return counts
