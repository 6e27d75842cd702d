"""AutoGraph leaves Keras's own code alone, as TensorFlow meant it to.

`tf.function` runs AutoGraph, which rewrites the source of every Python function it calls
(loops and ifs on tensors become graph ops) unless the function's module is on AutoGraph's
do-not-convert list. That list names `keras`, where Keras 2 lived up to TensorFlow 2.15. TFX
1.16 runs Keras 2 as `tf_keras`, which the list does not name, so tracing a model's train step
first rewrites all of Keras's layer, optimizer, loss and metric code, AST by AST. Keras's code
needs none of it: it ran unconverted for years under the name `keras`.

`make bench` measured the cost on the 64 px MobileNetV2: Keras `fit` took 50 s instead of 20
at 2,000 images, and `predict` 3.9 s instead of 1.0. Our own functions and layers (the
augmentation, the TransferModel's train step) are still converted.
"""

from __future__ import annotations

# AutoGraph's list has no public API; this module is where TensorFlow keeps it.
from tensorflow.python.autograph.core import config as autograph_config

KERAS_PACKAGE = "tf_keras"


def keras_left_unconverted() -> bool:
    """Whether AutoGraph's rules already leave tf_keras's functions as they are."""
    for rule in autograph_config.CONVERSION_RULES:
        if rule.matches(KERAS_PACKAGE):
            return isinstance(rule, autograph_config.DoNotConvert)
    return False


def leave_keras_unconverted() -> None:
    """Adds tf_keras to AutoGraph's do-not-convert list (once) for this process's tracing.

    Call before a model is first traced (fit, predict, evaluate, save); entry points do.
    """
    if not keras_left_unconverted():
        rule = autograph_config.DoNotConvert(KERAS_PACKAGE)
        autograph_config.CONVERSION_RULES = (rule, *autograph_config.CONVERSION_RULES)
