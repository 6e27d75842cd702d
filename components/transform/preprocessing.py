"""Transform's preprocessing_fn: refuse oversized images, decode, resize, normalize per channel.

The mean and standard deviation per channel are tf.Transform analyzers over the training split,
so they are computed once by Beam and baked into the transform graph as constants. The Trainer
and the served model run this same graph, which is why serving equals training.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from components import features

IMAGE_SIZE_KEY = "image_size"
MAX_MEGAPIXELS_KEY = "max_megapixels"
# The floor of a channel's standard deviation: a constant-colour channel must not divide by
# zero. The experiments' plain baselines normalize with the same floor (channel_stats).
MIN_STD = 1e-3


# The first bytes of each format TensorFlow's decode_image reads, as it tells them apart.
_JPEG_SIGNATURE = b"\xff\xd8"
_HEADER_BYTES = 26  # enough for every size field below (BMP's height ends at byte 26)


@dataclasses.dataclass(frozen=True)
class _SizeFields:
    """Where a format whose size sits at fixed offsets keeps its height and width."""

    signature: bytes
    height: tuple[int, int]  # (first byte, number of bytes)
    width: tuple[int, int]
    little_endian: bool
    # BMP's fields are signed: a negative height means the rows are stored top-down.
    signed: bool = False


# One table for both readers below, the graph's (Transform, serving) and ingestion's, so
# they cannot disagree. A JPEG's size is in a frame header at no fixed offset: both ask
# TensorFlow's own tf.io.extract_jpeg_shape.
_SIZE_FIELDS = (
    _SizeFields(b"\x89PNG\r\n\x1a\n", height=(20, 4), width=(16, 4), little_endian=False),
    _SizeFields(b"GIF", height=(8, 2), width=(6, 2), little_endian=True),
    _SizeFields(b"BM", height=(22, 4), width=(18, 4), little_endian=True, signed=True),
)


def _headers(image_bytes: tf.Tensor) -> tf.Tensor:
    """The first _HEADER_BYTES bytes of each of [batch] images, int64 [batch, _HEADER_BYTES],
    zero-padded where an image is shorter."""
    head = tf.strings.substr(image_bytes, 0, _HEADER_BYTES)
    padded = tf.strings.join([head, tf.constant(b"\0" * _HEADER_BYTES)])
    raw = tf.io.decode_raw(tf.strings.substr(padded, 0, _HEADER_BYTES), tf.uint8)
    return tf.cast(tf.reshape(raw, [-1, _HEADER_BYTES]), tf.int64)


def _numbers(headers: tf.Tensor, field: tuple[int, int], fields: _SizeFields) -> tf.Tensor:
    """The size in each header[start:start + length], as `fields` says it is stored: [batch]."""
    start, length = field
    weights = [256**i for i in range(length)]
    if not fields.little_endian:
        weights.reverse()
    value = tf.reduce_sum(headers[:, start : start + length] * weights, axis=1)
    if fields.signed:
        value = tf.abs(tf.where(value >= 2 ** (8 * length - 1), value - 2 ** (8 * length), value))
    return value


def encoded_image_sizes(image_bytes: tf.Tensor) -> tf.Tensor:
    """(height, width) of each of [batch] encoded images, int64 [batch, 2], read from their
    headers without decoding them.

    The fields are those TensorFlow's decoders size their output by (a GIF's logical screen,
    a JPEG's frame header). Bytes of no known format give (0, 0), for the decoder to reject.
    Whole-batch tensor operations, not a branch per image: the transform graph runs this on
    every image it sees (Transform, the Trainer, the Evaluator, serving), and a per-image
    tf.case cost 10-13% of decoding a 64 px image. Only JPEGs, whose frame header sits at no
    fixed offset, are asked of TensorFlow one by one.
    This is the graph's reader; `header_image_size` reads the same fields in Python.
    """
    headers = _headers(image_bytes)

    def starts_with(signature: bytes) -> tf.Tensor:
        return tf.reduce_all(tf.equal(headers[:, : len(signature)], list(signature)), axis=1)

    sizes = tf.zeros_like(headers[:, :2])
    for fields in _SIZE_FIELDS:
        size = tf.stack(
            [_numbers(headers, fields.height, fields), _numbers(headers, fields.width, fields)],
            axis=1,
        )
        sizes = tf.where(starts_with(fields.signature)[:, None], size, sizes)
    jpegs = tf.where(starts_with(_JPEG_SIGNATURE))
    jpeg_sizes = tf.map_fn(
        lambda jpeg: tf.cast(tf.io.extract_jpeg_shape(jpeg)[:2], tf.int64),
        tf.gather_nd(tf.reshape(image_bytes, [-1]), jpegs),
        fn_output_signature=tf.TensorSpec([2], tf.int64),
    )
    return tf.tensor_scatter_nd_update(sizes, jpegs, jpeg_sizes)


def header_image_size(image_bytes: bytes) -> tuple[int, int]:
    """(height, width) read from an encoded image's header in Python, as `encoded_image_sizes`
    reads it in the graph, for ingestion, which checks files one at a time outside any graph:
    this costs microseconds (a JPEG still asks TensorFlow, about 0.1 ms).
    Raises tf.errors.OpError for a JPEG whose header is damaged."""
    header = image_bytes[:_HEADER_BYTES].ljust(_HEADER_BYTES, b"\0")

    def number(field: tuple[int, int], fields: _SizeFields) -> int:
        start, length = field
        order = "little" if fields.little_endian else "big"
        return abs(int.from_bytes(header[start : start + length], order, signed=fields.signed))

    for fields in _SIZE_FIELDS:
        if header.startswith(fields.signature):
            return number(fields.height, fields), number(fields.width, fields)
    if header.startswith(_JPEG_SIGNATURE):
        height, width, _ = tf.io.extract_jpeg_shape(image_bytes).numpy().tolist()
        return height, width
    return 0, 0


def max_pixels(max_megapixels: float) -> int:
    return round(max_megapixels * 1_000_000)


def oversized_reason(width: object, height: object, max_megapixels: float) -> str:
    """Why an image is refused; width and height may be "{}" for tf.strings.format."""
    return f"{width}x{height} pixels, above the cap of {max_megapixels:g} megapixels"


def refuse_oversized(image_bytes: tf.Tensor, max_megapixels: float) -> tf.Operation:
    """An assertion that fails, naming the first too large image's size and the cap, when any
    of [batch] encoded images would decode to more than `max_megapixels`: only headers are
    read, nothing is decoded, so a small file declaring 20000x20000 pixels costs no memory."""
    sizes = encoded_image_sizes(image_bytes)
    oversized = sizes[:, 0] * sizes[:, 1] > max_pixels(max_megapixels)

    def first_oversized() -> tf.Tensor:
        height, width = tf.unstack(tf.boolean_mask(sizes, oversized)[0])
        reason = oversized_reason("{}", "{}", max_megapixels)
        return tf.strings.format(f"Image of {reason}: refused before decoding", [width, height])

    any_oversized = tf.reduce_any(oversized)
    message = tf.cond(any_oversized, first_oversized, lambda: tf.constant(""))
    return tf.debugging.Assert(tf.logical_not(any_oversized), [message])


def decode_image(image_bytes: tf.Tensor) -> tf.Tensor:
    """Decodes one encoded image (JPEG/PNG/BMP/GIF, any channels) to uint8 RGB [H, W, 3].

    Ingestion decodes every file with the same TensorFlow decoders (natively, to record its
    shape), so whatever passes ingestion decodes here, in Transform and in serving.
    Animated GIFs give their first frame.
    """
    image = tf.io.decode_image(image_bytes, channels=features.CHANNELS, expand_animations=False)
    image.set_shape([None, None, features.CHANNELS])
    return image


def decode_and_resize(
    image_bytes: tf.Tensor, image_size: int, max_megapixels: float | None = None
) -> tf.Tensor:
    """Encoded bytes [batch] -> float32 RGB in [0, 1], [batch, size, size, 3]. With
    `max_megapixels`, a batch holding a larger image is refused before anything is decoded
    (an InvalidArgumentError naming the image's size)."""
    checks = [] if max_megapixels is None else [refuse_oversized(image_bytes, max_megapixels)]
    with tf.control_dependencies(checks):
        image_bytes = tf.identity(image_bytes)

    def one(encoded: tf.Tensor) -> tf.Tensor:
        image = tf.image.convert_image_dtype(decode_image(encoded), tf.float32)
        return tf.image.resize(image, [image_size, image_size], antialias=True)

    return tf.map_fn(
        one,
        image_bytes,
        fn_output_signature=tf.TensorSpec([image_size, image_size, features.CHANNELS], tf.float32),
    )


def channel_mean_and_std(images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Exact per-channel mean and std over all pixels of the dataset, via two tft.mean passes.

    Every image has the same pixel count after resizing, so the mean of per-image channel
    means is the dataset channel mean, and likewise for E[x^2].
    """
    mean = tft.mean(tf.reduce_mean(images, axis=[1, 2]), reduce_instance_dims=False)
    mean_of_squares = tft.mean(
        tf.reduce_mean(tf.square(images), axis=[1, 2]), reduce_instance_dims=False
    )
    variance = tf.maximum(mean_of_squares - tf.square(mean), 0.0)
    return mean, tf.maximum(tf.sqrt(variance), MIN_STD)


def preprocessing_fn(inputs: dict[str, tf.Tensor], custom_config: dict[str, Any]) -> dict:
    """Raw features -> {image: normalized float32 [b, s, s, 3], label: int64 [b]}."""
    image_size = int(custom_config.get(IMAGE_SIZE_KEY, features.DEFAULT_IMAGE_SIZE))
    max_megapixels = float(custom_config.get(MAX_MEGAPIXELS_KEY, features.DEFAULT_MAX_MEGAPIXELS))
    image_bytes = tf.reshape(inputs[features.IMAGE_KEY], [-1])
    # The cap travels in the transform graph, so the Trainer, the Evaluator and serving
    # (which all run this graph) refuse what ingestion would have skipped.
    images = decode_and_resize(image_bytes, image_size, max_megapixels)
    mean, std = channel_mean_and_std(images)
    return {
        features.TRANSFORMED_IMAGE_KEY: (images - mean) / std,
        # Serving has no label: tf.Transform prunes this output when the input is missing.
        features.LABEL_KEY: tf.reshape(inputs[features.LABEL_KEY], [-1]),
    }


def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and floored standard deviation of images [n, h, w, c] in memory: what
    preprocessing_fn's analyzers compute over a split, for code that works outside Beam."""
    return images.mean(axis=(0, 1, 2)), np.maximum(images.std(axis=(0, 1, 2)), MIN_STD)
