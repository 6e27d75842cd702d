"""`make compile`: the same create_pipeline(), compiled for Kubeflow Pipelines v2.

Builds the cluster's config from flags and environment (paths are the cluster's: object-store
URIs, the schema inside the image), compiles with TFX's KubeflowV2DagRunner and writes the
PipelineSpec as YAML (what `kfp.Client().upload_pipeline` takes), e.g.
    python -m pipeline.kubeflow_runner --image registry.example/image-classifier:1.0 \
        --data gs://bucket/images --serving-dir gs://bucket/serving

What is Kubeflow-specific beyond TFX's compiler: the pipeline starts with DataSnapshot and
declares run parameters (data root, training settings; see pipeline.dag.data_steps);
nodes in pipeline.dag.ALWAYS_RUN get KFP's cache switched off, as LocalDagRunner's is
(compile_ir), since KFP would otherwise reuse their first output forever (their inputs never
change); only the Trainer asks for GPUs; and the Trainer's node selector and tolerations,
which TFX cannot express, follow the PipelineSpec as a second YAML document: the Kubernetes
platform spec KFP reads (kfp-kubernetes' format).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components.trainer import TRAINER_NODE_ID
from components.trainer.training_config import TrainingConfig
from components.transform.augmentation_spec import AugmentationSpec
from pipeline import exit_codes
from pipeline.beam_runners import BeamSettings, beam_args
from pipeline.config import DEFAULT_PACKAGE, IMAGE_SCHEMA, PipelineConfig, TrainerResources
from pipeline.settings import (
    AUGMENTATION_SETTINGS,
    BEAM_SETTINGS,
    CLUSTER_SETTINGS,
    CLUSTER_WEIGHTS,
    DEFAULT_TOLERATIONS,
    GATE_SETTINGS,
    PLACEMENT_SETTINGS,
    REQUIRED_TO_COMPILE,
    RESOURCE_SETTINGS,
    TRAINING_SETTINGS,
    add_settings,
    gate_config,
    typed_settings,
)


@dataclass(frozen=True)
class Placement:
    """Where the Trainer's pod may run: node labels it needs, taints it tolerates."""

    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, str], ...] = ()


def parse_labels(text: str) -> dict[str, str]:
    """'key=value,key2=value2' -> {key: value, ...}."""
    labels = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, equals, value = item.partition("=")
        if not equals or not key:
            raise ValueError(f"node selector {item!r} is not key=value")
        labels[key] = value
    return labels


def parse_tolerations(text: str) -> tuple[dict[str, str], ...]:
    """kubectl's taint syntax, 'key[=value]:Effect,...', as Kubernetes tolerations (no value:
    any value, operator Exists)."""
    tolerations = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        taint, colon, effect = item.rpartition(":")
        if not colon or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise ValueError(
                f"toleration {item!r} is not key[=value]:NoSchedule|PreferNoSchedule|NoExecute"
            )
        key, equals, value = taint.partition("=")
        toleration = {"key": key, "operator": "Equal" if equals else "Exists", "effect": effect}
        if equals:
            toleration["value"] = value
        tolerations.append(toleration)
    return tuple(tolerations)


ALL_SETTINGS = {
    **CLUSTER_SETTINGS,
    **BEAM_SETTINGS,
    **RESOURCE_SETTINGS,
    **PLACEMENT_SETTINGS,
    **TRAINING_SETTINGS,
    **AUGMENTATION_SETTINGS,
    **GATE_SETTINGS,
}


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Compile the pipeline to a Kubeflow Pipelines v2 PipelineSpec (YAML).",
    )
    add_settings(parser, ALL_SETTINGS, environ)
    parser.add_argument(
        "--output", default=environ.get("OUTPUT", DEFAULT_PACKAGE), help="where to write the YAML"
    )
    return parser


def config_from_args(args: argparse.Namespace) -> tuple[PipelineConfig, str, Placement]:
    """The cluster's PipelineConfig, the image and the Trainer's placement; a missing required
    setting is named."""
    given = {k: v for k, v in vars(args).items() if v is not None}
    missing = [ALL_SETTINGS[name] for name in REQUIRED_TO_COMPILE if name not in given]
    if missing:
        needed = ", ".join(f"{s.flag} ({s.env}=...)" for s in missing)
        raise ValueError(f"compiling for Kubeflow needs {needed}")
    # No pipeline root in the spec: it is each run's (make deploy / schedule pass PIPELINE_ROOT;
    # else the namespace's kfp-launcher default, deploy/cluster/kfp-launcher.yaml).
    cluster = {"pipeline_root": "", **typed_settings(given, CLUSTER_SETTINGS)}
    image = cluster.pop("image")
    config = PipelineConfig(
        schema_path=cluster.pop("schema_path", IMAGE_SCHEMA),
        # Kubeflow keeps ML Metadata itself.
        metadata_path=None,
        training=TrainingConfig(
            **{"weights": CLUSTER_WEIGHTS, **typed_settings(given, TRAINING_SETTINGS)}
        ),
        augmentation=AugmentationSpec(**typed_settings(given, AUGMENTATION_SETTINGS)),
        gate=gate_config(given),
        trainer_resources=TrainerResources(**typed_settings(given, RESOURCE_SETTINGS)),
        beam_pipeline_args=beam_args(BeamSettings(**typed_settings(given, BEAM_SETTINGS)), image),
        kubeflow=True,
        **cluster,
    )
    tolerations = parse_tolerations(given.get("tolerations", DEFAULT_TOLERATIONS))
    placement = Placement(
        node_selector=parse_labels(given.get("node_selector", "")),
        # A CPU-only Trainer has no business on GPU nodes.
        tolerations=tolerations if config.trainer_resources.gpus else (),
    )
    return config, image, placement


