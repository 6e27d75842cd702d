"""AutoGraph leaves tf_keras and tf.Transform alone once asked, still converts our code, and
training and the transform graph compute exactly what they computed converted."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tensorflow.python.autograph.impl import conversion
from tensorflow_transform.saved import saved_transform_io_v2

from components import features
from components.common import tracing
from components.trainer.model import TransferModel
from components.transform import augmentation
from components.transform.augmentation_spec import AugmentationSpec
from tests.helpers import encode_image, transform_with_graph

pytestmark = pytest.mark.unit


def test_stock_autograph_converts_the_libraries_and_the_rules_stop_it(stock_autograph):
    assert not tracing.libraries_left_unconverted()
    assert not conversion.is_allowlisted(keras.layers.Dense.call)
    assert not conversion.is_allowlisted(tft.TFTransformOutput.transform_raw_features)

    tracing.leave_libraries_unconverted()
    tracing.leave_libraries_unconverted()

    assert tracing.libraries_left_unconverted()
    assert conversion.is_allowlisted(keras.layers.Dense.call)
    assert conversion.is_allowlisted(keras.Model.train_step)
    assert conversion.is_allowlisted(tft.TFTransformOutput.transform_raw_features)
    assert conversion.is_allowlisted(saved_transform_io_v2.SavedModelLoader.apply_transform_model)
    rules = tracing.autograph_config.CONVERSION_RULES
    for package in tracing.UNCONVERTED_PACKAGES:
        assert sum(rule.matches(package) for rule in rules) == 1


def test_our_own_code_is_still_converted(stock_autograph):
    tracing.leave_libraries_unconverted()
    assert not conversion.is_allowlisted(TransferModel.train_step)
    assert not conversion.is_allowlisted(augmentation.augment)


def _trained_weights() -> list[np.ndarray]:
    """A small conv net with BatchNorm and dropout, behind the default augmentation: two
    epochs of `fit` from a fixed seed."""
    keras.utils.set_random_seed(7)
    images = np.random.default_rng(0).normal(size=(64, 16, 16, 3)).astype("float32")
    labels = np.arange(64) % 3
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.3)(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
    augmenter = augmentation.build_augmenter(AugmentationSpec(), seed=7)
    # In order (no parallel map), so the augmentation's random draws repeat run to run.
    data = data.map(lambda x, y: (augmenter(x, training=True), y))
    model.fit(data, epochs=2, verbose=0)
    return model.get_weights()


def test_training_computes_the_same_with_libraries_left_unconverted(stock_autograph):
    converted = _trained_weights()
    tracing.leave_libraries_unconverted()
    unconverted = _trained_weights()

    assert len(converted) == len(unconverted)
    for before, after in zip(converted, unconverted, strict=True):
        np.testing.assert_allclose(before, after, rtol=1e-6, atol=1e-7)


def _transformed_images(tft_output: tft.TFTransformOutput, images: list[bytes]) -> np.ndarray:
    """The images through the transform graph in a `tf.data` map, as the Trainer applies it."""
    data = tf.data.Dataset.from_tensor_slices({features.IMAGE_KEY: [[image] for image in images]})
    data = data.batch(len(images)).map(tft_output.transform_raw_features)
    return next(iter(data))[features.TRANSFORMED_IMAGE_KEY].numpy()


def test_the_transform_graph_computes_the_same_with_tf_transform_left_unconverted(
    stock_autograph, tmp_path
):
    images = [encode_image(size=(13, 9), seed=seed) for seed in range(3)]
    graph_dir, _ = transform_with_graph(images, [0, 1, 2], str(tmp_path), 8, 64.0)
    converted = _transformed_images(tft.TFTransformOutput(graph_dir), images)
    tracing.leave_libraries_unconverted()

    unconverted = _transformed_images(tft.TFTransformOutput(graph_dir), images)

    np.testing.assert_array_equal(converted, unconverted)
