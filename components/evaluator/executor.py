"""TFX's Evaluator executor, with the baseline from BaselineModel and per-class metrics.

- BaselineModel always outputs one artifact; on the first run it is empty (no version served
  yet). TFX's Evaluator would try to load it, so this executor drops an empty baseline and TFX
  then judges the candidate by the value thresholds alone (its "rubber stamp" rule).
- Per-class metrics need the class count, known only once ExampleGen has run: the executor
  adds them to the eval config from the class names recorded beside the examples.
"""

from __future__ import annotations

from typing import Any

import tensorflow_model_analysis as tfma
from tfx import types
from tfx.components.evaluator import executor as evaluator_executor
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components import evaluation, features
from components.model_registry.component import baseline_version

BASELINE_KEY = standard_component_specs.BASELINE_MODEL_KEY
EVAL_CONFIG_KEY = standard_component_specs.EVAL_CONFIG_KEY


def without_empty_baseline(
    input_dict: dict[str, list[types.Artifact]],
) -> dict[str, list[types.Artifact]]:
    """`input_dict` minus a baseline that holds no model."""
    baselines = input_dict.get(BASELINE_KEY) or []
    if baselines and all(baseline_version(b) == 0 for b in baselines):
        return {key: value for key, value in input_dict.items() if key != BASELINE_KEY}
    return input_dict


def with_per_class_metrics(exec_properties: dict[str, Any], num_classes: int) -> dict[str, Any]:
    """`exec_properties` with the per-class metrics spec added to the eval config."""
    config = tfma.EvalConfig()
    proto_utils.json_to_proto(exec_properties[EVAL_CONFIG_KEY], config)
    config.metrics_specs.append(evaluation.per_class_metrics_spec(num_classes))
    return {**exec_properties, EVAL_CONFIG_KEY: proto_utils.proto_to_json(config)}


class Executor(evaluator_executor.Executor):
    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        examples = artifact_utils.get_single_instance(
            input_dict[standard_component_specs.EXAMPLES_KEY]
        )
        num_classes = len(features.read_class_names(examples.uri))
        super().Do(
            without_empty_baseline(input_dict),
            output_dict,
            with_per_class_metrics(exec_properties, num_classes),
        )
