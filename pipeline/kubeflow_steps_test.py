"""Compiled steps run the way a KFP v2 launcher runs them: the container's command and args from
the spec, with an ExecutorInput in place of `{{$}}`, in a fresh process; then the ExecutorOutput
is read as KFP would. This proves TFX's KFP entrypoint runs our step and hands its outputs on
as parameters; not that a cluster schedules it (no cluster here)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from components.example_gen import executor
from pipeline import demo_data
from tests.helpers import KUBEFLOW_COMPILE_FLAGS

pytestmark = pytest.mark.pipeline

ROOT = Path(__file__).resolve().parents[1]
STRING_ARTIFACT = {"instanceSchema": "title: tfx.String\ntype: object\n"}
EXAMPLES_ARTIFACT = {"instanceSchema": "title: tfx.Examples\ntype: object\n"}


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    from pipeline import kubeflow_runner

    output = tmp_path_factory.mktemp("build") / "pipeline.yaml"
    flags = [*KUBEFLOW_COMPILE_FLAGS, "--latest-snapshot", "true", "--output", str(output)]
    assert kubeflow_runner.main(flags, environ={}) == 0
    import yaml

    return next(yaml.safe_load_all(output.read_text()))


def constants(spec, task: str) -> dict:
    """The task's parameters compiled in as constants."""
    inputs = spec["root"]["dag"]["tasks"][task]["inputs"]["parameters"]
    return {
        name: value["runtimeValue"]["constant"]
        for name, value in inputs.items()
        if "runtimeValue" in value
    }


def run_step(spec, task: str, parameters: dict, outputs: dict[str, dict], workdir: Path) -> dict:
    """Runs `task`'s container command with an ExecutorInput; returns its ExecutorOutput."""
    label = spec["components"][spec["root"]["dag"]["tasks"][task]["componentRef"]["name"]]
    container = spec["deploymentSpec"]["executors"][label["executorLabel"]]["container"]
    executor_input = {
        "inputs": {"parameterValues": parameters},
        "outputs": {
            "artifacts": {
                name: {
                    "artifacts": [
                        {
                            "uri": str(workdir / name),
                            "name": f"artifacts/{number}",
                            "type": artifact_type,
                        }
                    ]
                }
                for number, (name, artifact_type) in enumerate(outputs.items())
            },
            "parameters": {
                name: {"outputFile": str(workdir / f"{name}.txt")}
                for name, artifact_type in outputs.items()
                if artifact_type is STRING_ARTIFACT
            },
            "outputFile": str(workdir / "executor_output.json"),
        },
    }
    args = [json.dumps(executor_input) if a == "{{$}}" else a for a in container["args"]]
    command = [sys.executable if c == "python" else c for c in container["command"]]
    done = subprocess.run(
        command + args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((workdir / "executor_output.json").read_text())


def test_data_snapshot_step_hands_example_gen_the_latest_folder_and_options(spec, tmp_path):
    data = tmp_path / "data"
    for name in ("2026-11-01", "2026-11-22"):
        # 10 a class: the fewest that give each class an image in the 20% eval split.
        demo_data.generate(str(data / name), per_class=10, seed=1)
    # data_root is the run parameter: a run sets it.
    parameters = {"data_root": str(data), **constants(spec, "DataSnapshot")}
    outputs = {"data_folder": STRING_ARTIFACT, "example_gen_config": STRING_ARTIFACT}
    (tmp_path / "snapshot").mkdir()

    snapshot = run_step(spec, "DataSnapshot", parameters, outputs, tmp_path / "snapshot")

    values = snapshot["parameterValues"]
    assert values["data_folder"] == str(data / "2026-11-22")
    options = executor.unpack_custom_config({"custom_config": values["example_gen_config"]})
    assert options[executor.INPUT_FORMAT_KEY] == "images"
    assert "num_files:40" in options["input_fingerprint"]

    # KFP's driver gives those outputs to ExampleGen as its input_base and custom_config.
    parameters = {
        **constants(spec, "ImageExampleGen"),
        "input_base": values["data_folder"],
        "custom_config": values["example_gen_config"],
    }
    (tmp_path / "example_gen").mkdir()
    outputs = {"examples": EXAMPLES_ARTIFACT}

    run_step(spec, "ImageExampleGen", parameters, outputs, tmp_path / "example_gen")

    report = json.loads(
        (tmp_path / "example_gen" / "examples" / "ingestion_report.json").read_text()
    )
    assert report["root"] == str(data / "2026-11-22")
    assert sum(report["class_counts"].values()) == 10 * len(demo_data.CLASSES)
