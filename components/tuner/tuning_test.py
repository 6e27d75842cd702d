"""The Tuner stage: what it searches, how winners become settings, and a real (tiny) search."""

import numpy as np
import pytest
import tensorflow as tf

from components.trainer import hyperparameters, training
from components.trainer.model import build_backbone
from components.trainer.training_config import TrainingConfig
from components.tuner import tuning

pytestmark = pytest.mark.unit

SIZE = 32


def test_every_tuned_knob_is_in_the_search_space_with_the_untuned_default():
    space = hyperparameters.search_space()
    defaults = TrainingConfig()
    assert set(space.values) == set(hyperparameters.TUNED)
    assert space.values["dropout"] == defaults.dropout
    assert space.values["weight_decay"] == defaults.weight_decay
    assert space.values["learning_rate"] == defaults.learning_rate
    assert space.values["unfreeze_fraction"] == defaults.fine_tune_fraction


@pytest.mark.parametrize(
    ("fraction", "strategy", "fine_tune_fraction"),
    [(0.0, "feature_extraction", 0.3), (0.6, "partial", 0.6), (1.0, "full", 0.3)],
)
def test_unfreeze_depth_becomes_a_fine_tuning_strategy(fraction, strategy, fine_tune_fraction):
    values = {"dropout": 0.4, "weight_decay": 1e-3, "learning_rate": 5e-3}
    config = hyperparameters.apply(TrainingConfig(), {**values, "unfreeze_fraction": fraction})
    assert (config.strategy, config.fine_tune_fraction) == (strategy, fine_tune_fraction)
    assert (config.dropout, config.weight_decay, config.learning_rate) == (0.4, 1e-3, 5e-3)


def test_an_unknown_tuned_name_is_an_error_naming_it():
    with pytest.raises(ValueError, match="momentum"):
        hyperparameters.apply(TrainingConfig(), {"momentum": 0.9})


def test_no_tuner_means_no_change():
    assert hyperparameters.best_values(None) == {}
    assert hyperparameters.apply(TrainingConfig(), {}) == TrainingConfig()


def test_the_held_out_slice_is_every_fifth_example_and_disjoint_from_the_rest():
    examples = tf.data.Dataset.from_tensor_slices((tf.range(12), tf.range(12) * 10))
    fit, held_out = training.split_validation(examples)
    fit_ids = [int(image) for image, _ in fit]
    held_ids = [int(image) for image, _ in held_out]
    assert held_ids == [0, 5, 10]
    assert sorted(fit_ids + held_ids) == list(range(12))
    assert [int(label) for _, label in held_out] == [0, 50, 100]
    assert training.validation_count(12) == 3


def tiny_data(seed: int) -> training.TrainingData:
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(20, SIZE, SIZE, 3)).astype("float32")
    examples = tf.data.Dataset.from_tensor_slices((images, np.arange(20) % 2))
    return training.TrainingData.from_training_split(examples, 20, 8, cache=False)


def test_a_search_trains_each_trial_and_hands_the_trainer_the_lowest_loss(tmp_path):
    weights = str(tmp_path / "backbone.weights.h5")
    build_backbone(TrainingConfig(image_size=SIZE)).save_weights(weights)
    config = TrainingConfig(image_size=SIZE, weights=weights, epochs=1, fine_tune_epochs=0)
    tuner = tuning.TransferTuner(
        config, num_classes=2, train_examples=16, max_trials=2, directory=str(tmp_path / "t")
    )

    tuner.search(data=tiny_data(0))

    trials = list(tuner.oracle.trials.values())
    assert [t.status for t in trials] == ["COMPLETED", "COMPLETED"]
    assert trials[0].hyperparameters.values != trials[1].hyperparameters.values
    losses = {t.trial_id: t.metrics.get_best_value("val_loss") for t in trials}
    assert all(np.isfinite(loss) for loss in losses.values())
    best = tuner.get_best_hyperparameters()[0]
    assert best.values == tuner.oracle.trials[min(losses, key=losses.get)].hyperparameters.values
    # What the Trainer receives is the JSON config TFX writes; it must round-trip.
    assert hyperparameters.best_values(best.get_config()) == best.values
