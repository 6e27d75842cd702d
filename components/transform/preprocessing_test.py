"""preprocessing_fn run by tf.Transform on Beam, on a few real encoded images."""

import functools

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from components import features
from components.transform import preprocessing
from tests.helpers import encode_image

pytestmark = pytest.mark.unit

IMAGE_SIZE = 8
RAW_SPEC = {
    features.IMAGE_KEY: tf.io.FixedLenFeature([1], tf.string),
    features.LABEL_KEY: tf.io.FixedLenFeature([1], tf.int64),
}


def analyze_and_transform(images: list[bytes], labels: list[int], temp_dir: str):
    raw = [
        {features.IMAGE_KEY: [image], features.LABEL_KEY: [label]}
        for image, label in zip(images, labels, strict=True)
    ]
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(RAW_SPEC))
    fn = functools.partial(
        preprocessing.preprocessing_fn, custom_config={preprocessing.IMAGE_SIZE_KEY: IMAGE_SIZE}
    )
    with tft_beam.Context(temp_dir=temp_dir):
        (transformed, _), _ = (raw, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
    return transformed


def test_images_of_any_size_and_channels_come_out_normalized_per_channel(tmp_path):
    images = [
        encode_image("RGB", size=(31, 17), fmt="PNG", seed=1),
        encode_image("L", size=(10, 40), fmt="JPEG", seed=2),
        encode_image("RGBA", size=(8, 8), fmt="PNG", seed=3),
        encode_image("P", size=(64, 12), fmt="GIF", seed=4),
    ]
    transformed = analyze_and_transform(images, [0, 1, 1, 0], str(tmp_path))

    pixels = np.stack([row[features.TRANSFORMED_IMAGE_KEY] for row in transformed])
    assert pixels.shape == (4, IMAGE_SIZE, IMAGE_SIZE, 3)
    assert pixels.dtype == np.float32
    # Mean and std are the tf.Transform analyzers' full-pass values: exact over this data.
    np.testing.assert_allclose(pixels.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(pixels.std(axis=(0, 1, 2)), 1.0, atol=1e-3)
    assert [int(row[features.LABEL_KEY]) for row in transformed] == [0, 1, 1, 0]


def test_constant_channel_does_not_divide_by_zero(tmp_path):
    black = np.zeros((6, 6, 3), np.uint8)
    encoded = tf.io.encode_png(black).numpy()
    transformed = analyze_and_transform([encoded, encoded], [0, 1], str(tmp_path))

    pixels = np.stack([row[features.TRANSFORMED_IMAGE_KEY] for row in transformed])
    assert np.isfinite(pixels).all()
    np.testing.assert_array_equal(pixels, 0.0)


def test_statistics_are_the_whole_datas_not_each_images(tmp_path):
    # Two flat images: standardized each on its own, both would be all zeros; standardized by
    # the training data's statistics (mean 125/255, std 75/255), one is -1 and the other +1.
    dark, bright = (tf.io.encode_png(np.full((6, 6, 3), v, np.uint8)).numpy() for v in (50, 200))

    transformed = analyze_and_transform([dark, bright], [0, 1], str(tmp_path))

    pixels = [row[features.TRANSFORMED_IMAGE_KEY] for row in transformed]
    np.testing.assert_allclose(pixels[0], -1.0, atol=1e-3)
    np.testing.assert_allclose(pixels[1], 1.0, atol=1e-3)
