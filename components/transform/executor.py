"""TFX's Transform executor, plus the augmentation spec written into the transform graph."""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.components.transform import executor as transform_executor
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import json_utils

from components.transform import augmentation
from components.transform.augmentation_spec import AugmentationSpec, AugmentationSpecError

AUGMENTATION_KEY = "augmentation"  # in Transform's custom_config


def spec_from_exec_properties(
    exec_properties: dict[str, Any],
) -> AugmentationSpec:
    """The spec in Transform's custom_config; a Transform configured without one is an error."""
    custom_config = json_utils.loads(
        exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "null"
    )
    if not custom_config or AUGMENTATION_KEY not in custom_config:
        raise AugmentationSpecError(
            f"Transform's custom_config has no {AUGMENTATION_KEY!r} entry: build the component "
            "with components.transform.component.AugmentingTransform."
        )
    return AugmentationSpec.from_dict(custom_config[AUGMENTATION_KEY])


class Executor(transform_executor.Executor):
    """Checks the spec first (a bad one fails before Beam starts), then transforms, then
    writes the spec beside the graph, inside the artifact TFX publishes only on success."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        spec = spec_from_exec_properties(exec_properties)
        super().Do(input_dict, output_dict, exec_properties)
        graph_dir = artifact_utils.get_single_uri(
            output_dict[standard_component_specs.TRANSFORM_GRAPH_KEY]
        )
        augmentation.write_spec(graph_dir, spec)
