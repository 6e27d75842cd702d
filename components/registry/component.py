"""BaselineModel and RegistryPusher: the two ends of the gate, both reading the push destination.

TFX's usual baseline is a `Resolver` node querying ML Metadata for the latest blessed model.
Open-source Kubeflow Pipelines v2 cannot run resolver nodes, and ML Metadata knows what was
blessed, not what is served. So the baseline is read where serving reads: the registry in the
push destination (registry.py). The same two components run locally and on Kubeflow.

BaselineModel must run every time (the served version changes between runs while its inputs do
not): the runners turn caching off for it (see pipeline.dag.ALWAYS_RUN).
"""

import json
import os
from typing import Any

import tensorflow as tf
from absl import logging
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx import types
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.component.experimental.annotations import (
    InputArtifact,
    OutputArtifact,
    Parameter,
)
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components import features
from components.common.artifact_json import read_json_if_present
from components.evaluator import evaluation
from components.example_gen.class_names import read_class_names
from components.example_gen.executor import INGESTION_REPORT_FILE
from components.registry import provenance, registry
from components.trainer.export import ASSETS_EXTRA_DIR
from components.trainer.training_report import EFFECTIVE_CONFIG_FILE

# The node id the pipeline gives BaselineModel; the run summary finds its output by it.
BASELINE_NODE_ID = "BaselineModel"
PUSHER_NODE_ID = "Pusher"
# Custom property of the BaselineModel artifact: the served version copied in, 0 for none.
BASELINE_VERSION_PROPERTY = "served_version"
# Custom properties of PushedModel, named as TFX's own Pusher names them.
PUSHED_PROPERTY = "pushed"
PUSHED_DESTINATION_PROPERTY = "pushed_destination"
PUSHED_VERSION_PROPERTY = "pushed_version"
# Set when a blessed model is not pushed because the registry already holds it.
ALREADY_PUSHED_PROPERTY = "already_pushed_as"
RECORD_FILE = registry.RECORD_FILE


def baseline_version(baseline: types.Artifact | None) -> int:
    """The served version a BaselineModel artifact holds; 0 when there was none to copy."""
    if (
        baseline is None
        or BASELINE_VERSION_PROPERTY not in baseline.mlmd_artifact.custom_properties
    ):
        return 0
    return baseline.get_int_custom_property(BASELINE_VERSION_PROPERTY)


def served_class_names(baseline: types.Artifact | None) -> list[str] | None:
    """The classes the served version (copied in by BaselineModel) answers with, by label id;
    None when nothing is served, or the served model does not say (not exported here)."""
    if baseline_version(baseline) == 0:
        return None
    model_dir = path_utils.serving_model_dir(baseline.uri)
    try:
        return read_class_names(os.path.join(model_dir, ASSETS_EXTRA_DIR))
    except FileNotFoundError:
        logging.warning("The served version names no classes: its classes are not compared.")
        return None


def class_set_change(served: list[str] | None, current: list[str]) -> str | None:
    """How today's classes differ from the served version's, in words; None if they are the
    same names in the same order (so label id i means the same class in both)."""
    if served is None or list(served) == list(current):
        return None
    added = [name for name in current if name not in served]
    removed = [name for name in served if name not in current]
    changes = []
    if added and len(added) == len(removed):
        changes.append(
            "renamed (or replaced) "
            + ", ".join(f"{old!r} -> {new!r}" for old, new in zip(removed, added, strict=True))
        )
    else:
        changes += [f"added {added}"] * bool(added) + [f"removed {removed}"] * bool(removed)
    if not added and not removed:
        changes.append("reordered")
    return (
        "; ".join(changes)
        + f" (served: {list(served)}; now: {list(current)}): label ids would name other classes"
    )


@component
def BaselineModel(  # noqa: N802 - TFX component naming
    serving_dir: Parameter[str],
    baseline: OutputArtifact[standard_artifacts.Model],
) -> None:
    """Copies the served version (the registry's latest) in as the Evaluator's baseline, with
    the statistics of the data that trained it (ValidationGate's drift check compares with them).

    On the first run there is none: the artifact stays empty, marked version 0, and the
    Evaluator judges the candidate by the floor alone.
    """
    served = registry.served_version(serving_dir)
    if served is None:
        logging.info("No model has been pushed to %s yet: no baseline.", serving_dir)
        baseline.set_int_custom_property(BASELINE_VERSION_PROPERTY, 0)
        return
    registry.copy_model(served.path, path_utils.serving_model_dir(baseline.uri))
    statistics = registry.read_statistics(served.path)
    if statistics is not None:  # versions pushed before statistics were kept have none
        registry.write_statistics(baseline.uri, statistics)
    baseline.set_int_custom_property(BASELINE_VERSION_PROPERTY, served.number)
    logging.info("Baseline: version %d from %s.", served.number, served.path)


