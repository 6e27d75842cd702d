"""Compile create_pipeline() to a Kubeflow Pipelines v2 job spec with TFX's KubeflowV2DagRunner.

Only compilation lives here so far; the image, GPU resources, deploy and schedule come with the
Kubeflow issue. What is already Kubeflow-specific: nodes in pipeline.ALWAYS_RUN get KFP's cache
switched off, as LocalDagRunner's is (compile_ir), since KFP would otherwise reuse the first
BaselineModel output forever (its inputs never change).
"""

from __future__ import annotations

from typing import Any

from tfx import v1 as tfx

from pipeline.pipeline import ALWAYS_RUN


def _tasks(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every task of the job by name (TFX names tasks by node id), in the root DAG and in any
    sub-DAG (TFX nests one when there is an exit handler)."""
    spec = job["pipelineSpec"]
    found = dict(spec["root"]["dag"]["tasks"])
    for component in spec.get("components", {}).values():
        found.update(component.get("dag", {}).get("tasks", {}))
    return found


def compile_job(pipeline: tfx.dsl.Pipeline, image: str) -> dict[str, Any]:
    """The KFP v2 PipelineJob (as a dict) for `pipeline`, every step running in `image`."""
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image)
    )
    job = runner.run(pipeline, write_out=False)
    tasks = _tasks(job)
    for node_id in ALWAYS_RUN:
        tasks[node_id]["cachingOptions"] = {"enableCache": False}
    return job
