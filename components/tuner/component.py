"""ImageTuner: TFX's Tuner, with the training settings as a run parameter and the trial count
apart from them.

TFX 1.16's Tuner json-dumps its custom_config at construction, so it cannot take a Kubeflow
run parameter (its Trainer can): on Kubeflow a run's `training_config` would reach the Trainer
but not the trials choosing its hyperparameters. And tuner_fn needs the trial count, which is
no training setting. Here custom_config is the training settings, a dict or a run parameter,
exactly as the Trainer gets them, and `max_trials` is a parameter of its own, which the
executor hands tuner_fn beside them.
"""

from __future__ import annotations

import json
from typing import Any

from tfx import types
from tfx.components.tuner import executor as tuner_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.orchestration import data_types
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter

from components.tuner import MAX_TRIALS_KEY

CUSTOM_CONFIG_KEY = standard_component_specs.CUSTOM_CONFIG_KEY


class ImageTunerSpec(standard_component_specs.TunerSpec):
    PARAMETERS = {
        **standard_component_specs.TunerSpec.PARAMETERS,
        MAX_TRIALS_KEY: ExecutionParameter(type=int),
    }


class Executor(tuner_executor.Executor):
    """TFX's Tuner executor, given the trial count inside the custom config tuner_fn reads."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        super().Do(input_dict, output_dict, with_trials_in_custom_config(exec_properties))


def with_trials_in_custom_config(exec_properties: dict[str, Any]) -> dict[str, Any]:
    """The properties TFX's executor expects: `max_trials` moved into the JSON custom config
    (a compiled dict, or the run parameter's text on Kubeflow)."""
    properties = dict(exec_properties)
    settings = json.loads(properties.get(CUSTOM_CONFIG_KEY) or "{}")
    settings[MAX_TRIALS_KEY] = int(properties.pop(MAX_TRIALS_KEY))
    properties[CUSTOM_CONFIG_KEY] = json.dumps(settings)
    return properties


class ImageTuner(base_component.BaseComponent):
    """TFX's Tuner (same inputs, outputs and tuner_fn contract); see the module docstring."""

    SPEC_CLASS = ImageTunerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        transform_graph: types.BaseChannel,
        schema: types.BaseChannel,
        tuner_fn: str,
        training_settings: dict[str, Any] | data_types.RuntimeParameter,
        max_trials: int,
        train_args: trainer_pb2.TrainArgs,
        eval_args: trainer_pb2.EvalArgs,
    ):
        spec = ImageTunerSpec(
            examples=examples,
            schema=schema,
            transform_graph=transform_graph,
            tuner_fn=tuner_fn,
            train_args=train_args,
            eval_args=eval_args,
            custom_config=(
                training_settings
                if isinstance(training_settings, data_types.RuntimeParameter)
                else json.dumps(training_settings, sort_keys=True)
            ),
            max_trials=max_trials,
            best_hyperparameters=types.Channel(type=standard_artifacts.HyperParameters),
            tuner_results=types.Channel(type=standard_artifacts.TunerResults),
        )
        super().__init__(spec=spec)
