"""The training config rejects nonsense early and survives the trip through custom_config."""

import pytest

from components.trainer.training_config import TrainingConfig

pytestmark = pytest.mark.unit


def test_round_trips_through_a_dict():
    config = TrainingConfig(epochs=3, dropout=0.5, backbone="efficientnet_b0")
    assert TrainingConfig.from_dict(config.to_dict()) == config


def test_invalid_values_are_named():
    with pytest.raises(ValueError, match=r"epochs=0.*dropout=1\.5.*cache_budget_gb=-1"):
        TrainingConfig(epochs=0, dropout=1.5, cache_budget_gb=-1)


def test_unknown_keys_are_an_error_not_silently_dropped():
    with pytest.raises(ValueError, match="drop_out"):
        TrainingConfig.from_dict({"drop_out": 0.3})
