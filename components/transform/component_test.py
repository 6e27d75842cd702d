"""AugmentingTransform: TFX's Transform with our executor, the spec in its custom_config."""

import json

import pytest
from tfx.components import Transform
from tfx.types import Channel, standard_artifacts

from components.transform import executor, preprocessing
from components.transform.augmentation_spec import AugmentationSpec, AugmentationSpecError
from components.transform.component import AugmentingTransform

pytestmark = pytest.mark.component


def build(spec: AugmentationSpec) -> Transform:
    return AugmentingTransform(
        examples=Channel(type=standard_artifacts.Examples),
        schema=Channel(type=standard_artifacts.Schema),
        preprocessing_fn="components.transform.preprocessing.preprocessing_fn",
        image_size=64,
        augmentation=spec,
    )


def test_carries_the_spec_and_runs_our_executor_under_transforms_name():
    spec = AugmentationSpec(flip=False, zoom=0.1)
    transform = build(spec)

    assert transform.id == "Transform"
    assert transform.executor_spec.executor_class is executor.Executor
    custom = json.loads(transform.exec_properties["custom_config"])
    assert custom[preprocessing.IMAGE_SIZE_KEY] == 64
    assert executor.spec_from_exec_properties(transform.exec_properties) == spec
    assert transform.exec_properties["force_tf_compat_v1"] == 0
    assert "transform_graph" in transform.outputs
    # Only the graph: no materialized images, statistics or analyzer cache, which nothing reads.
    for unread in ("transformed_examples", "post_transform_stats", "updated_analyzer_cache"):
        assert unread not in transform.outputs, unread
    assert transform.exec_properties["disable_statistics"] == 1


def test_an_executor_given_no_spec_fails_before_transforming_naming_the_key():
    properties = {"custom_config": json.dumps({preprocessing.IMAGE_SIZE_KEY: 64})}
    with pytest.raises(AugmentationSpecError, match=executor.AUGMENTATION_KEY):
        executor.Executor().Do({}, {}, properties)
