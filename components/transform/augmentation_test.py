"""Augmentation changes training batches, anew every pass, and nothing else."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from components.transform import augmentation
from components.transform.augmentation_spec import AugmentationSpec, AugmentationSpecError

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
    augmenter = augmentation.build_augmenter(AugmentationSpec(), seed=1)
    augmented = augmentation.augment(images, augmenter)

    first, second, original = batches(augmented), batches(augmented), batches(images)

    assert all(a.shape == o.shape for a, o in zip(first, original, strict=True))
    assert not any(np.allclose(a, o) for a, o in zip(first, original, strict=True))
    assert not any(np.allclose(a, b) for a, b in zip(first, second, strict=True))
    labels = [labels.numpy() for _, labels in augmented]
    np.testing.assert_array_equal(np.concatenate(labels), np.arange(8))


def test_the_same_seed_augments_the_same_images_in_the_same_batches():
    """Many batches, as a training epoch has: augmented in parallel, they would take the random
    draws in whichever order the threads ran, and a seed would not fix the images."""
    rng = np.random.default_rng(0)
    many = tf.data.Dataset.from_tensor_slices(rng.normal(size=(256, 16, 16, 3)).astype("float32"))
    many = tf.data.Dataset.zip((many, tf.data.Dataset.range(256))).batch(8)

    def one_run():
        keras.utils.set_random_seed(1)
        return batches(
            augmentation.augment(many, augmentation.build_augmenter(AugmentationSpec(), 1))
        )

    for first, second in zip(one_run(), one_run(), strict=True):
        np.testing.assert_array_equal(first, second)


def test_without_augmenter_batches_pass_unchanged(images):
    assert augmentation.augment(images, None) is images


def test_every_augmentation_is_a_setting():
    everything = augmentation.build_augmenter(AugmentationSpec(), seed=1)
    assert [type(layer).__name__ for layer in everything.layers] == [
        "RandomFlip",
        "RandomRotation",
        "RandomTranslation",
        "RandomZoom",
        "GaussianNoise",
    ]
    rotation = everything.layers[1]
    assert rotation.lower == pytest.approx(-20 / 360) and rotation.upper == pytest.approx(20 / 360)
    assert augmentation.build_augmenter(AugmentationSpec.off(), seed=1) is None
    only_noise = augmentation.build_augmenter(
        AugmentationSpec(flip=False, rotation_degrees=0, shift=0, zoom=0), seed=1
    )
    assert [type(layer).__name__ for layer in only_noise.layers] == ["GaussianNoise"]


def test_the_spec_round_trips_through_a_transform_graph_folder(tmp_path):
    spec = AugmentationSpec(flip=False, rotation_degrees=5.0, noise_stddev=0.0)
    augmentation.write_spec(str(tmp_path), spec)
    assert augmentation.read_spec(str(tmp_path)) == spec


def test_a_graph_without_a_spec_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(AugmentationSpecError, match=augmentation.SPEC_FILE):
        augmentation.read_spec(str(tmp_path))


def test_the_trainers_eval_batches_are_never_augmented_and_its_train_batches_are():
    from components.trainer import training

    rng = np.random.default_rng(1)
    pixels = rng.normal(size=(8, 16, 16, 3)).astype("float32")
    examples = tf.data.Dataset.from_tensor_slices((pixels, np.arange(8)))
    augmenter = augmentation.build_augmenter(AugmentationSpec(), seed=3)

    eval_batches = training.batches(examples, 4)  # as run_fn builds the eval data
    train_batches = training.batches(examples, 4, augmenter=augmenter)

    for _ in range(2):  # every pass
        np.testing.assert_array_equal(np.concatenate(batches(eval_batches)), pixels)
        assert not np.allclose(np.concatenate(batches(train_batches)), pixels)


def test_uncovered_borders_are_the_mean_not_a_reflection_of_the_image():
    """Normalized images have mean 0: a shifted image's uncovered border is 0, where a
    reflection would copy the image into it."""
    spec = dataclasses.replace(AugmentationSpec.off(), shift=0.5)
    augmenter = augmentation.build_augmenter(spec, seed=3)
    ones = tf.ones([8, 16, 16, 3])

    shifted = augmenter(ones, training=True).numpy()

    assert shifted.min() == 0.0  # reflect: every pixel would still be 1
    assert shifted.max() == 1.0
