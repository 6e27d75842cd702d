"""`make compile`: the YAML it writes is a KFP v2 PipelineSpec that KFP's own proto accepts,
with every component, the image, the Trainer's GPU and limits, and nothing the open-source
backend cannot run."""

import json
import re

import pytest
import yaml
from google.protobuf import json_format
from kfp.kubernetes import kubernetes_executor_config_pb2
from kfp.pipeline_spec import pipeline_spec_pb2

from pipeline import kubeflow_runner
from pipeline.dag import create_components
from tests.helpers import KUBEFLOW_COMPILE_FLAGS as REQUIRED_FLAGS
from tests.helpers import KUBEFLOW_IMAGE as IMAGE

pytestmark = pytest.mark.pipeline


def compile_documents(tmp_path, *flags, environ=None) -> list[dict]:
    output = tmp_path / "build" / "pipeline.yaml"
    argv = [*REQUIRED_FLAGS, *flags, "--output", str(output)]
    assert kubeflow_runner.main(argv, environ=environ or {}) == 0
    with open(output) as f:
        return list(yaml.safe_load_all(f))


def compile_spec(tmp_path, *flags, environ=None) -> pipeline_spec_pb2.PipelineSpec:
    spec = compile_documents(tmp_path, *flags, environ=environ)[0]
    return json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())


def executor_of(spec: pipeline_spec_pb2.PipelineSpec, task: str):
    component = spec.root.dag.tasks[task].component_ref.name
    label = spec.components[component].executor_label
    return spec.deployment_spec.fields["executors"].struct_value.fields[label]


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    return compile_spec(tmp_path_factory.mktemp("compile"))


def test_every_component_is_a_task_and_runs_in_the_image(spec):
    args = kubeflow_runner.build_parser({}).parse_args(REQUIRED_FLAGS)
    config, _, _ = kubeflow_runner.config_from_args(args)
    expected = {component.id for component in create_components(config)}

    assert set(spec.root.dag.tasks) == expected
    for task in expected:
        executor = json_format.MessageToDict(executor_of(spec, task))
        # Open-source KFP v2 runs container and importer executors only (no Resolver).
        assert set(executor) <= {"container", "importer"}, (task, executor)
        if "container" in executor:
            assert executor["container"]["image"] == IMAGE, task
    assert spec.root.dag.tasks["BaselineModel"].caching_options.enable_cache is False
    assert spec.schema_version == "2.1.0"  # typed parameters, which KFP's backend checks
    assert spec.pipeline_info.name == "image-classifier"


def test_every_step_runs_code_the_image_holds(spec):
    # The image ships components/ only (deploy/Dockerfile): a user function or executor from
    # the pipeline's own modules or the experiments would not import there.
    text = json_format.MessageToJson(spec)
    ours = set(re.findall(r"\b(?:components|pipeline|bench)\.[a-z_]+(?:\.[A-Za-z_]+)+", text))

    assert ours, "no user code named in the spec"
    assert {path for path in ours if not path.startswith("components.")} == set()


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
    assert "--pipeline-root" not in error  # the run's setting, not the spec's
    assert "--data (DATA=...)" in error and "--serving-dir (SERVING_DIR=...)" in error
    assert not output.exists()


def trainer_platform(documents: list[dict]) -> dict:
    """The Trainer executor's entry in the Kubernetes platform spec (the second document)."""
    spec, platform = documents
    label = kubeflow_runner.executor_label(spec, "Trainer")
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(executors) == {label}  # the Trainer's pod only
    return executors[label]


def test_the_trainer_is_placed_on_the_gpu_pool_by_labels_and_tolerations(tmp_path):
    documents = compile_documents(
        tmp_path,
        "--node-selector",
        "cloud.google.com/gke-accelerator=nvidia-l4,pool=gpu",
        environ={"TOLERATIONS": "nvidia.com/gpu=present:NoSchedule,spot:NoExecute"},
    )
    config = trainer_platform(documents)

    # The node selector as KFP's Kubernetes executor config (kfp-kubernetes' own proto) reads it.
    parsed = json_format.ParseDict(
        {"nodeSelector": config["nodeSelector"]},
        kubernetes_executor_config_pb2.KubernetesExecutorConfig(),
    )
    assert dict(parsed.node_selector.labels) == {
        "cloud.google.com/gke-accelerator": "nvidia-l4",
        "pool": "gpu",
    }
    # Tolerations as Kubernetes (and kfp-kubernetes >= 1.1, which needs kfp >= 2.6) write them;
    # the kfp-kubernetes that installs beside TFX 1.16 (1.0.0) has no toleration message.
    assert config["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "effect": "NoSchedule", "value": "present"},
        {"key": "spot", "operator": "Exists", "effect": "NoExecute"},
    ]


