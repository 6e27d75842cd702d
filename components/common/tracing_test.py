"""AutoGraph leaves tf_keras alone once asked, still converts our code, and training computes
exactly what it computed with Keras converted."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from tensorflow.python.autograph.impl import conversion

from components.common import tracing
from components.trainer.model import TransferModel
from components.transform import augmentation
from components.transform.augmentation_spec import AugmentationSpec

pytestmark = pytest.mark.unit


def test_stock_autograph_converts_keras_and_the_rule_stops_it(stock_autograph):
    assert not tracing.keras_left_unconverted()
    assert not conversion.is_allowlisted(keras.layers.Dense.call)

    tracing.leave_keras_unconverted()
    tracing.leave_keras_unconverted()

    assert tracing.keras_left_unconverted()
    assert conversion.is_allowlisted(keras.layers.Dense.call)
    assert conversion.is_allowlisted(keras.Model.train_step)
    rules = tracing.autograph_config.CONVERSION_RULES
    assert sum(rule.matches(tracing.KERAS_PACKAGE) for rule in rules) == 1


def test_our_own_code_is_still_converted(stock_autograph):
    tracing.leave_keras_unconverted()
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


def test_training_computes_the_same_with_keras_left_unconverted(stock_autograph):
    converted = _trained_weights()
    tracing.leave_keras_unconverted()
    unconverted = _trained_weights()

    assert len(converted) == len(unconverted)
    for before, after in zip(converted, unconverted, strict=True):
        np.testing.assert_allclose(before, after, rtol=1e-6, atol=1e-7)
