"""`make compile`: the YAML it writes is a KFP v2 PipelineSpec that KFP's own proto accepts,
with every component, the image, the Trainer's GPU and limits, and nothing the open-source
backend cannot run."""

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from pipeline import kubeflow_runner
from pipeline.pipeline import create_components

pytestmark = pytest.mark.pipeline

IMAGE = "registry.example/image-classifier:1.0"
REQUIRED_FLAGS = [
    "--image",
    IMAGE,
    "--pipeline-root",
    "gs://bucket/root",
    "--data",
    "gs://bucket/images",
    "--serving-dir",
    "gs://bucket/serving",
]


def compile_spec(tmp_path, *flags, environ=None) -> pipeline_spec_pb2.PipelineSpec:
    output = tmp_path / "build" / "pipeline.yaml"
    argv = [*REQUIRED_FLAGS, *flags, "--output", str(output)]
    assert kubeflow_runner.main(argv, environ=environ or {}) == 0
    with open(output) as f:
        return json_format.ParseDict(yaml.safe_load(f), pipeline_spec_pb2.PipelineSpec())


def executor_of(spec: pipeline_spec_pb2.PipelineSpec, task: str):
    component = spec.root.dag.tasks[task].component_ref.name
    label = spec.components[component].executor_label
    return spec.deployment_spec.fields["executors"].struct_value.fields[label]


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    return compile_spec(tmp_path_factory.mktemp("compile"))


def test_every_component_is_a_task_and_runs_in_the_image(spec):
    args = kubeflow_runner.build_parser({}).parse_args(REQUIRED_FLAGS)
    config, _ = kubeflow_runner.config_from_args(args)
    expected = {component.id for component in create_components(config)}

    assert set(spec.root.dag.tasks) == expected
    for task in expected:
        executor = json_format.MessageToDict(executor_of(spec, task))
        # Open-source KFP v2 runs container and importer executors only (no Resolver).
        assert set(executor) <= {"container", "importer"}, (task, executor)
        if "container" in executor:
            assert executor["container"]["image"] == IMAGE, task
    assert spec.root.dag.tasks["BaselineModel"].caching_options.enable_cache is False
    assert spec.pipeline_info.name == "image-classifier"


def test_only_the_trainer_asks_for_a_gpu_and_has_limits(spec):
    resources = {
        task: json_format.MessageToDict(executor_of(spec, task))
        .get("container", {})
        .get("resources")
        for task in spec.root.dag.tasks
    }
    assert resources.pop("Trainer") == {
        "cpuLimit": 4.0,
        "memoryLimit": 16.0,
        "accelerator": {"type": "nvidia.com/gpu", "count": "1"},
    }
    assert set(resources.values()) == {None}


def test_gpu_count_and_limits_come_from_flags_or_the_environment(tmp_path):
    spec = compile_spec(
        tmp_path, "--gpus", "2", environ={"TRAINER_MEMORY": "30", "GPU_RESOURCE": "amd.com/gpu"}
    )
    resources = json_format.MessageToDict(executor_of(spec, "Trainer"))["container"]["resources"]
    assert resources["accelerator"] == {"type": "amd.com/gpu", "count": "2"}
    assert resources["memoryLimit"] == 30.0

    cpu_only = compile_spec(tmp_path, "--gpus", "0")
    resources = json_format.MessageToDict(executor_of(cpu_only, "Trainer"))["container"]
    assert "accelerator" not in resources["resources"]


def test_a_missing_setting_is_named_and_nothing_is_written(tmp_path, capsys):
    output = tmp_path / "pipeline.yaml"
    code = kubeflow_runner.main(["--image", IMAGE, "--output", str(output)], environ={})

    assert code == 2
    error = capsys.readouterr().err
    assert "--pipeline-root (PIPELINE_ROOT=...)" in error
    assert "--data (DATA=...)" in error and "--serving-dir (SERVING_DIR=...)" in error
    assert not output.exists()
