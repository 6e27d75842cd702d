"""Runs a compiled Kubeflow pipeline (build/pipeline.yaml) on this machine, step by step, the
way a KFP v2 launcher runs each step: a task's ExecutorInput is built from the spec (its
constant parameters, the run's parameters, and the artifacts and parameters its upstream tasks
produced), the container's command and args run in a fresh process with the ExecutorInput in
place of `{{$}}`, and the outputs are read back from the executor output file.

KFP's own helper builds what it can (kfp.local: an ExecutorInput's parameters and output
artifacts); kfp 2.5 does not pass input artifacts, which this module adds, with the metadata
each upstream step wrote (an Examples artifact's split names, say). The DAG walk and the
cache around them are ours. What it shows: each compiled step runs in TFX's KFP v2
entrypoint and hands its outputs on as the backend would; not that a cluster schedules it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from components.trainer.training_config import TrainingConfig
from pipeline import exit_codes
from pipeline.config import (
    CURATED_SCHEMA,
    DEFAULT_OUTPUTS,
    DEFAULT_PRETRAINED_DIR,
    OutputLayout,
    default_weights,
)

ROOT = Path(__file__).resolve().parents[1]
EXECUTOR_INPUT_PLACEHOLDER = "{{$}}"
# The image named in the spec: here every step runs in this checkout's environment instead.
LOCAL_IMAGE = "local"


class StepFailedError(RuntimeError):
    """A step's process failed; the message names the step and its log."""


def load_spec(path: str) -> Any:
    """The PipelineSpec, the first YAML document of a compiled package."""
    import yaml
    from kfp.pipeline_spec import pipeline_spec_pb2

    with open(path) as f:
        document = next(yaml.safe_load_all(f))
    return json_format.ParseDict(document, pipeline_spec_pb2.PipelineSpec())


def task_order(spec: Any) -> list[str]:
    """The root DAG's tasks, each after every task it depends on (ties by name, so the order
    is the same every time)."""
    tasks = spec.root.dag.tasks
    done: list[str] = []
    while len(done) < len(tasks):
        ready = sorted(
            name
            for name, task in tasks.items()
            if name not in done and all(d in done for d in task.dependent_tasks)
        )
        if not ready:
            raise ValueError(f"the DAG has a cycle among {sorted(set(tasks) - set(done))}")
        done.append(ready[0])
    return done


def run_parameters(spec: Any, given: Mapping[str, Any]) -> dict[str, Any]:
    """The run's parameters: the compiled defaults, overridden by `given`."""
    defaults = {
        name: json_format.MessageToDict(definition.default_value)
        for name, definition in spec.root.input_definitions.parameters.items()
        if definition.HasField("default_value")
    }
    unknown = sorted(set(given) - set(spec.root.input_definitions.parameters))
    if unknown:
        raise ValueError(f"the pipeline has no run parameter {', '.join(unknown)}")
    return {**defaults, **given}


def task_arguments(
    task: Any, parameters: Mapping[str, Any], produced: Mapping[str, dict]
) -> dict[str, Any]:
    """The task's input parameters: constants, run parameters, upstream output parameters."""
    arguments = {}
    for name, spec in task.inputs.parameters.items():
        if spec.HasField("runtime_value"):
            arguments[name] = json_format.MessageToDict(spec.runtime_value.constant)
        elif spec.component_input_parameter:
            arguments[name] = parameters[spec.component_input_parameter]
        elif spec.HasField("task_output_parameter"):
            source = spec.task_output_parameter
            if source.producer_task not in produced:  # as KFP's driver resolves it
                raise ValueError(
                    f"input {name!r} names producer task {source.producer_task!r}, which has "
                    "not run: KFP's driver would fail it, 'cannot find producer task'"
                )
            arguments[name] = produced[source.producer_task]["parameters"][
                source.output_parameter_key
            ]
        else:
            raise ValueError(f"input parameter {name!r} is of a kind this runner cannot pass")
    return arguments


