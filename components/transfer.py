"""Which fine-tuning strategy to use, and what it unfreezes.

The seeds' table, for a backbone pretrained on some source data:

|                  | similar domain          | different domain                    |
|------------------|-------------------------|-------------------------------------|
| little data      | linear head on features | features from earlier stages        |
| a lot of data    | fine-tune a few layers  | fine-tune a larger number of layers |

`auto` maps it to feature_extraction / partial / partial / full. Fine-tuning is always the
second phase, after the head has learnt on the frozen base, at a much lower learning rate, with
BatchNorm layers frozen and in inference mode: unfreezing them would let small fine-tuning
batches wreck statistics learnt on far more data (keras-io's transfer learning guide).
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf
import tf_keras as keras

from components.model import is_pretrained
from components.training_config import TrainingConfig

# Below this many training images per class a dataset counts as small.
SMALL_DATA_PER_CLASS = 500
SCRATCH = "scratch"


@dataclass(frozen=True)
class FineTunePlan:
    """What the Trainer will do with the backbone, and why, in words for the logs."""

    strategy: str  # feature_extraction, partial, full or scratch; never auto
    reason: str
    unfreeze_fraction: float  # of the backbone's layers, in phase 2; 0 means no phase 2


def choose_strategy(config: TrainingConfig, train_examples: int, num_classes: int) -> FineTunePlan:
    """Resolves `auto` by the table above; explains every choice, asked for or not."""
    if not is_pretrained(config):
        return FineTunePlan(SCRATCH, "no pretrained weights: the whole network trains", 0.0)
    per_class = train_examples / max(num_classes, 1)
    size = "small" if per_class < SMALL_DATA_PER_CLASS else "large"
    if config.strategy != "auto":
        strategy = config.strategy
        reason = f"asked for ({size} data: {per_class:.0f} images per class, {config.domain})"
    else:
        strategy = {
            ("small", "similar"): "feature_extraction",
            ("small", "different"): "partial",
            ("large", "similar"): "partial",
            ("large", "different"): "full",
        }[size, config.domain]
        reason = (
            f"auto: {per_class:.0f} training images per class is {size} data "
            f"(threshold {SMALL_DATA_PER_CLASS}) and the domain is {config.domain}"
        )
    fraction = {"feature_extraction": 0.0, "partial": config.fine_tune_fraction, "full": 1.0}
    unfreeze = fraction[strategy] if config.fine_tune_epochs > 0 else 0.0
    return FineTunePlan(strategy, reason, unfreeze)


def unfreeze_top(backbone: keras.Model, fraction: float) -> int:
    """Makes the top `fraction` of the backbone's layers trainable, BatchNorm excepted.

    Returns how many layers now train. The caller must compile again for it to take effect.
    """
    layers = backbone.layers
    first = len(layers) - round(fraction * len(layers))
    backbone.trainable = True
    trainable = 0
    for index, layer in enumerate(layers):
        layer.trainable = index >= first and not isinstance(layer, keras.layers.BatchNormalization)
        trainable += int(layer.trainable and bool(layer.weights))
    return trainable


class L2SP:
    """The L2-SP penalty: strength x squared distance of weights from their starting point.

    Plain weight decay pulls weights toward zero, which for a pretrained backbone means away
    from what it learnt; L2-SP pulls them toward the pretrained values instead ("min loss +
    lambda * distance to the pre-trained hypothesis"). Added as a model loss in phase 2.
    """

    def __init__(self, variables: list[tf.Variable], strength: float):
        self.strength = strength
        self.anchors = [(variable, tf.constant(variable.numpy())) for variable in variables]

    def __call__(self) -> tf.Tensor:
        distances = [tf.reduce_sum(tf.square(v - anchor)) for v, anchor in self.anchors]
        return self.strength * tf.add_n(distances) if distances else tf.constant(0.0)
