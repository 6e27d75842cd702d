"""BaselineModel and RegistryPusher executors run for real on artifacts in a temporary folder.

The blessed-and-new path (which reads TFMA's metrics) runs in the e2e tests; here: what the
baseline is, and the two cases where the Pusher must leave the registry alone.
"""

import os

import pytest
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.evaluator.executor import BASELINE_KEY, comparable_inputs
from components.example_gen.class_names import write_class_names
from components.registry import registry
from components.registry.component import (
    ALREADY_PUSHED_PROPERTY,
    PUSHED_PROPERTY,
    BaselineModel,
    RegistryPusher,
    baseline_version,
    class_set_change,
    served_class_names,
)
from components.trainer.export import ASSETS_EXTRA_DIR
from tests.helpers import save_tiny_model

pytestmark = pytest.mark.component


def artifact(artifact_type, uri):
    instance = artifact_type()
    instance.uri = str(uri)
    return instance


def run_baseline(serving_dir, out_dir) -> standard_artifacts.Model:
    baseline = artifact(standard_artifacts.Model, out_dir)
    executor = BaselineModel.EXECUTOR_SPEC.executor_class()
    executor.Do({}, {"baseline": [baseline]}, {"serving_dir": str(serving_dir)})
    return baseline


def test_no_served_model_gives_an_empty_baseline_the_evaluator_drops(tmp_path):
    baseline = run_baseline(tmp_path / "serving", tmp_path / "baseline")

    assert baseline_version(baseline) == 0
    assert not os.path.exists(path_utils.serving_model_dir(str(tmp_path / "baseline")))
    inputs = {"model": [standard_artifacts.Model()], BASELINE_KEY: [baseline]}
    assert comparable_inputs(inputs, ["a", "b"]) == ({"model": inputs["model"]}, None)


def test_the_baseline_is_a_copy_of_the_served_version(tmp_path):
    serving = str(tmp_path / "serving")
    registry.publish(serving, save_tiny_model(tmp_path / "m1", 1.0), {})
    served = registry.publish(serving, save_tiny_model(tmp_path / "m2", 2.0), {})

    baseline = run_baseline(serving, tmp_path / "baseline")

    assert baseline_version(baseline) == 2
    copied = path_utils.serving_model_path(baseline.uri)
    assert registry.model_fingerprint(copied) == registry.model_fingerprint(served.path)
    inputs = {BASELINE_KEY: [baseline]}
    assert comparable_inputs(inputs, ["a", "b"]) == (inputs, None)  # it names no classes


def test_the_baseline_carries_the_statistics_its_version_was_trained_on(tmp_path):
    serving = str(tmp_path / "serving")
    registry.publish(serving, save_tiny_model(tmp_path / "m1", 1.0), {}, b"statistics of 1")
    registry.publish(serving, save_tiny_model(tmp_path / "m2", 2.0), {}, b"statistics of 2")
    assert registry.read_statistics(run_baseline(serving, tmp_path / "b2").uri) == (
        b"statistics of 2"
    )

    # A version pushed before statistics were kept: a baseline without them (no drift check).
    registry.publish(serving, save_tiny_model(tmp_path / "m3", 3.0), {})
    assert registry.read_statistics(run_baseline(serving, tmp_path / "b3").uri) is None


def run_pusher(tmp_path, serving_dir, model_dir, blessed: bool) -> standard_artifacts.PushedModel:
    model = artifact(standard_artifacts.Model, tmp_path / "model")
    registry.copy_model(model_dir, path_utils.serving_model_dir(model.uri))
    blessing = artifact(standard_artifacts.ModelBlessing, tmp_path / "blessing")
    blessing.set_int_custom_property("blessed", int(blessed))
    pushed = artifact(standard_artifacts.PushedModel, tmp_path / "pushed")
    inputs = {
        "model": [model],
        "model_blessing": [blessing],
        "evaluation": [artifact(standard_artifacts.ModelEvaluation, tmp_path / "evaluation")],
        "baseline": [artifact(standard_artifacts.Model, tmp_path / "baseline")],
        "examples": [artifact(standard_artifacts.Examples, tmp_path / "examples")],
        "statistics": [artifact(standard_artifacts.ExampleStatistics, tmp_path / "statistics")],
        "model_run": [artifact(standard_artifacts.ModelRun, tmp_path / "model_run")],
    }
    executor = RegistryPusher.EXECUTOR_SPEC.executor_class()
    executor.Do(
        inputs,
        {"pushed_model": [pushed]},
        {"serving_dir": str(serving_dir), "pipeline_config": "{}"},
    )
    return pushed