def executor_input(spec: Any, name: str, arguments: dict, produced: dict, task_root: str) -> Any:
    """The ExecutorInput a launcher would give task `name`: kfp.local builds the parameters
    and the output artifacts; the input artifacts are the upstream tasks' outputs."""
    from kfp.local import executor_input_utils

    task = spec.root.dag.tasks[name]
    component = type(spec.components[task.component_ref.name])()
    component.CopyFrom(spec.components[task.component_ref.name])
    component.input_definitions.ClearField("artifacts")  # kfp 2.5 refuses them; added below
    built = executor_input_utils.construct_executor_input(component, arguments, task_root)
    for input_name, source in task.inputs.artifacts.items():
        upstream = source.task_output_artifact
        artifacts = produced[upstream.producer_task]["artifacts"][upstream.output_artifact_key]
        built.inputs.artifacts[input_name].CopyFrom(artifacts)
    return built


def container_of(spec: Any, name: str) -> dict[str, Any]:
    """Task `name`'s container: image, command and args, as the deployment spec has them."""
    label = spec.components[spec.root.dag.tasks[name].component_ref.name].executor_label
    return json_format.MessageToDict(spec.deployment_spec)["executors"][label]["container"]


def run_task(spec: Any, name: str, built: Any, log_path: str) -> Any:
    """Runs the task's container command in a fresh process; its ExecutorOutput."""
    from kfp.pipeline_spec import pipeline_spec_pb2

    container = container_of(spec, name)
    serialized = json_format.MessageToJson(built)
    command = [sys.executable if part == "python" else part for part in container["command"]]
    args = [serialized if a == EXECUTOR_INPUT_PLACEHOLDER else a for a in container["args"]]
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "w") as log:
        done = subprocess.run(command + args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise StepFailedError(f"step {name} failed (exit {done.returncode}); see {log_path}")
    output = pipeline_spec_pb2.ExecutorOutput()
    output_file = built.outputs.output_file
    if os.path.exists(output_file):
        with open(output_file) as f:
            json_format.Parse(f.read(), output, ignore_unknown_fields=True)
    return output


def task_outputs(built: Any, output: Any) -> dict:
    """What downstream tasks receive: each output artifact as the launcher created it, with
    what the step reported of it (its URI and metadata: an Examples artifact's split names);
    and the output parameters."""
    artifacts = {}
    for key, declared in built.outputs.artifacts.items():
        merged = type(declared)()
        merged.CopyFrom(declared)
        reported = output.artifacts[key].artifacts if key in output.artifacts else []
        for artifact, step_view in zip(merged.artifacts, reported, strict=False):
            artifact.uri = step_view.uri or artifact.uri
            artifact.metadata.update(step_view.metadata)
        artifacts[key] = merged
    parameters = {
        key: json_format.MessageToDict(value) for key, value in output.parameter_values.items()
    }
    return {"artifacts": artifacts, "parameters": parameters}


def cache_key(spec: Any, name: str, built: Any) -> str:
    """KFP v2's cache key in substance: the step's container (image, command, args), its
    input parameters, its input artifacts by identity (where each was produced) and its output
    definitions. A step whose upstream ran again reads new artifacts, and misses."""
    component = spec.components[spec.root.dag.tasks[name].component_ref.name]
    inputs = json_format.MessageToDict(built.inputs)
    key = {
        "container": container_of(spec, name),
        "parameters": inputs.get("parameterValues", {}),
        "artifacts": {
            key: [artifact.uri for artifact in artifacts.artifacts]
            for key, artifacts in built.inputs.artifacts.items()
        },
        "outputs": json_format.MessageToDict(component.output_definitions),
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def cached_outputs(cache_dir: str, key: str) -> dict | None:
    """A cached step's outputs, as task_outputs gives them; None on a miss."""
    from kfp.pipeline_spec import pipeline_spec_pb2

    path = os.path.join(cache_dir, f"{key}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        saved = json.load(f)
    artifacts = {
        name: json_format.ParseDict(artifact_list, pipeline_spec_pb2.ArtifactList())
        for name, artifact_list in saved["artifacts"].items()
    }
    return {"artifacts": artifacts, "parameters": saved["parameters"]}


def cache_outputs(cache_dir: str, key: str, outputs: dict) -> None:
    """Keeps a successful step's outputs under its key (written aside, then renamed)."""
    os.makedirs(cache_dir, exist_ok=True)
    saved = {
        "artifacts": {
            name: json_format.MessageToDict(artifact_list)
            for name, artifact_list in outputs["artifacts"].items()
        },
        "parameters": outputs["parameters"],
    }
    path = os.path.join(cache_dir, f"{key}.json")
    with open(f"{path}.partial", "w") as f:
        json.dump(saved, f, indent=1, sort_keys=True)
    os.replace(f"{path}.partial", path)


def run_pipeline(
    package: str, work: str, given: Mapping[str, Any] | None = None, cache_dir: str | None = None
) -> dict:
    """Every task of the compiled `package` in DAG order, its files under `work`, with the
    run parameters `given` (as `make deploy` checks RUN_PARAMS); returns what each task
    produced, by task name. With `cache_dir`, a step whose cache key was seen before reuses
    those outputs, as KFP's cache does, unless the spec turns its cache off."""
    spec = load_spec(package)
    parameters = run_parameters(spec, given or {})
    produced: dict[str, dict] = {}
    order = task_order(spec)
    for number, name in enumerate(order, 1):
        task_root = os.path.join(work, name)
        os.makedirs(task_root, exist_ok=True)
        task = spec.root.dag.tasks[name]
        built = executor_input(
            spec, name, task_arguments(task, parameters, produced), produced, task_root
        )
        progress = f"[{number}/{len(order)}] {name}"
        cacheable = cache_dir is not None and task.caching_options.enable_cache
        key = cache_key(spec, name, built) if cacheable else ""
        reused = cached_outputs(cache_dir, key) if cacheable else None
        if reused is not None:
            produced[name] = reused
            print(f"{progress} cached", flush=True)
            continue
        print(f"{progress} ...", flush=True)
        started = time.monotonic()
        output = run_task(spec, name, built, os.path.join(work, "logs", f"{name}.log"))
        produced[name] = task_outputs(built, output)
        if cacheable:
            cache_outputs(cache_dir, key, produced[name])
        print(f"{progress} done in {time.monotonic() - started:.1f} s", flush=True)
    return produced


def compile_for_here(
    package: str,
    data: str,
    serving_dir: str,
    weights: str,
    extra: list[str],
    environ: Mapping[str, str],
) -> None:
    """`make compile` (its own process, as make runs it) with this machine's paths: the data,
    the push destination and the curated schema are local files; every other setting as
    `make compile` reads it."""
    flags = ["--image", LOCAL_IMAGE, "--data", data, "--serving-dir", serving_dir]
    flags += ["--schema", str(CURATED_SCHEMA), "--weights", weights, "--output", package]
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.kubeflow_runner", *flags, *extra],
        cwd=ROOT,
        env=dict(environ),
        check=False,
    )
    if done.returncode != 0:
        raise ValueError("the pipeline did not compile (the error is above)")


def main(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    import argparse

    from pipeline.deploy import run_parameters as checked_run_parameters
    from pipeline.settings import (
        DEPLOY_SETTINGS,
        OUTPUTS,
        PIPELINE_SETTINGS,
        PRETRAINED_DIR,
        TRAINING_SETTINGS,
        add_setting,
    )

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_setting(parser, "data_root", PIPELINE_SETTINGS["data_root"], environ)
    add_setting(parser, "outputs", OUTPUTS, environ, DEFAULT_OUTPUTS)
    add_setting(parser, "pretrained_dir", PRETRAINED_DIR, environ, DEFAULT_PRETRAINED_DIR)
    add_setting(parser, "run_params", DEPLOY_SETTINGS["run_params"], environ)
    args, compile_flags = parser.parse_known_args(argv)
    if not args.data_root:
        print("error: say which images: DATA=<folder> (--data)", file=sys.stderr)
        return exit_codes.BAD_INPUT
    layout = OutputLayout(os.path.abspath(args.outputs))
    work = layout.kubeflow_local_dir
    package = os.path.join(work, "pipeline.yaml")
    weights = environ.get(TRAINING_SETTINGS["weights"].env) or default_weights(
        args.pretrained_dir, TrainingConfig.backbone, TrainingConfig.backbone_alpha
    )
    try:
        compile_for_here(
            package,
            os.path.abspath(args.data_root),
            layout.serving_dir,
            weights,
            compile_flags,
            environ,
        )
        run = os.path.join(work, time.strftime("run-%Y%m%d-%H%M%S"))
        run_pipeline(
            package,
            run,
            checked_run_parameters(package, args.run_params or ""),
            cache_dir=os.path.join(work, "cache"),
        )
    except StepFailedError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.STEP_FAILED
    except ValueError as e:  # a setting the compile or RUN_PARAMS refused
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    print(f"Steps' outputs and logs: {run}; push destination: {layout.serving_dir}")
    return exit_codes.SUCCESS


if __name__ == "__main__":
    sys.exit(main())