def build_record(
    *,
    fingerprint: str,
    model_uri: str,
    evaluation_uri: str,
    baseline_number: int,
    examples: types.Artifact,
    model_run_uri: str,
    pipeline_config: dict[str, Any],
) -> dict[str, Any]:
    """What a pushed version's push_record.json says (its number and time are added on publish)."""
    class_names = read_class_names(examples.uri)
    metrics = evaluation.read_metrics(evaluation_uri, class_names)
    candidate = evaluation.read_evaluation(evaluation_uri, class_names)[evaluation.CANDIDATE] or {}
    ingestion = read_json_if_present(os.path.join(examples.uri, INGESTION_REPORT_FILE)) or {}
    return {
        "decision": {
            "action": "push",
            "blessed": True,
            "baseline_version": baseline_number or None,
            "gate": pipeline_config.get("gate"),
        },
        "model": {"fingerprint": fingerprint, "trainer_output": model_uri},
        "metrics": metrics["candidate"],
        "baseline_metrics": metrics["baseline"],
        "class_names": class_names,
        "per_class": candidate.get("per_class"),
        "confusion_matrix": candidate.get("confusion_matrix"),
        "evaluation": evaluation_uri,
        "data": {
            **provenance.data_provenance(
                examples.uri,
                {
                    key: examples.get_custom_property(key)
                    for key in ("input_fingerprint", "span")
                    if key in examples.mlmd_artifact.custom_properties
                },
            ),
            # The folder read: with snapshots, which one trained this model.
            "folder": ingestion.get("root"),
            "class_counts": ingestion.get("class_counts"),
        },
        "config": {
            "pipeline": pipeline_config,
            "trainer": read_json_if_present(os.path.join(model_run_uri, EFFECTIVE_CONFIG_FILE)),
        },
        "code_version": provenance.code_version(),
    }


def training_statistics(
    statistics: types.Artifact,
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """The train split's statistics from StatisticsGen's artifact."""
    return stats_artifact_utils.load_statistics(statistics, features.TRAIN_SPLIT).proto()


def _not_pushed(pushed_model: types.Artifact) -> None:
    pushed_model.set_int_custom_property(PUSHED_PROPERTY, 0)


@component
def RegistryPusher(  # noqa: N802 - TFX component naming
    model: InputArtifact[standard_artifacts.Model],
    model_blessing: InputArtifact[standard_artifacts.ModelBlessing],
    evaluation: InputArtifact[standard_artifacts.ModelEvaluation],
    baseline: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    model_run: InputArtifact[standard_artifacts.ModelRun],
    serving_dir: Parameter[str],
    pipeline_config: Parameter[str],
    pushed_model: OutputArtifact[standard_artifacts.PushedModel],
) -> None:
    """Publishes a blessed model as the registry's next version, with its record.

    A model that was not blessed is not pushed; neither is one the registry already holds
    (a re-run that re-blesses the same model, or the model a rollback moved away from).
    """
    if not model_blessing.get_int_custom_property("blessed"):
        logging.info("Model not blessed: nothing pushed; %s unchanged.", serving_dir)
        _not_pushed(pushed_model)
        return
    model_dir = path_utils.serving_model_path(model.uri)
    fingerprint = registry.model_fingerprint(model_dir)
    earlier = registry.find_by_fingerprint(serving_dir, fingerprint)
    if earlier is not None:
        logging.info(
            "This model was pushed before as version %d: not pushed again.", earlier.number
        )
        _not_pushed(pushed_model)
        pushed_model.set_int_custom_property(ALREADY_PUSHED_PROPERTY, earlier.number)
        return
    record = build_record(
        fingerprint=fingerprint,
        model_uri=model.uri,
        evaluation_uri=evaluation.uri,
        baseline_number=baseline_version(baseline),
        examples=examples,
        model_run_uri=model_run.uri,
        pipeline_config=json.loads(pipeline_config),
    )
    # Judged against the baseline: published over that version only, never over a newer one.
    version = registry.publish(
        serving_dir,
        model_dir,
        record,
        training_statistics(statistics).SerializeToString(),
        expected_served=baseline_version(baseline),
    )
    # A copy of the record in the artifact too, so ML Metadata's lineage leads to it.
    tf.io.gfile.makedirs(pushed_model.uri)
    tf.io.gfile.copy(
        os.path.join(version.path, RECORD_FILE),
        os.path.join(pushed_model.uri, RECORD_FILE),
        overwrite=True,
    )
    pushed_model.set_int_custom_property(PUSHED_PROPERTY, 1)
    pushed_model.set_string_custom_property(PUSHED_DESTINATION_PROPERTY, version.path)
    pushed_model.set_string_custom_property(PUSHED_VERSION_PROPERTY, str(version.number))
    logging.info("Pushed version %d to %s.", version.number, version.path)
