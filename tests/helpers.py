"""Helpers the tests share: small real image files, a tamper check for folders, tiny SavedModels
for the registry, and models that read their answers from their input, for TFMA on tiny data
with nothing trained."""

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from components import features
from components.transform.preprocessing import channel_stats
from pipeline.config import OutputLayout

# The eval share for tests on a few images per class: files go to a split by a hash of their
# name, and at 20% a class of 5-15 images often gets no eval image, which a run refuses.
SMALL_DATA_EVAL_PERCENT = 40


def encode_image(mode: str = "RGB", size=(20, 16), fmt: str = "PNG", seed: int = 0) -> bytes:
    """Encoded bytes of a random image in the given PIL mode and format."""
    rng = np.random.default_rng(seed)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode if mode != "P" else "RGB"]
    pixels = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    image = Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels)
    if mode == "P":
        image = image.convert("P")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def transform_with_graph(
    images: list[bytes],
    labels: list[int],
    folder: str,
    image_size: int,
    max_megapixels: float = features.DEFAULT_MAX_MEGAPIXELS,
) -> tuple[str, list[dict]]:
    """Transform's preprocessing_fn analyzed and run by tf.Transform on Beam over these images:
    the transform graph's folder, as TFX's Transform leaves it (the raw examples' metadata
    beside the graph), and the transformed rows."""
    import functools

    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    from components.transform import preprocessing

    raw_spec = {
        features.IMAGE_KEY: tf.io.FixedLenFeature([1], tf.string),
        features.LABEL_KEY: tf.io.FixedLenFeature([1], tf.int64),
    }
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(raw_spec))
    fn = functools.partial(
        preprocessing.preprocessing_fn,
        custom_config={
            preprocessing.IMAGE_SIZE_KEY: image_size,
            preprocessing.MAX_MEGAPIXELS_KEY: max_megapixels,
        },
    )
    raw = [
        {features.IMAGE_KEY: [image], features.LABEL_KEY: [label]}
        for image, label in zip(images, labels, strict=True)
    ]
    graph_dir = os.path.join(folder, "transform_graph")
    with tft_beam.Context(temp_dir=os.path.join(folder, "tmp")):
        (transformed, _), transform_fn = (raw, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
        _ = transform_fn | tft_beam.WriteTransformFn(graph_dir)
    metadata_io.write_metadata(
        metadata, os.path.join(graph_dir, tft.TFTransformOutput.RAW_METADATA_DIR)
    )
    return graph_dir, transformed


def tree_digest(root: str) -> dict[str, str]:
    """Path -> sha256 of every file under root, to prove a folder was not modified."""
    digests = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                digests[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return digests


# Eight well-separated hues: classes a network tells apart even with untrained features.
COLOR_CLASSES = {
    "red": (220, 30, 30),
    "green": (30, 200, 40),
    "blue": (30, 40, 220),
    "yellow": (230, 220, 30),
    "cyan": (30, 210, 220),
    "magenta": (210, 30, 200),
    "black": (15, 15, 15),
    "white": (240, 240, 240),
}


def write_color_classes(
    root: str, per_class: int = 8, size: int = 24, seed: int = 0, noise_stddev: float = 1.0
) -> list[str]:
    """`root/<colour>/<n>.png`: noisy images of one hue per class; returns the class names.

    An easy task on purpose: a model reaches high accuracy in a few epochs, so a test can tell
    a properly trained candidate from a crippled one by the metrics alone.
    """
    rng = np.random.default_rng(seed)
    for name, rgb in COLOR_CLASSES.items():
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for n in range(per_class):
            # A little pixel noise only: untrained features are sensitive to texture.
            noise = rng.normal(0, noise_stddev, size=(size, size, 3))
            pixels = np.clip(np.array(rgb) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(os.path.join(root, name, f"{name}-{n}.png"))
    return sorted(COLOR_CLASSES)


def random_backbone_weights(path: str, images_root: str, image_size: int) -> str:
    """A weights file for an untrained backbone whose BatchNorm statistics are set from the
    images under `images_root`; returns the path.

    Untrained and uncalibrated, the backbone's features vanish (around 1e-11: its BatchNorm
    layers still hold mean 0 and variance 1), so no head can learn from them. With each
    BatchNorm's statistics set to what it sees on these images (one training-mode pass with
    momentum 0), its random features are usable, and a head trained on them in the Trainer's
    feature-extraction phase learns an easy task in seconds: a stand-in for `make pretrain`'s
    backbone, which takes minutes to build.
    """
    pixels = [
        np.asarray(
            Image.open(os.path.join(folder, name)).convert("RGB").resize((image_size,) * 2),
            np.float32,
        )
        for folder, _, names in sorted(os.walk(images_root))
        for name in sorted(names)
        if name.endswith(".png")
    ]
    images = np.stack(pixels)
    mean, std = channel_stats(images)
    images = (images - mean) / std
    return calibrated_backbone_weights(path, images)


def calibrated_backbone_weights(path: str, images: np.ndarray) -> str:
    """An untrained backbone for `images` (normalized, [n, size, size, 3]) with each BatchNorm's
    statistics set to what it sees on them (see random_backbone_weights), saved to `path`."""
    from components.trainer.model import build_backbone
    from components.trainer.training_config import TrainingConfig

    backbone = build_backbone(TrainingConfig(image_size=images.shape[1]))
    for layer in backbone.layers:
        if hasattr(layer, "moving_mean"):
            layer.momentum = 0.0
    backbone(images, training=True)
    backbone.save_weights(path)
    return path


def blind_backbone_weights(path: str, image_size: int) -> str:
    """A weights file for a backbone that sees nothing: every weight 0, so every feature of
    every image is 0 and no head can tell one class from another; returns the path. A small
    learning rate cannot stand in for it: the head's kernel starts at zero, so any training
    at all turns it towards the classes, and on separable features its argmax is right."""
    from components.trainer.model import build_backbone
    from components.trainer.training_config import TrainingConfig

    backbone = build_backbone(TrainingConfig(image_size=image_size))
    backbone.set_weights([np.zeros_like(weight) for weight in backbone.get_weights()])
    backbone.save_weights(path)
    return path


def start_local_run(data, outputs, *flags: str) -> subprocess.Popen:
    """`make local`'s runner in a process of its own (and process group, to kill it whole), on
    settings that make a run short: no backbone, 32 px, one epoch, a zero floor."""
    command = [sys.executable, "-m", "pipeline.local_runner"]
    command += ["--data", str(data), "--outputs", str(outputs), "--weights", "none"]
    command += ["--image-size", "32", "--epochs", "1", "--fine-tune-epochs", "1"]
    command += ["--batch-size", "16", "--gate-floor", "0"]
    command += ["--eval-percent", str(SMALL_DATA_EVAL_PERCENT), *flags]
    return subprocess.Popen(
        command,
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def run_and_read_summary(config, outputs, require_push: bool = False) -> tuple[int, dict]:
    """Run the pipeline locally as `make local` does; its exit code and last_run.json."""
    import json

    from pipeline.run import execute

    code = execute.run(config, outputs_dir=str(outputs), require_push=require_push)
    with open(OutputLayout(str(outputs)).summary_path) as f:
        return code, json.load(f)


# The settings `make compile` cannot do without, as flags, for tests of the Kubeflow runner.
KUBEFLOW_IMAGE = "registry.example/image-classifier:1.0"
KUBEFLOW_COMPILE_FLAGS = [
    "--image",
    KUBEFLOW_IMAGE,
    "--data",
    "gs://bucket/images",
    "--serving-dir",
    "gs://bucket/serving",
]


def predictions(labels: np.ndarray, correct: np.ndarray, num_classes: int) -> np.ndarray:
    """Probabilities whose argmax is the label where `correct`, the next class elsewhere."""
    predicted = np.where(correct, labels, (labels + 1) % num_classes)
    probabilities = np.full((len(labels), num_classes), 0.1)
    probabilities[np.arange(len(labels)), predicted] = 0.8
    return probabilities


def write_answer_examples(path: str, labels, *answers, compression: str | None = None) -> None:
    """Examples with the pipeline's image and label features, whose "image" is text holding
    each model's probabilities for it (`answers[i]` is model i's, one row per example)."""
    with tf.io.TFRecordWriter(path, options=compression) as writer:
        for label, *rows in zip(labels, *answers, strict=True):
            text = ";".join(",".join(str(p) for p in row) for row in rows)
            feature = {
                features.IMAGE_KEY: tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[text.encode()])
                ),
                features.LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
            }
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())


class AnswerReader(tf.Module):
    """Predicts the probabilities its image bytes spell out: the `index`th list of them."""

    def __init__(self, index: int):
        super().__init__()
        self.index = index

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=features.IMAGE_KEY)])
    def serve(self, image_bytes):
        answers = tf.strings.split(image_bytes, ";").to_tensor()[:, self.index]
        probabilities = tf.strings.to_number(tf.strings.split(answers, ",").to_tensor())
        return {features.PROBABILITIES_KEY: probabilities}


