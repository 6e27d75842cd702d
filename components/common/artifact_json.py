"""JSON files a stage writes into its output artifact for a later stage to read, on any file
system TensorFlow reaches (local, gs://, s3://)."""

from __future__ import annotations

import json
from typing import Any

import tensorflow as tf


def write_json(path: str, value: Any) -> None:
    """Indented, keys sorted and a final newline: stable to diff and pleasant to read."""
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(value, f, indent=2, sort_keys=True)
        f.write("\n")


def read_json(path: str, missing: Exception) -> Any:
    """The file's value; `missing` (naming what wrote it, and why it matters) if there is none."""
    if not tf.io.gfile.exists(path):
        raise missing
    return read_json_if_present(path)


def read_json_if_present(path: str) -> Any:
    """The file's value, or None if there is no such file."""
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)
