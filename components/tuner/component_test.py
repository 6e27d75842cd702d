"""ImageTuner: TFX's Tuner with the training settings as the Trainer takes them."""

import json

import pytest

from components.tuner import MAX_TRIALS_KEY
from components.tuner.component import CUSTOM_CONFIG_KEY, with_trials_in_custom_config

pytestmark = pytest.mark.unit


def test_tuner_fn_gets_the_trial_count_beside_the_run_parameters_settings():
    # On Kubeflow the custom config is the run parameter's text, and a number arrives as a
    # float (a protobuf Value).
    compiled = {CUSTOM_CONFIG_KEY: '{"epochs": 2, "seed": 7}', MAX_TRIALS_KEY: 3.0, "x": "y"}

    given = with_trials_in_custom_config(compiled)

    assert json.loads(given[CUSTOM_CONFIG_KEY]) == {"epochs": 2, "seed": 7, MAX_TRIALS_KEY: 3}
    assert MAX_TRIALS_KEY not in given  # TFX's executor knows no such property
    assert given["x"] == "y"
    assert compiled[MAX_TRIALS_KEY] == 3.0  # the caller's properties are left as they were
