"""Which fine-tuning strategy to use, and what it unfreezes.

The seeds' table, for a backbone pretrained on some source data:

|                  | similar domain          | different domain                    |
|------------------|-------------------------|-------------------------------------|
| little data      | linear head on features | features from earlier stages        |
| a lot of data    | fine-tune a few layers  | fine-tune a larger number of layers |

The table is a guess about the data; `auto` measures instead. It always trains the head on the
frozen backbone first (phase 1, feature extraction), then fine-tunes (phase 2: the top
`fine_tune_fraction` of the backbone for `DOMAIN=similar`, all of it for `different`, the
default: the offline backbone learnt generated shapes, unlike anyone's photos or scans), and
keeps the fine-tuning only if it predicts the validation part of the training split better
than the head alone beyond the noise (training.fine_tuning_check); otherwise the head.
So `DOMAIN` only picks how deep the fine-tuning it tries goes; it cannot sink a run below what
the head alone reaches. An explicit strategy is kept to in the same way: a fine-tuning that
does not clearly beat its own phase 1 is undone.

Fine-tuning runs at a lower learning rate than the head. BatchNorm layers in the opened part
train when batches allow (see training.MIN_BATCH_NORM_BATCH): their statistics then follow the
target data, not the source's, which matters most where the two differ (measured: a real
grayscale set fine-tuned with BatchNorm frozen on the source statistics reached 0.62, trainable
0.978). Layers below the opened part, BatchNorm included, keep the source's.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf
import tf_keras as keras

from components.trainer.model import is_pretrained
from components.trainer.training_config import TrainingConfig

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
        strategy = "partial" if config.domain == "similar" else "full"
        depth = "the top of the backbone" if strategy == "partial" else "the whole backbone"
        reason = (
            f"auto: the head on the frozen backbone, then fine-tuning {depth} (the domain is "
            f"{config.domain}; {per_class:.0f} training images per class); fine-tuning is kept "
            "only if it predicts the validation images better than the head beyond the noise"
        )
    fraction = {"feature_extraction": 0.0, "partial": config.fine_tune_fraction, "full": 1.0}
    unfreeze = fraction[strategy] if config.fine_tune_epochs > 0 else 0.0
    return FineTunePlan(strategy, reason, unfreeze)


def unfreeze_top(
    backbone: keras.Model, fraction: float, train_batch_norm: bool = True
) -> tuple[int, int]:
    """Makes the top `fraction` of the backbone's layers trainable.

    BatchNorm layers among them train too when `train_batch_norm` (batches large enough for
    their statistics): they then normalize with each batch's statistics and their moving ones
    follow this data, not the source's; otherwise they stay frozen on the source's. Returns
    (layers with weights that now train, of which BatchNorm). The caller must compile again.
    """
    layers = backbone.layers
    first = len(layers) - round(fraction * len(layers))
    backbone.trainable = True
    trainable = batch_norms = 0
    for index, layer in enumerate(layers):
        is_batch_norm = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = index >= first and (train_batch_norm or not is_batch_norm)
        opened = layer.trainable and bool(layer.weights)
        trainable += int(opened)
        batch_norms += int(opened and is_batch_norm)
    return trainable, batch_norms


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
