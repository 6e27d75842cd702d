"""On this CPU machine the Trainer runs under the default strategy, in float32."""

import pytest
import tensorflow as tf
import tf_keras as keras

from components import devices

pytestmark = pytest.mark.unit


def test_without_gpus_the_default_strategy_keeps_the_batch():
    strategy = devices.distribution_strategy()
    assert not tf.config.list_logical_devices("GPU")
    assert strategy is tf.distribute.get_strategy()
    assert devices.global_batch_size(32, strategy) == 32


def test_mixed_precision_falls_back_to_float32_without_a_gpu():
    try:
        assert devices.set_precision(mixed=True) == devices.FULL
        assert keras.mixed_precision.global_policy().name == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")
