"""Random augmentation of training batches: flip, rotation, shift, zoom, pixel noise.

The Transform stage owns the spec: it is configured there, and Transform writes it into its
transform graph artifact (`augmentation.json` beside the normalization graph), so one artifact
says how training images are prepared. The Trainer reads it from there and applies it in its
input pipeline to training batches only, after the cache, so every epoch sees fresh variants;
evaluation batches and the exported model never pass through it, which keeps serving
deterministic. Images arrive normalized (mean 0, std 1 per channel), so the noise standard
deviation is in those units, and the borders a rotation, shift or zoom-out uncovers are filled
with 0, the training images' mean colour: reflecting the image into them would invent content
(a mirrored stroke next to a digit, half a second object), where a flat mean adds none.
"""

from __future__ import annotations

import os

import tensorflow as tf
import tf_keras as keras

from components.common.artifact_json import read_json, write_json
from components.transform.augmentation_spec import AugmentationSpec, AugmentationSpecError

SPEC_FILE = "augmentation.json"
# Uncovered borders take fill_value, 0 by default: the mean, in normalized units (see above).
FILL = "constant"


def write_spec(transform_graph_dir: str, spec: AugmentationSpec) -> None:
    """Puts the spec into a transform graph artifact (Transform's executor calls this)."""
    write_json(os.path.join(transform_graph_dir, SPEC_FILE), spec.to_dict())


def read_spec(transform_graph_dir: str) -> AugmentationSpec:
    """The spec Transform wrote beside its graph."""
    path = os.path.join(transform_graph_dir, SPEC_FILE)
    missing = AugmentationSpecError(
        f"No augmentation spec at {path}: the transform graph was not made by this "
        "pipeline's Transform (components.transform), which writes one."
    )
    return AugmentationSpec.from_dict(read_json(path, missing))


def build_augmenter(spec: AugmentationSpec, seed: int) -> keras.Sequential | None:
    """The spec's augmentation layers, or None if every one is off."""
    layers = []
    if spec.flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if spec.rotation_degrees:
        factor = spec.rotation_degrees / 360.0  # Keras counts in full turns
        layers.append(keras.layers.RandomRotation(factor, fill_mode=FILL, seed=seed))
    if spec.shift:
        layers.append(
            keras.layers.RandomTranslation(spec.shift, spec.shift, fill_mode=FILL, seed=seed)
        )
    if spec.zoom:
        layers.append(keras.layers.RandomZoom(spec.zoom, fill_mode=FILL, seed=seed))
    if spec.noise_stddev:
        layers.append(keras.layers.GaussianNoise(spec.noise_stddev, seed=seed))
    return keras.Sequential(layers, name="augmentation") if layers else None


def augment(dataset: tf.data.Dataset, augmenter: keras.Sequential | None) -> tf.data.Dataset:
    """Applies `augmenter` to the images of (image, label) batches, anew on every pass.

    One batch at a time: the random layers draw from one stream each, and batches augmented
    in parallel take their draws in whichever order the threads run, so the same seed gave
    other images, checks and models from run to run. The caller's prefetch still overlaps
    augmenting the next batch with training on this one."""
    if augmenter is None:
        return dataset
    return dataset.map(lambda images, labels: (augmenter(images, training=True), labels))
