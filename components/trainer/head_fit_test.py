"""The head's one-call-per-epoch training reproduces Keras's fit, callbacks included."""

import dataclasses

import numpy as np
import pytest

from components.trainer import head_fit, training
from components.trainer import model as model_lib
from components.trainer.training_config import TrainingConfig

pytestmark = pytest.mark.unit

# Nothing random in a step (no dropout) and one batch per epoch (the order of the examples
# then changes nothing but the order of a sum): the two loops must agree to rounding. Both
# penalties and label smoothing are on, so the compiled loss is the one being reproduced.
DETERMINISTIC = TrainingConfig(dropout=0.0, l1=1e-4, weight_decay=1e-3, label_smoothing=0.1)


def separable(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 3
    centres = np.random.default_rng(0).normal(size=(3, 16))
    return (0.4 * centres[labels] + rng.normal(size=(count, 16))).astype("float32"), labels


def train_both(config: TrainingConfig, epochs: int, batch_size: int) -> tuple:
    """(history, weights) of Keras's fit and of fit_on_features from the same start."""
    fit, validation = separable(60, seed=1), separable(30, seed=2)
    results = []
    for loop in ("keras", "one call per epoch"):
        head = model_lib.new_head(config, 3, 16)
        model_lib.standardize_head(head, fit[0])
        model_lib.compile_model(head, config, config.learning_rate, epochs)
        callbacks = training._callbacks(config, None, head_on_features=True)
        if loop == "keras":
            history = head.fit(
                *fit,
                batch_size=batch_size,
                epochs=epochs,
                validation_data=validation,
                callbacks=callbacks,
                verbose=0,
            )
        else:
            history = head_fit.fit_on_features(
                head,
                fit,
                validation,
                epochs=epochs,
                batch_size=batch_size,
                callbacks=callbacks,
                seed=0,
            )
        results.append((history.history, head.get_weights()))
    return results


def test_one_call_per_epoch_trains_as_keras_fit_does_with_its_callbacks():
    # A high rate overfits 60 examples quickly: early stopping (patience 15) and the plateau
    # schedule both act well before the 300 epochs.
    config = dataclasses.replace(DETERMINISTIC, learning_rate=0.05)
    (keras_history, keras_weights), (history, weights) = train_both(config, 300, batch_size=64)

    assert len(keras_history["loss"]) < 300  # early stopping acted
    assert min(keras_history["lr"]) < config.learning_rate  # so did the plateau schedule
    assert sorted(history) == sorted(keras_history)
    assert len(history["loss"]) == len(keras_history["loss"])
    for name, values in keras_history.items():
        if name == training.EPOCH_SECONDS_KEY:  # wall time, the same key; not a training result
            continue
        np.testing.assert_allclose(history[name], values, rtol=1e-4, atol=1e-6, err_msg=name)
    # The best epoch's weights, restored; a hundred epochs of rounding (L1 is not smooth) move
    # them by ~1e-4 of their ~0.2, a wrong step by far more.
    for ours, theirs in zip(weights, keras_weights, strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-3)


def test_every_batch_of_an_epoch_takes_a_step():
    config = dataclasses.replace(DETERMINISTIC, early_stopping=False, lr_schedule="constant")
    head = model_lib.new_head(config, 3, 16)
    model_lib.compile_model(head, config, config.learning_rate, 2)
    fit, validation = separable(50, seed=1), separable(10, seed=2)

    head_fit.fit_on_features(head, fit, validation, epochs=2, batch_size=16, callbacks=[], seed=0)

    assert int(head.optimizer.iterations) == 2 * 4  # 16 + 16 + 16 + 2 per epoch
