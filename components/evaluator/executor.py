"""TFX's Evaluator executor, taking its baseline from a BaselineModel artifact.

BaselineModel always outputs one artifact; on the first run it is empty (no version served
yet). TFX's Evaluator would try to load it, so this executor drops an empty baseline and TFX
then judges the candidate by the value thresholds alone (its "rubber stamp" rule).
"""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.components.evaluator import executor as evaluator_executor
from tfx.types import standard_component_specs

from components.model_registry.component import baseline_version

BASELINE_KEY = standard_component_specs.BASELINE_MODEL_KEY


def without_empty_baseline(
    input_dict: dict[str, list[types.Artifact]],
) -> dict[str, list[types.Artifact]]:
    """`input_dict` minus a baseline that holds no model."""
    baselines = input_dict.get(BASELINE_KEY) or []
    if baselines and all(baseline_version(b) == 0 for b in baselines):
        return {key: value for key, value in input_dict.items() if key != BASELINE_KEY}
    return input_dict


class Executor(evaluator_executor.Executor):
    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        super().Do(without_empty_baseline(input_dict), output_dict, exec_properties)