def test_a_model_that_was_not_blessed_is_not_pushed(tmp_path):
    serving = tmp_path / "serving"
    registry.publish(str(serving), save_tiny_model(tmp_path / "served", 1.0), {})
    before = registry.model_fingerprint(str(serving / "1"))

    pushed = run_pusher(tmp_path, serving, save_tiny_model(tmp_path / "m", 5.0), blessed=False)

    assert pushed.get_int_custom_property(PUSHED_PROPERTY) == 0
    assert [v.number for v in registry.list_versions(str(serving))] == [1]
    assert registry.model_fingerprint(str(serving / "1")) == before


def test_a_blessed_model_the_registry_already_holds_is_not_pushed_again(tmp_path):
    serving = tmp_path / "serving"
    model_dir = save_tiny_model(tmp_path / "m", 5.0)
    fingerprint = registry.model_fingerprint(model_dir)
    registry.publish(str(serving), model_dir, {"model": {"fingerprint": fingerprint}})
    registry.publish(str(serving), save_tiny_model(tmp_path / "other", 6.0), {})

    pushed = run_pusher(tmp_path, serving, model_dir, blessed=True)

    assert pushed.get_int_custom_property(PUSHED_PROPERTY) == 0
    assert pushed.get_int_custom_property(ALREADY_PUSHED_PROPERTY) == 1
    assert [v.number for v in registry.list_versions(str(serving))] == [1, 2]


def served_with_classes(tmp_path, names: list[str]):
    """A BaselineModel artifact holding a served version that answers with `names`."""
    model = save_tiny_model(tmp_path / "model", 1.0)
    os.makedirs(os.path.join(model, ASSETS_EXTRA_DIR), exist_ok=True)
    write_class_names(os.path.join(model, ASSETS_EXTRA_DIR), names)
    registry.publish(str(tmp_path / "serving"), model, {})
    return run_baseline(tmp_path / "serving", tmp_path / "baseline")


def test_a_baseline_answering_with_other_classes_is_not_compared(tmp_path):
    baseline = served_with_classes(tmp_path, ["cat", "dog"])
    inputs = {"model": [standard_artifacts.Model()], BASELINE_KEY: [baseline]}

    assert served_class_names(baseline) == ["cat", "dog"]
    assert comparable_inputs(inputs, ["cat", "dog"]) == (inputs, None)
    judged, change = comparable_inputs(inputs, ["cat", "wolf"])
    assert judged == {"model": inputs["model"]}
    assert "renamed (or replaced) 'dog' -> 'wolf'" in change


@pytest.mark.parametrize(
    ("served", "now", "said"),
    [
        (["a", "b"], ["a", "b", "c"], "added ['c']"),
        (["a", "b", "c"], ["a", "c"], "removed ['b']"),
        (["a", "b"], ["a", "x"], "renamed (or replaced) 'b' -> 'x'"),
        (["b", "a"], ["a", "b"], "reordered"),
        (["a", "b"], ["b", "c", "d"], "added ['c', 'd']; removed ['a']"),
    ],
)
def test_each_kind_of_class_change_is_named(served, now, said):
    change = class_set_change(served, now)

    assert change.startswith(said)
    assert f"served: {served}; now: {now}" in change


def test_the_same_classes_or_nothing_served_is_no_change():
    assert class_set_change(["a", "b"], ["a", "b"]) is None
    assert class_set_change(None, ["a", "b"]) is None
