"""`make kubeflow-local`: the compiled Kubeflow pipeline run here step by step, as KFP v2's
launcher runs each step (an ExecutorInput from the spec, the container's command in a fresh
process, the executor output read back). Real TFX, Beam and TensorFlow in every step; what it
cannot show is a cluster scheduling the pods."""

import os
from pathlib import Path

import pytest
import tensorflow as tf

from components import features
from components.registry import registry
from pipeline import demo_data, kubeflow_local
from pipeline.config import OutputLayout

TINY = ["--epochs", "1", "--image-size", "32", "--gate-floor", "0", "--weights", "none"]


@pytest.mark.e2e
def test_the_compiled_pipeline_runs_here_and_pushes_a_model_that_serves_bytes(tmp_path, capsys):
    data, outputs = tmp_path / "data", tmp_path / "outputs"
    demo_data.generate(str(data), per_class=10, seed=1)  # every class has an eval image

    code = kubeflow_local.main(["--data", str(data), "--outputs", str(outputs), *TINY], {})

    printed = capsys.readouterr()
    assert code == 0, printed.err[-3000:]
    assert "[11/11] Pusher done" in printed.out
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
    logs = os.listdir(next(local_dir.glob("run-*")) / "logs")
    assert sorted(logs) == sorted(
        f"{task}.log"
        for task in kubeflow_local.task_order(
            kubeflow_local.load_spec(str(local_dir / "pipeline.yaml"))
        )
    )

    # Again on the same data: what KFP's cache would serve is served; the steps that look at
    # the data and at what is served run again, and so does what reads the served model.
    assert kubeflow_local.main(["--data", str(data), "--outputs", str(outputs), *TINY], {}) == 0
    again = capsys.readouterr().out
    for step in ["ImageExampleGen", "StatisticsGen", "Transform", "Trainer"]:
        assert f"] {step} cached" in again, step
    for step in ["DataSnapshot", "BaselineModel", "ValidationGate", "Evaluator", "Pusher"]:
        assert f"] {step} done" in again, step
    assert [v.number for v in registry.list_versions(serving)] == [1]  # the same model


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
