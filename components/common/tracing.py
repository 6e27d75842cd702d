"""AutoGraph leaves Keras's and tf.Transform's own code alone.

`tf.function` runs AutoGraph, which rewrites the source of every Python function it calls
(loops and ifs on tensors become graph ops) unless the function's module is on AutoGraph's
do-not-convert list. That list names `keras`, where Keras 2 lived up to TensorFlow 2.15. TFX
1.16 runs Keras 2 as `tf_keras`, which the list does not name, so tracing a model's train step
first rewrites all of Keras's layer, optimizer, loss and metric code, AST by AST. Keras's code
needs none of it: it ran unconverted for years under the name `keras`. Nor does tf.Transform's,
written to build graphs without AutoGraph (its own traces of the preprocessing function run
without it): unlisted, the first time the Trainer applied the transform graph (in `tf.data`,
then in the export) AutoGraph rewrote about 40 of its functions. The Trainer's own functions
that apply it are now marked to stay as written as well (training.py, export.py), so no
rewriting starts there; this rule covers every other caller.

`make bench` measured the cost on the 64 px MobileNetV2: Keras `fit` took 50 s instead of 20
at 2,000 images, and `predict` 3.9 s instead of 1.0; tf.Transform's rewriting cost 1.2 s of
every Trainer. Our own functions and layers (the augmentation, the TransferModel's train step)
are still converted.
"""

from __future__ import annotations

# AutoGraph's list has no public API; this module is where TensorFlow keeps it.
from tensorflow.python.autograph.core import config as autograph_config

# Keras 2 as TFX 1.16 runs it, and tf.Transform.
UNCONVERTED_PACKAGES = ("tf_keras", "tensorflow_transform")


def _left_unconverted(package: str) -> bool:
    for rule in autograph_config.CONVERSION_RULES:
        if rule.matches(package):
            return isinstance(rule, autograph_config.DoNotConvert)
    return False


def libraries_left_unconverted() -> bool:
    """Whether AutoGraph's rules already leave every package in UNCONVERTED_PACKAGES as it is."""
    return all(_left_unconverted(package) for package in UNCONVERTED_PACKAGES)


def leave_libraries_unconverted() -> None:
    """Adds UNCONVERTED_PACKAGES to AutoGraph's do-not-convert list (once) for this process's
    tracing.

    Call before a model or the transform graph is first traced (fit, predict, evaluate, save,
    a `tf.data` map); entry points do.
    """
    missing = [package for package in UNCONVERTED_PACKAGES if not _left_unconverted(package)]
    rules = tuple(autograph_config.DoNotConvert(package) for package in missing)
    autograph_config.CONVERSION_RULES = (*rules, *autograph_config.CONVERSION_RULES)
