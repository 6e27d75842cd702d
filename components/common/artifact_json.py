"""JSON files a stage writes into its output artifact for a later stage to read, on any file
system TensorFlow reaches (local, gs://, s3://)."""

from __future__ import annotations

import json
from typing import Any

import tensorflow as tf


def write_json(path: str, value: Any) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(value, f, indent=2)


def read_json(path: str, missing: Exception) -> Any:
    """The file's value; `missing` (naming what wrote it, and why it matters) if there is none."""
    if not tf.io.gfile.exists(path):
        raise missing
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)
