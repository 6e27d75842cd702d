"""`make kubeflow-local`: the compiled Kubeflow pipeline run here step by step, as KFP v2's
launcher runs each step (an ExecutorInput from the spec, the container's command in a fresh
process, the executor output read back). Real TFX, Beam and TensorFlow in every step; what it
cannot show is a cluster scheduling the pods."""

import contextlib
import io
import json
import os
from pathlib import Path

import pytest
import tensorflow as tf

from components import features
from components.registry import registry
from components.trainer import hyperparameters, training_report
from pipeline import demo_data, kubeflow_local
from pipeline.config import OutputLayout

TINY = ["--epochs", "1", "--image-size", "32", "--gate-floor", "0", "--weights", "none"]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """One run of the compiled pipeline on fresh outputs; later tests run again on them."""
    root = tmp_path_factory.mktemp("kubeflow-local")
    data, outputs = root / "data", root / "outputs"
    demo_data.generate(str(data), per_class=10, seed=1)  # every class has an eval image
    return data, outputs, run(data, outputs)


def run(data: Path, outputs: Path, *flags: str) -> tuple[int, str, str]:
    """make kubeflow-local, in this process: (exit code, standard output, standard error)."""
    argv = ["--data", str(data), "--outputs", str(outputs), *TINY, *flags]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = kubeflow_local.main(argv, {})
    return code, stdout.getvalue(), stderr.getvalue()


def last_run_dir(outputs: Path) -> Path:
    return sorted(Path(OutputLayout(str(outputs)).kubeflow_local_dir).glob("run-*"))[-1]


@pytest.mark.e2e
def test_the_compiled_pipeline_runs_here_and_pushes_a_model_that_serves_bytes(first_run):
    data, outputs, (code, out, err) = first_run
    assert code == 0, err[-3000:]
    assert "[11/11] Pusher done" in out
    serving = OutputLayout(str(outputs)).serving_dir
    served = registry.served_version(serving)
    assert served.number == 1
    assert served.record["data"]["folder"] == str(data)
    model = tf.saved_model.load(served.path).signatures[features.SERVING_SIGNATURE]
    with open(next(data.glob("circle/*.png")), "rb") as f:
        answer = model(**{features.IMAGE_KEY: tf.constant([f.read()])})
    assert answer[features.CLASS_NAME_KEY].numpy()[0].decode() in demo_data.CLASSES
    # Each step ran in a process of its own, with its log.
    local_dir = Path(OutputLayout(str(outputs)).kubeflow_local_dir)
    logs = os.listdir(last_run_dir(outputs) / "logs")
    assert sorted(logs) == sorted(
        f"{task}.log"
        for task in kubeflow_local.task_order(
            kubeflow_local.load_spec(str(local_dir / "pipeline.yaml"))
        )
    )


@pytest.mark.e2e
def test_a_second_run_on_the_same_data_reuses_what_kfp_would_cache(first_run):
    """The steps that look at the data and at what is served run again, and so does what
    reads the served model."""
    data, outputs, _ = first_run

    code, again, err = run(data, outputs)

    assert code == 0, err[-3000:]
    for step in ["ImageExampleGen", "StatisticsGen", "Transform", "Trainer"]:
        assert f"] {step} cached" in again, step
    for step in ["DataSnapshot", "BaselineModel", "ValidationGate", "Evaluator", "Pusher"]:
        assert f"] {step} done" in again, step
    serving = OutputLayout(str(outputs)).serving_dir
    assert [v.number for v in registry.list_versions(serving)] == [1]  # the same model


@pytest.mark.e2e
def test_the_tuner_and_the_trainer_run_with_the_runs_training_settings(first_run):
    """TUNE compiles in a Tuner; RUN_PARAMS' training_config reaches both it and the Trainer,
    which train again, while the data steps and Transform stay cached."""
    data, outputs, _ = first_run
    run_params = json.dumps({"training_config": {"label_smoothing": 0.125, "fine_tune_epochs": 1}})

    code, out, err = run(
        data, outputs, "--tune", "true", "--tuner-trials", "1", "--run-params", run_params
    )

    assert code == 0, err[-3000:]
    for step in ["ImageExampleGen", "StatisticsGen", "Transform"]:
        assert f"] {step} cached" in out, step
    for step in ["Tuner", "Trainer", "Evaluator", "Pusher"]:
        assert f"] {step} done" in out, step
    work = last_run_dir(outputs)
    tuner_log = (work / "logs" / "Tuner.log").read_text()
    assert '"label_smoothing": 0.125' in tuner_log
    (effective_file,) = work.glob(f"Trainer/**/{training_report.EFFECTIVE_CONFIG_FILE}")
    effective = json.loads(effective_file.read_text())
    assert effective["settings"]["label_smoothing"] == 0.125
    assert set(effective["tuned_hyperparameters"]) == set(hyperparameters.TUNED)


@pytest.mark.pipeline
def test_tasks_run_after_everything_they_read_from(tmp_path):
    from pipeline import kubeflow_runner
    from tests.helpers import KUBEFLOW_COMPILE_FLAGS

    package = str(tmp_path / "pipeline.yaml")
    assert kubeflow_runner.main([*KUBEFLOW_COMPILE_FLAGS, "--output", package], environ={}) == 0
    spec = kubeflow_local.load_spec(package)

    order = kubeflow_local.task_order(spec)

    assert sorted(order) == sorted(spec.root.dag.tasks)
    for name, task in spec.root.dag.tasks.items():
        for upstream in task.dependent_tasks:
            assert order.index(upstream) < order.index(name), (upstream, name)


@pytest.mark.pipeline
def test_an_unknown_run_parameter_is_named(tmp_path):
    from pipeline import kubeflow_runner
    from tests.helpers import KUBEFLOW_COMPILE_FLAGS

    package = str(tmp_path / "pipeline.yaml")
    assert kubeflow_runner.main([*KUBEFLOW_COMPILE_FLAGS, "--output", package], environ={}) == 0

    with pytest.raises(ValueError, match="no run parameter epochs"):
        kubeflow_local.run_parameters(kubeflow_local.load_spec(package), {"epochs": 3})


@pytest.mark.pipeline
def test_each_run_parameter_reaches_the_steps_that_read_it(tmp_path):
    from pipeline import kubeflow_runner
    from tests.helpers import KUBEFLOW_COMPILE_FLAGS

    package = str(tmp_path / "pipeline.yaml")
    argv = [*KUBEFLOW_COMPILE_FLAGS, "--tune", "true", "--output", package]
    assert kubeflow_runner.main(argv, environ={}) == 0
    spec = kubeflow_local.load_spec(package)
    settings = json.dumps({"epochs": 3})

    given = kubeflow_local.run_parameters(
        spec, {"data_root": "/data/2026-12-06", "training_config": settings}
    )

    def arguments(task: str) -> dict:
        return kubeflow_local.task_arguments(spec.root.dag.tasks[task], given, {})

    assert arguments("DataSnapshot")["data_root"] == "/data/2026-12-06"
    assert arguments("Tuner")["custom_config"] == settings
    assert arguments("Trainer")["custom_config"] == settings