def save_answer_reader(path: str, index: int) -> str:
    """An AnswerReader saved with the pipeline's serving signature, as the Trainer exports."""
    model = AnswerReader(index)
    tf.saved_model.save(model, path, signatures={features.SERVING_SIGNATURE: model.serve})
    return path


def save_tiny_model(path, scale: float) -> str:
    """A SavedModel that multiplies by `scale`: different scales, different models."""
    module = tf.Module()
    module.scale = tf.Variable(scale)
    module.serve = tf.function(
        lambda x: x * module.scale, input_signature=[tf.TensorSpec([None], tf.float32)]
    )
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return str(path)


def png_bomb(width: int, height: int) -> bytes:
    """A valid all-black grayscale PNG of width x height pixels, small on disk (350 KB for
    9000x9000: every row compresses to almost nothing), as decompression bombs are."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    compressor = zlib.compressobj(1)
    row = bytes(width + 1)  # filter byte 0, then one zero byte per pixel
    compressed = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", compressed)
        + chunk(b"IEND", b"")
    )


def export_tiny_classifier(path, class_names: list[str], seed: int = 0) -> str:
    """A real exported classifier as the Trainer exports one (Transform's graph analyzed by
    tf.Transform on a few images, a small untrained Keras model, export_serving_model): it
    answers raw image bytes with probabilities over `class_names`."""
    import tensorflow_transform as tft
    import tf_keras as keras

    from components.trainer import export

    path = Path(path)
    images = [encode_image(size=(12, 10), seed=seed + i) for i in range(3)]
    graph_dir, _ = transform_with_graph(images, [0, 1, 0], str(path / "transform"), 8, 64.0)
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, features.CHANNELS))
    flat = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(len(class_names), activation="softmax")(flat))
    export_dir = str(path / "model")
    export.export_serving_model(model, tft.TFTransformOutput(graph_dir), class_names, export_dir)
    return export_dir
