"""Augmentation changes training batches, anew every pass, and nothing else."""

import numpy as np
import pytest
import tensorflow as tf

from components import augmentation
from components.training_config import TrainingConfig

pytestmark = pytest.mark.unit


def batches(dataset):
    return [images.numpy() for images, _ in dataset]


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return tf.data.Dataset.from_tensor_slices(
        (rng.normal(size=(8, 16, 16, 3)).astype("float32"), np.arange(8))
    ).batch(4)


def test_training_batches_change_and_differ_every_pass(images):
    augmenter = augmentation.build_augmenter(TrainingConfig())
    augmented = augmentation.augment(images, augmenter)

    first, second, original = batches(augmented), batches(augmented), batches(images)

    assert all(a.shape == o.shape for a, o in zip(first, original, strict=True))
    assert not any(np.allclose(a, o) for a, o in zip(first, original, strict=True))
    assert not any(np.allclose(a, b) for a, b in zip(first, second, strict=True))
    labels = [labels.numpy() for _, labels in augmented]
    np.testing.assert_array_equal(np.concatenate(labels), np.arange(8))


def test_without_augmenter_batches_pass_unchanged(images):
    assert augmentation.augment(images, None) is images


def test_every_augmentation_is_a_setting():
    everything = augmentation.build_augmenter(TrainingConfig())
    assert [type(layer).__name__ for layer in everything.layers] == [
        "RandomFlip",
        "RandomRotation",
        "RandomTranslation",
        "RandomZoom",
        "GaussianNoise",
    ]
    rotation = everything.layers[1]
    assert rotation.lower == pytest.approx(-20 / 360) and rotation.upper == pytest.approx(20 / 360)
    off = TrainingConfig(
        augment_flip=False,
        augment_rotation_degrees=0,
        augment_shift=0,
        augment_zoom=0,
        augment_noise_stddev=0,
    )
    assert augmentation.build_augmenter(off) is None
    only_noise = augmentation.build_augmenter(
        TrainingConfig(
            augment_flip=False, augment_rotation_degrees=0, augment_shift=0, augment_zoom=0
        )
    )
    assert [type(layer).__name__ for layer in only_noise.layers] == ["GaussianNoise"]
