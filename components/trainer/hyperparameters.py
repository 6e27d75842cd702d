"""What the optional Tuner searches, and how its best values become training settings.

Four knobs, the ones the seeds say matter most when fine-tuning a small dataset: how much the
head drops out, how strongly weights decay, how fast the head learns, and how deep into the
backbone fine-tuning reaches. Shared by the Tuner (to try values) and the Trainer (to apply the
winners), so both read the same names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import keras_tuner

from components.trainer.training_config import TrainingConfig

# Share of the backbone's layers fine-tuning opens: 0 is feature extraction, 1 is full.
UNFREEZE_FRACTIONS = (0.0, 0.1, 0.3, 0.6, 1.0)
TUNED = ("dropout", "weight_decay", "learning_rate", "unfreeze_fraction")


def search_space() -> keras_tuner.HyperParameters:
    """The ranges tried; defaults are TrainingConfig's, so trial one is the untuned baseline."""
    defaults = TrainingConfig()
    hp = keras_tuner.HyperParameters()
    hp.Float("dropout", 0.0, 0.5, step=0.1, default=defaults.dropout)
    hp.Float("weight_decay", 1e-6, 1e-2, sampling="log", default=defaults.weight_decay)
    hp.Float("learning_rate", 1e-4, 1e-2, sampling="log", default=defaults.learning_rate)
    hp.Choice("unfreeze_fraction", list(UNFREEZE_FRACTIONS), default=defaults.fine_tune_fraction)
    return hp


def apply(config: TrainingConfig, values: Mapping[str, Any]) -> TrainingConfig:
    """`config` with the tuned `values` in place; an unknown name is an error, not ignored."""
    unknown = sorted(set(values) - set(TUNED))
    if unknown:
        raise ValueError(f"Unknown tuned hyperparameter(s): {', '.join(unknown)}")
    plain = ("dropout", "weight_decay", "learning_rate")
    settings = {name: values[name] for name in plain if values.get(name) is not None}
    fraction = values.get("unfreeze_fraction")
    if fraction is not None:
        if fraction <= 0:
            settings["strategy"] = "feature_extraction"
        elif fraction >= 1:
            settings["strategy"] = "full"
        else:
            settings.update(strategy="partial", fine_tune_fraction=fraction)
    return dataclasses.replace(config, **settings)


def best_values(hyperparameters_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The values in the Tuner's best_hyperparameters artifact (as TFX hands it to run_fn)."""
    if not hyperparameters_config:
        return {}
    return dict(keras_tuner.HyperParameters.from_config(hyperparameters_config).values)