def _tasks(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every task of the PipelineSpec by name (TFX names tasks by node id), in the root DAG and
    in any sub-DAG (TFX nests one when there is an exit handler)."""
    found = dict(spec["root"]["dag"]["tasks"])
    for component in spec.get("components", {}).values():
        found.update(component.get("dag", {}).get("tasks", {}))
    return found


# TFX 1.16's step builder names the producer of an output parameter `<node id>_task` (for a
# `.future()[0].value`, as ExampleGen takes DataSnapshot's folder), while the DAG names the task
# by its node id: KFP's driver then fails the consumer, "cannot find producer task".
TFX_PRODUCER_SUFFIX = "_task"


def name_producer_tasks_as_the_dag_does(tasks: dict[str, dict[str, Any]]) -> None:
    """Points every task output parameter at its producer by the producer's task name."""
    for task in tasks.values():
        for parameter in task.get("inputs", {}).get("parameters", {}).values():
            source = parameter.get("taskOutputParameter")
            if not source or source["producerTask"] in tasks:
                continue
            named = source["producerTask"].removesuffix(TFX_PRODUCER_SUFFIX)
            if named not in tasks:
                raise ValueError(f"no task {source['producerTask']!r} in the compiled DAG")
            source["producerTask"] = named


def compile_job(
    pipeline, image: str, parameter_defaults: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The KFP v2 PipelineJob (as a dict) for `pipeline`, every step running in `image`.

    Pipeline spec schema 2.1: KFP's backend checks parameters by `parameterType`, which TFX
    writes only then. The run parameters' defaults go into the spec itself (TFX writes them
    to the PipelineJob's runtime config, which an uploaded spec does not carry), so a run
    that sets none, as from the KFP UI, gets this compile's values.
    """
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner as kubeflow_v2

    from pipeline.dag import ALWAYS_RUN

    runner = kubeflow_v2.KubeflowV2DagRunner(
        config=kubeflow_v2.KubeflowV2DagRunnerConfig(
            default_image=image, use_pipeline_spec_2_1=True
        )
    )
    job = runner.run(pipeline, write_out=False)
    tasks = _tasks(job["pipelineSpec"])
    name_producer_tasks_as_the_dag_does(tasks)
    for node_id in set(ALWAYS_RUN) & set(tasks):
        tasks[node_id]["cachingOptions"] = {"enableCache": False}
    declared = job["pipelineSpec"]["root"].get("inputDefinitions", {}).get("parameters", {})
    for name, parameter in declared.items():
        parameter["defaultValue"] = (parameter_defaults or {})[name]
        parameter["isOptional"] = True
    return job


def executor_label(spec: dict[str, Any], task: str) -> str:
    component = _tasks(spec)[task]["componentRef"]["name"]
    return spec["components"][component]["executorLabel"]


def platform_spec(spec: dict[str, Any], placement: Placement) -> dict[str, Any] | None:
    """The Trainer's placement as KFP's Kubernetes platform spec (None: nothing to say)."""
    config: dict[str, Any] = {}
    if placement.node_selector:
        config["nodeSelector"] = {"labels": dict(placement.node_selector)}
    if placement.tolerations:
        config["tolerations"] = [dict(t) for t in placement.tolerations]
    if not config:
        return None
    executors = {executor_label(spec, TRAINER_NODE_ID): config}
    return {"platforms": {"kubernetes": {"deploymentSpec": {"executors": executors}}}}


def write_pipeline_spec(job: dict[str, Any], placement: Placement, path: str) -> None:
    """The PipelineSpec, then the platform spec if any, as YAML documents; written aside and
    renamed (no half file to upload)."""
    import yaml

    documents = [job["pipelineSpec"]]
    platform = platform_spec(job["pipelineSpec"], placement)
    if platform:
        documents.append(platform)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    partial = f"{path}.partial"
    with open(partial, "w") as f:
        yaml.safe_dump_all(documents, f, sort_keys=False)
    os.replace(partial, path)


def main(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    args = build_parser(environ).parse_args(argv)
    try:
        config, image, placement = config_from_args(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    from pipeline.dag import create_pipeline, run_parameter_defaults

    job = compile_job(create_pipeline(config), image, run_parameter_defaults(config))
    write_pipeline_spec(job, placement, args.output)
    tasks = _tasks(job["pipelineSpec"])
    print(f"Wrote {args.output}: {len(tasks)} steps in {image}")
    return exit_codes.SUCCESS


if __name__ == "__main__":
    sys.exit(main())
