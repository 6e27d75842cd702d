"""Random augmentation of training batches: flip, rotation, shift, zoom, pixel noise.

It runs in the Trainer's input pipeline on training batches only, after the cache, so every
epoch sees fresh variants; evaluation batches and the exported model never pass through it,
which keeps serving deterministic. Images arrive normalized (mean 0, std 1 per channel), so
the noise standard deviation is in those units and borders are filled by reflection.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from components.training_config import TrainingConfig


def build_augmenter(config: TrainingConfig) -> keras.Sequential | None:
    """The configured augmentation layers, or None if every one is off."""
    seed = config.seed
    layers = []
    if config.augment_flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if config.augment_rotation_degrees:
        factor = config.augment_rotation_degrees / 360.0  # Keras counts in full turns
        layers.append(keras.layers.RandomRotation(factor, fill_mode="reflect", seed=seed))
    if config.augment_shift:
        shift = config.augment_shift
        layers.append(keras.layers.RandomTranslation(shift, shift, fill_mode="reflect", seed=seed))
    if config.augment_zoom:
        layers.append(keras.layers.RandomZoom(config.augment_zoom, fill_mode="reflect", seed=seed))
    if config.augment_noise_stddev:
        layers.append(keras.layers.GaussianNoise(config.augment_noise_stddev, seed=seed))
    return keras.Sequential(layers, name="augmentation") if layers else None


def augment(dataset: tf.data.Dataset, augmenter: keras.Sequential | None) -> tf.data.Dataset:
    """Applies `augmenter` to the images of (image, label) batches, anew on every pass."""
    if augmenter is None:
        return dataset
    return dataset.map(
        lambda images, labels: (augmenter(images, training=True), labels),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
