"""Transform's preprocessing_fn: decode, resize, normalize per channel.

The mean and standard deviation per channel are tf.Transform analyzers over the training split,
so they are computed once by Beam and baked into the transform graph as constants. The Trainer
and the served model run this same graph, which is why serving equals training.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from components import features

IMAGE_SIZE_KEY = "image_size"
# The floor of a channel's standard deviation: a constant-colour channel must not divide by
# zero. The experiments' plain baselines normalize with the same floor (channel_stats).
MIN_STD = 1e-3


def decode_image(image_bytes: tf.Tensor) -> tf.Tensor:
    """Decodes one encoded image (JPEG/PNG/BMP/GIF, any channels) to uint8 RGB [H, W, 3].

    Ingestion decodes every file with the same TensorFlow decoders (natively, to record its
    shape), so whatever passes ingestion decodes here, in Transform and in serving.
    Animated GIFs give their first frame.
    """
    image = tf.io.decode_image(image_bytes, channels=features.CHANNELS, expand_animations=False)
    image.set_shape([None, None, features.CHANNELS])
    return image


def decode_and_resize(image_bytes: tf.Tensor, image_size: int) -> tf.Tensor:
    """Encoded bytes [batch] -> float32 RGB in [0, 1], [batch, size, size, 3]."""

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
    image_bytes = tf.reshape(inputs[features.IMAGE_KEY], [-1])
    images = decode_and_resize(image_bytes, image_size)
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