def test_by_default_the_trainer_tolerates_the_gpu_taint_and_a_cpu_trainer_is_not_placed(tmp_path):
    assert trainer_platform(compile_documents(tmp_path)) == {
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    }
    assert len(compile_documents(tmp_path, "--gpus", "0")) == 1  # no platform spec at all


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--node-selector", "pool"], "node selector 'pool' is not key=value"),
        (["--tolerations", "nvidia.com/gpu:Never"], "toleration 'nvidia.com/gpu:Never' is not"),
    ],
)
def test_a_bad_placement_is_named(tmp_path, capsys, flags, message):
    output = tmp_path / "pipeline.yaml"
    assert kubeflow_runner.main([*REQUIRED_FLAGS, *flags, "--output", str(output)], {}) == 2
    assert message in capsys.readouterr().err
    assert not output.exists()


def container_args(spec: pipeline_spec_pb2.PipelineSpec, task: str) -> list[str]:
    return json_format.MessageToDict(executor_of(spec, task))["container"]["args"]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {},
            [
                "--direct_running_mode=multi_processing",
                "--direct_num_workers=0",
                f"--sdk_container_image={IMAGE}",
            ],
        ),
        (
            {
                "BEAM_RUNNER": "dataflow",
                "BEAM_PROJECT": "my-project",
                "BEAM_REGION": "europe-west4",
                "BEAM_TEMP": "gs://bucket/tmp",
                "BEAM_ARGS": "--max_num_workers=8 --machine_type=n2-standard-4",
            },
            [
                "--runner=DataflowRunner",
                "--project=my-project",
                "--region=europe-west4",
                "--temp_location=gs://bucket/tmp",
                f"--sdk_container_image={IMAGE}",
                "--experiments=use_runner_v2",
                "--max_num_workers=8",
                "--machine_type=n2-standard-4",
            ],
        ),
        (
            {"BEAM_RUNNER": "flink", "BEAM_JOB_ENDPOINT": "flink-beam-jobserver:8099"},
            [
                "--runner=PortableRunner",
                "--job_endpoint=flink-beam-jobserver:8099",
                "--environment_type=EXTERNAL",
                "--environment_config=localhost:50000",
            ],
        ),
        (
            {"BEAM_RUNNER": "spark", "BEAM_JOB_ENDPOINT": "spark-jobserver:8099"},
            [
                "--runner=PortableRunner",
                "--job_endpoint=spark-jobserver:8099",
                "--environment_type=EXTERNAL",
                "--environment_config=localhost:50000",
            ],
        ),
    ],
    ids=["direct", "dataflow", "flink", "spark"],
)
def test_every_data_step_gets_the_beam_runner_settings(tmp_path, environ, expected):
    spec = compile_spec(tmp_path, environ=environ)
    for task in ("ImageExampleGen", "StatisticsGen", "Transform", "Evaluator"):
        args = container_args(spec, task)
        assert args[-len(expected) :] == expected, task


def test_a_credential_in_beam_args_is_refused_and_nothing_is_written(tmp_path, capsys):
    output = tmp_path / "pipeline.yaml"
    environ = {"BEAM_ARGS": "--num_workers=4 --service_account_key_file=/keys/sa.json"}

    assert kubeflow_runner.main([*REQUIRED_FLAGS, "--output", str(output)], environ) == 2

    error = capsys.readouterr().err
    assert "BEAM_ARGS must not carry credentials (--service_account_key_file)" in error
    assert "/keys/sa.json" not in error
    assert not output.exists()


def test_a_beam_runner_without_its_settings_is_named(tmp_path, capsys):
    output = tmp_path / "pipeline.yaml"
    environ = {"BEAM_RUNNER": "dataflow", "BEAM_PROJECT": "p"}
    assert kubeflow_runner.main([*REQUIRED_FLAGS, "--output", str(output)], environ) == 2
    assert "the dataflow Beam runner needs BEAM_REGION, BEAM_TEMP" in capsys.readouterr().err
    assert not output.exists()


def trainer_settings(spec: pipeline_spec_pb2.PipelineSpec) -> dict:
    """The Trainer's custom_config (the training settings) as compiled into the spec: the run
    parameter's default."""
    value = spec.root.input_definitions.parameters["training_config"].default_value
    return json.loads(value.string_value)


def test_a_cluster_trainer_starts_from_imagenet_unless_told(tmp_path):
    assert trainer_settings(compile_spec(tmp_path))["weights"] == "imagenet"
    custom = compile_spec(tmp_path, environ={"WEIGHTS": "none", "EPOCHS": "3"})
    assert trainer_settings(custom)["weights"] == "none"
    assert trainer_settings(custom)["epochs"] == 3


