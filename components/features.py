"""The one place that names the data: feature keys, the label, image size and class names.

Every other module imports these; none repeats a literal. Class names are discovered from the
data once, by ExampleGen, written beside the examples, and embedded in the exported model.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

# Raw tf.Example features written by ExampleGen.
IMAGE_KEY = "image_bytes"
LABEL_KEY = "label"
FILENAME_KEY = "filename"
# The image's (height, width, channels) as stored, recorded by ingestion so that the schema's
# drift check sees a change of sizes or colour between runs. Not model inputs.
IMAGE_SHAPE_KEYS = ("image_height", "image_width", "image_channels")

# The splits ImageExampleGen writes: train for fitting, eval for early stopping and the gate.
TRAIN_SPLIT = "train"
EVAL_SPLIT = "eval"

# Features produced by Transform.
TRANSFORMED_IMAGE_KEY = "image"

DEFAULT_IMAGE_SIZE = 96
CHANNELS = 3

# Formats TensorFlow's decode_image reads; the same ones ingestion accepts.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
TFRECORD_MARKER = ".tfrecord"  # TFRecord input files are named *.tfrecord* (.gz allowed)

# Written beside the examples by ExampleGen; for TFRecord input, read from the input folder.
CLASS_NAMES_FILE = "class_names.json"
TFRECORD_CLASS_NAMES_FILE = "class_names.txt"

# The exported model's one signature, for clients and the Evaluator alike.
SERVING_SIGNATURE = "serving_default"
PROBABILITIES_KEY = "probabilities"
CLASS_ID_KEY = "class_id"
CLASS_NAME_KEY = "class_name"


def write_class_names(directory: str, class_names: list[str]) -> str:
    """Records class names (index = label id) in `directory`; returns the file path."""
    path = os.path.join(directory, CLASS_NAMES_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump({"class_names": list(class_names)}, f, indent=2)
    return path


def read_class_names(directory: str) -> list[str]:
    """Reads the class names ExampleGen recorded in an Examples artifact's folder."""
    path = os.path.join(directory, CLASS_NAMES_FILE)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(
            f"No {CLASS_NAMES_FILE} in {directory}: these examples were not written by this "
            "project's ExampleGen, so their class names are unknown."
        )
    with tf.io.gfile.GFile(path) as f:
        return list(json.load(f)["class_names"])


def examples_dir_of_split_pattern(split_pattern: str) -> str:
    """The Examples artifact folder from a Trainer file pattern like `<uri>/Split-train/*`."""
    return os.path.dirname(os.path.dirname(split_pattern))


def decode_image(image_bytes: tf.Tensor) -> tf.Tensor:
    """Decodes one encoded image (JPEG/PNG/BMP/GIF, any channels) to uint8 RGB [H, W, 3].

    Ingestion decodes every file with the same TensorFlow decoders (natively, to record its
    shape), so whatever passes ingestion decodes here, in Transform and in serving.
    Animated GIFs give their first frame.
    """
    image = tf.io.decode_image(image_bytes, channels=CHANNELS, expand_animations=False)
    image.set_shape([None, None, CHANNELS])
    return image
