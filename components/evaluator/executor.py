"""TFX's Evaluator executor, with the baseline from BaselineModel and per-class metrics.

- BaselineModel always outputs one artifact; on the first run it is empty (no version served
  yet). TFX's Evaluator would try to load it, so this executor drops an empty baseline and TFX
  then judges the candidate by the value thresholds alone (its "rubber stamp" rule).
- Per-class metrics need the class count, known only once ExampleGen has run: the executor
  completes the eval config from the class names recorded beside the examples.
- TFMA computes accuracy and loss with Keras metrics, tracing their `update_state`: AutoGraph
  must leave Keras's code alone here too (components/common/tracing.py), or it rewrites it first in
  every process that has not trained (on Kubeflow, every Evaluator pod): 2-3 s.
- Then it writes the human-readable evaluation report (evaluation_report.py, beside it) into
  the evaluation artifact, beside the metrics it describes, on every orchestrator alike.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import tensorflow_model_analysis as tfma
from tfx import types
from tfx.components.evaluator import constants as evaluator_constants
from tfx.components.evaluator import executor as evaluator_executor
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.common import tracing
from components.evaluator import evaluation, evaluation_report
from components.example_gen.class_names import read_class_names
from components.registry.component import (
    baseline_version,
    class_set_change,
    served_class_names,
)

BASELINE_KEY = standard_component_specs.BASELINE_MODEL_KEY
EVAL_CONFIG_KEY = standard_component_specs.EVAL_CONFIG_KEY
EVALUATION_KEY = standard_component_specs.EVALUATION_KEY
BLESSING_KEY = standard_component_specs.BLESSING_KEY
BLESSED_PROPERTY = evaluator_constants.ARTIFACT_PROPERTY_BLESSED_KEY  # 1 blessed, 0 not


def comparable_inputs(
    input_dict: dict[str, list[types.Artifact]], class_names: list[str]
) -> tuple[dict[str, list[types.Artifact]], str | None]:
    """`input_dict` minus a baseline that holds no model, or one that answers with other
    classes (then also how they differ): TFMA compares the two models label id by label id, so
    an id must name the same class in both, or the comparison is meaningless."""
    baselines = input_dict.get(BASELINE_KEY) or []
    if not baselines:
        return input_dict, None
    change = class_set_change(served_class_names(baselines[0]), class_names)
    if change or all(baseline_version(b) == 0 for b in baselines):
        return {key: value for key, value in input_dict.items() if key != BASELINE_KEY}, change
    return input_dict, None


def read_eval_config(exec_properties: dict[str, Any]) -> tfma.EvalConfig:
    config = tfma.EvalConfig()
    proto_utils.json_to_proto(exec_properties[EVAL_CONFIG_KEY], config)
    return config


def with_classes(exec_properties: dict[str, Any], num_classes: int) -> dict[str, Any]:
    """`exec_properties` with the eval config's one-vs-rest specs naming every class."""
    config = evaluation.for_classes(read_eval_config(exec_properties), num_classes)
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
        class_names = read_class_names(examples.uri)
        tracing.leave_libraries_unconverted()
        judged, class_change = comparable_inputs(input_dict, class_names)
        if class_change:
            logging.warning("Not compared with the served version: %s.", class_change)
        super().Do(judged, output_dict, with_classes(exec_properties, len(class_names)))
        evaluation_uri = artifact_utils.get_single_uri(output_dict[EVALUATION_KEY])
        blessing = artifact_utils.get_single_instance(output_dict[BLESSING_KEY])
        baselines = input_dict.get(BASELINE_KEY) or []
        report_path = evaluation_report.write(
            os.path.join(evaluation_uri, evaluation_report.REPORT_DIR),
            evaluation_uri=evaluation_uri,
            class_names=class_names,
            gate=evaluation.gate_of(read_eval_config(exec_properties)),
            blessed=bool(blessing.get_int_custom_property(BLESSED_PROPERTY)),
            baseline_version=baseline_version(baselines[0]) if baselines else 0,
            class_change=class_change,
        )
        logging.info("Evaluation report: %s", report_path)
