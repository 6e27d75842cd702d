"""Where training runs: every local GPU through tf.distribute, else the default device.

On a GPU node with several GPUs, MirroredStrategy keeps a replica per GPU and averages their
gradients; the configured batch size is per replica, so the global batch grows with them. With
one GPU or none, the default strategy: the same code, unchanged, on this CPU machine.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras
from absl import logging

MIXED = "mixed_float16"
FULL = "float32"


def distribution_strategy() -> tf.distribute.Strategy:
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def global_batch_size(per_replica: int, strategy: tf.distribute.Strategy) -> int:
    return per_replica * strategy.num_replicas_in_sync


def set_precision(mixed: bool) -> str:
    """Mixed float16 where asked for and a GPU is present (on a CPU it only slows things down).

    Returns the Keras dtype policy now in force. Set on every run: the policy is global.
    """
    has_gpu = bool(tf.config.list_logical_devices("GPU"))
    policy = MIXED if mixed and has_gpu else FULL
    if mixed and not has_gpu:
        logging.info("Mixed precision asked for, but there is no GPU: training in float32.")
    keras.mixed_precision.set_global_policy(policy)
    return policy
