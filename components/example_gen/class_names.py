"""The class names ExampleGen discovers, written beside its examples; index = label id.

The Trainer, the Evaluator and the registry read them from the Examples artifact, and the
exported model carries them, so a label id means the same class everywhere downstream.
"""

from __future__ import annotations

import os

from components.common.artifact_json import read_json, write_json

# Written beside the examples by ExampleGen; for TFRecord input, read from the input folder.
CLASS_NAMES_FILE = "class_names.json"
TFRECORD_CLASS_NAMES_FILE = "class_names.txt"


def write_class_names(directory: str, class_names: list[str]) -> str:
    """Records class names (index = label id) in `directory`; returns the file path."""
    path = os.path.join(directory, CLASS_NAMES_FILE)
    write_json(path, {"class_names": list(class_names)})
    return path


def read_class_names(directory: str) -> list[str]:
    """Reads the class names ExampleGen recorded in an Examples artifact's folder."""
    missing = FileNotFoundError(
        f"No {CLASS_NAMES_FILE} in {directory}: these examples were not written by this "
        "project's ExampleGen, so their class names are unknown."
    )
    return list(read_json(os.path.join(directory, CLASS_NAMES_FILE), missing)["class_names"])


def examples_dir_of_split_pattern(split_pattern: str) -> str:
    """The Examples artifact folder from a Trainer file pattern like `<uri>/Split-train/*`."""
    return os.path.dirname(os.path.dirname(split_pattern))
