"""Where training runs: the default strategy on this CPU machine, and MirroredStrategy proven on
two logical CPU devices standing in for two GPUs."""

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from components.trainer import devices
from components.trainer.training_config import TrainingConfig

pytestmark = pytest.mark.unit

# Two phases, the second with the backbone on its own optimizer; nothing random in the step
# (no dropout, BatchNorm frozen: a batch of 8 per replica is below what it trains on), so
# replicas must reproduce a single device exactly.
TINY = TrainingConfig(
    image_size=32,
    epochs=1,
    batch_size=8,
    fine_tune_epochs=1,
    strategy="full",
    early_stopping=False,
    lr_schedule="constant",
    dropout=0.0,
)


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


def train_on_replicas(replicas: int, weights_path: str) -> tuple[list, list]:
    """(initial, final) weights of two-phase training on `replicas` mirrored CPU devices."""
    from components.trainer import fine_tuning, training
    from components.trainer.model import build_model

    settings = dataclasses.replace(TINY, weights=weights_path)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(20, TINY.image_size, TINY.image_size, 3)).astype("float32")
    examples = tf.data.Dataset.from_tensor_slices((images, np.arange(20) % 2))
    data = training.TrainingData.from_training_split(examples, 20, 16, cache=False)
    strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(replicas)])
    assert strategy.num_replicas_in_sync == replicas
    with strategy.scope():
        model = build_model(settings, num_classes=2)
        initial = model.get_weights()
        plan = fine_tuning.choose_strategy(settings, 20, 2)
        training.train(model, data, settings, plan)
    return initial, model.get_weights()


def main(weights_path: str, out: str) -> None:
    """Trains on one replica, then on two, in this (fresh) process; saves the weights to `out`.

    Logical devices can only be set before TensorFlow starts, hence the separate process. It
    runs eagerly: tracing MobileNetV2 under MirroredStrategy costs minutes on two cores, and
    what is tested (gradients of both optimizers averaged across replicas) is the same.
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    tf.config.run_functions_eagerly(True)
    initial, one = train_on_replicas(1, weights_path)
    _, two = train_on_replicas(2, weights_path)
    arrays = {}
    for name, weights in (("initial", initial), ("one", one), ("two", two)):
        arrays.update({f"{name}_{i}": w for i, w in enumerate(weights)})
    np.savez(out, **arrays)


def test_mirrored_replicas_train_like_one_device_with_differential_rates(tmp_path):
    from tests.helpers import calibrated_backbone_weights

    shape = (32, TINY.image_size, TINY.image_size, 3)
    noise = np.random.default_rng(1).normal(size=shape).astype("float32")
    weights = calibrated_backbone_weights(str(tmp_path / "backbone.weights.h5"), noise)
    out = str(tmp_path / "weights.npz")
    subprocess.run(
        [sys.executable, "-m", "components.trainer.devices_test", weights, out],
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    with np.load(out) as saved:
        count = len(saved) // 3
        initial, one, two = (
            [saved[f"{run}_{i}"] for i in range(count)] for run in ("initial", "one", "two")
        )

    moved = sum(not np.array_equal(a, b) for a, b in zip(initial, one, strict=True))
    assert moved > 2  # more than the head's kernel and bias: the backbone fine-tuned too
    for single, mirrored in zip(one, two, strict=True):
        np.testing.assert_allclose(mirrored, single, rtol=1e-4, atol=1e-5)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