def test_data_root_and_training_settings_are_run_parameters_with_the_compiled_defaults(spec):
    args = kubeflow_runner.build_parser({}).parse_args(REQUIRED_FLAGS)
    config, _, _ = kubeflow_runner.config_from_args(args)
    declared = spec.root.input_definitions.parameters
    string = pipeline_spec_pb2.ParameterType.STRING

    assert set(declared) == {"data_root", "training_config"}
    assert declared["data_root"].parameter_type == string
    assert declared["data_root"].default_value.string_value == "gs://bucket/images"
    training = json.loads(declared["training_config"].default_value.string_value)
    assert training == json.loads(json.dumps(config.training.to_dict()))
    assert all(parameter.is_optional for parameter in declared.values())
    tasks = spec.root.dag.tasks
    snapshot_inputs = tasks["DataSnapshot"].inputs.parameters
    assert snapshot_inputs["data_root"].component_input_parameter == "data_root"
    trainer_inputs = tasks["Trainer"].inputs.parameters
    assert trainer_inputs["custom_config"].component_input_parameter == "training_config"


def test_example_gen_reads_what_data_snapshot_chose_and_is_cached_on_it(spec):
    # KFP's open-source backend keys its cache on a step's parameters: ExampleGen's must come
    # from DataSnapshot (the folder and its fingerprint), which itself always runs.
    tasks = spec.root.dag.tasks
    example_gen = tasks["ImageExampleGen"]
    for name, output in (("input_base", "data_folder"), ("custom_config", "example_gen_config")):
        source = example_gen.inputs.parameters[name].task_output_parameter
        assert (source.producer_task, source.output_parameter_key) == ("DataSnapshot", output)
    assert tasks["DataSnapshot"].caching_options.enable_cache is False
    assert example_gen.caching_options.enable_cache is True


def test_every_input_names_its_producer_as_the_dag_names_the_task(spec):
    """KFP's driver finds a producer by task name ("cannot find producer task" otherwise);
    TFX 1.16 writes `<node id>_task` for output parameters, which the compile corrects."""
    tasks = spec.root.dag.tasks
    producers = {
        (name, source.task_output_parameter.producer_task)
        for name, task in tasks.items()
        for source in task.inputs.parameters.values()
        if source.HasField("task_output_parameter")
    } | {
        (name, source.task_output_artifact.producer_task)
        for name, task in tasks.items()
        for source in task.inputs.artifacts.values()
    }
    assert ("ImageExampleGen", "DataSnapshot") in producers
    for consumer, producer in producers:
        assert producer in tasks, f"{consumer} reads from {producer!r}, not a task"
        assert producer in tasks[consumer].dependent_tasks, consumer


def test_the_tuner_compiles_with_its_trials_and_reads_the_training_run_parameter(tmp_path):
    spec = compile_spec(tmp_path, environ={"TUNE": "true", "TUNER_TRIALS": "4"})
    tuner = spec.root.dag.tasks["Tuner"]

    assert tuner.inputs.parameters["custom_config"].component_input_parameter == ("training_config")
    assert tuner.inputs.parameters["max_trials"].runtime_value.constant.number_value == 4
    assert (
        spec.root.dag.tasks["Trainer"]
        .inputs.artifacts["hyperparameters"]
        .task_output_artifact.producer_task
        == "Tuner"
    )
    assert "Tuner" not in compile_spec(tmp_path).root.dag.tasks


def test_the_data_checks_of_make_local_compile_in(tmp_path):
    spec = compile_spec(
        tmp_path, environ={"EVAL_PERCENT": "30", "MAX_BAD_FILES": "0.2", "MAX_MEGAPIXELS": "12"}
    )
    tasks = spec.root.dag.tasks
    snapshot = tasks["DataSnapshot"].inputs.parameters
    assert snapshot["max_bad_file_fraction"].runtime_value.constant.number_value == 0.2
    assert snapshot["max_megapixels"].runtime_value.constant.number_value == 12
    output_config = json.loads(
        tasks["ImageExampleGen"]
        .inputs.parameters["output_config"]
        .runtime_value.constant.string_value
    )
    buckets = [split["hash_buckets"] for split in output_config["split_config"]["splits"]]
    assert buckets == [70, 30]


def test_latest_snapshot_is_compiled_in(tmp_path):
    spec = compile_spec(tmp_path, environ={"LATEST_SNAPSHOT": "true"})
    latest = spec.root.dag.tasks["DataSnapshot"].inputs.parameters["latest"]

    assert latest.runtime_value.constant.number_value == 1


def test_credentials_in_the_environment_never_reach_the_spec(tmp_path):
    secrets = {
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-not-a-real-key",
        "GOOGLE_APPLICATION_CREDENTIALS": "/home/me/sa-key-4f2a.json",
        "KFP_TOKEN": "eyJhbGciOi-not-a-real-token",
    }
    output = tmp_path / "pipeline.yaml"
    argv = [*REQUIRED_FLAGS, "--output", str(output)]

    assert kubeflow_runner.main(argv, environ=secrets) == 0
    text = output.read_text()
    for name, value in secrets.items():
        assert value not in text and name not in text, name
