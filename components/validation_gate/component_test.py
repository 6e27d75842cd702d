"""ValidationGate: wired after ExampleValidator, and its message lists each anomaly."""

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import v1 as tfx
from tfx.types import artifact_utils, standard_artifacts

from components.validation_gate.component import ANOMALIES_FILE, ValidationGate, describe_anomalies

pytestmark = pytest.mark.component


def anomalies_artifact(tmp_path, per_split: dict[str, anomalies_pb2.Anomalies]):
    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = str(tmp_path)
    artifact.split_names = artifact_utils.encode_split_names(list(per_split))
    for split, anomalies in per_split.items():
        folder = tmp_path / f"Split-{split}"
        folder.mkdir()
        (folder / ANOMALIES_FILE).write_bytes(anomalies.SerializeToString())
    return artifact


def test_takes_the_validator_anomalies_as_input():
    anomalies = tfx.dsl.Channel(type=standard_artifacts.ExampleAnomalies)
    gate = ValidationGate(anomalies=anomalies)
    assert gate.inputs["anomalies"] is anomalies
    assert dict(gate.outputs) == {}


def test_clean_splits_describe_nothing(tmp_path):
    clean = anomalies_pb2.Anomalies()
    artifact = anomalies_artifact(tmp_path, {"train": clean, "eval": clean})
    assert describe_anomalies(artifact) == []


def test_each_anomaly_is_named_with_split_and_feature(tmp_path):
    broken = anomalies_pb2.Anomalies()
    info = broken.anomaly_info["label"]
    info.short_description = "Column dropped"
    info.description = "The feature was present in fewer examples than expected."
    artifact = anomalies_artifact(tmp_path, {"train": anomalies_pb2.Anomalies(), "eval": broken})

    assert describe_anomalies(artifact) == [
        "[eval] feature 'label': Column dropped. "
        "The feature was present in fewer examples than expected."
    ]
