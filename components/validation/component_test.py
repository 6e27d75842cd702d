"""ValidationGate: its message lists each schema anomaly, and it stops data that drifted from
the served version's training data (real TFDV statistics, the curated schema)."""

import os
import shutil
from pathlib import Path

import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import path_utils

from components import features
from components.example_gen import ingest
from components.example_gen.class_names import write_class_names
from components.registry import registry
from components.registry.component import BASELINE_VERSION_PROPERTY
from components.trainer.export import ASSETS_EXTRA_DIR
from components.validation.component import (
    ANOMALIES_FILE,
    DataValidationError,
    ValidationGate,
    describe_anomalies,
)
from pipeline.config import CURATED_SCHEMA

pytestmark = pytest.mark.component


def anomalies_artifact(tmp_path, per_split: dict[str, anomalies_pb2.Anomalies]):
    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = str(tmp_path)
    artifact.split_names = artifact_utils.encode_split_names(list(per_split))
    for split, anomalies in per_split.items():
        folder = Path(artifact_utils.get_split_uri([artifact], split))
        folder.mkdir(parents=True)
        (folder / ANOMALIES_FILE).write_bytes(anomalies.SerializeToString())
    return artifact


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


def write_statistics(folder, shapes: list[tuple[int, int, int]]):
    """Real TFDV statistics of examples with these image shapes (through Beam)."""
    folder.mkdir(parents=True)
    records = str(folder / "examples.tfrecord")
    with tf.io.TFRecordWriter(records) as writer:
        for i, shape in enumerate(shapes):
            example = ingest.make_example(b"image", i % 2, f"{i}.png", shape)
            writer.write(example.SerializeToString())
    return tfdv.generate_statistics_from_tfrecord(records)


SMALL_RGB = [(64 + i % 64, 64 + (7 * i) % 64, 3) for i in range(120)]
LARGE_RGB = [(400 + i, 500 + i, 3) for i in range(120)]
SMALL_GRAY = [(h, w, 1) for h, w, _ in SMALL_RGB]


@pytest.fixture(scope="module")
def statistics(tmp_path_factory):
    root = tmp_path_factory.mktemp("statistics")
    return {
        name: write_statistics(root / name, shapes)
        for name, shapes in [("small", SMALL_RGB), ("large", LARGE_RGB), ("gray", SMALL_GRAY)]
    }


def run_gate(
    tmp_path,
    current,
    served,
    check_drift: bool = True,
    classes_now: tuple[str, ...] = ("cat", "dog"),
    classes_served: tuple[str, ...] = ("cat", "dog"),
    accept_class_change: bool = False,
    eval_statistics=None,
) -> None:
    """ValidationGate's executor on real artifacts: clean anomalies, the curated schema, the
    train split's statistics (the eval split's: `eval_statistics`, else the same), examples of
    `classes_now`, and a baseline holding `served` statistics and a model answering with
    `classes_served` (None: nothing served)."""
    anomalies = anomalies_artifact(tmp_path / "anomalies", {"train": anomalies_pb2.Anomalies()})
    statistics = standard_artifacts.ExampleStatistics()
    statistics.uri = str(tmp_path / "statistics")
    by_split = {
        features.TRAIN_SPLIT: current,
        features.EVAL_SPLIT: current if eval_statistics is None else eval_statistics,
    }
    statistics.split_names = artifact_utils.encode_split_names(list(by_split))
    for name, split_statistics in by_split.items():
        split = Path(artifact_utils.get_split_uri([statistics], name))
        split.mkdir(parents=True)
        (split / "FeatureStats.pb").write_bytes(split_statistics.SerializeToString())
    schema = standard_artifacts.Schema()
    schema.uri = str(tmp_path / "schema")
    (tmp_path / "schema").mkdir()
    shutil.copy(CURATED_SCHEMA, tmp_path / "schema" / "schema.pbtxt")
    baseline = standard_artifacts.Model()
    baseline.uri = str(tmp_path / "baseline")
    baseline.set_int_custom_property(BASELINE_VERSION_PROPERTY, 4 if served else 0)
    if served is not None:
        registry.write_statistics(baseline.uri, served.SerializeToString())
        names_dir = os.path.join(path_utils.serving_model_dir(baseline.uri), ASSETS_EXTRA_DIR)
        os.makedirs(names_dir)
        write_class_names(names_dir, list(classes_served))
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    os.makedirs(examples.uri)
    write_class_names(examples.uri, list(classes_now))
    inputs = {
        "anomalies": [anomalies],
        "statistics": [statistics],
        "schema": [schema],
        "baseline": [baseline],
        "examples": [examples],
    }
    properties = {"check_drift": check_drift, "accept_class_change": accept_class_change}
    ValidationGate.EXECUTOR_SPEC.executor_class().Do(inputs, {}, properties)


def test_the_same_kind_of_data_passes(tmp_path, statistics):
    run_gate(tmp_path, statistics["small"], statistics["small"])


def test_larger_images_are_drift_named_with_the_sizes_then_and_now(tmp_path, statistics):
    with pytest.raises(DataValidationError) as raised:
        run_gate(tmp_path, statistics["large"], statistics["small"])

    message = str(raised.value)
    assert "drifted from what trained the served version 4" in message
    assert "'image_height': High approximate Jensen-Shannon divergence" in message
    assert "Now 400-519" in message
    assert "'image_width'" in message
    assert "'image_channels'" not in message
    assert "CHECK_DRIFT=false" in message


def test_grayscale_instead_of_colour_is_drift(tmp_path, statistics):
    with pytest.raises(
        DataValidationError,
        match=r"'image_channels'.* Now 1; in the served version's training data 3\.",
    ) as raised:
        run_gate(tmp_path, statistics["gray"], statistics["small"])
    assert "'image_height'" not in str(raised.value)


def test_drift_passes_when_not_checked_or_nothing_was_served(tmp_path, statistics):
    run_gate(tmp_path / "off", statistics["large"], statistics["small"], check_drift=False)
    run_gate(tmp_path / "first", statistics["large"], None)


def test_a_renamed_class_stops_the_run_naming_it(tmp_path, statistics):
    with pytest.raises(DataValidationError) as raised:
        run_gate(tmp_path, statistics["small"], statistics["small"], classes_now=("cat", "wolf"))

    message = str(raised.value)
    assert "differ from those of the served version 4" in message
    assert "renamed (or replaced) 'dog' -> 'wolf'" in message
    assert "ACCEPT_CLASS_CHANGE=true" in message


def test_an_added_class_stops_the_run_unless_accepted(tmp_path, statistics):
    more = ("cat", "dog", "fox")
    with pytest.raises(DataValidationError, match=r"added \['fox'\]"):
        run_gate(tmp_path / "stopped", statistics["small"], statistics["small"], classes_now=more)

    run_gate(
        tmp_path / "accepted",
        statistics["small"],
        statistics["small"],
        classes_now=more,
        accept_class_change=True,
    )


def test_an_empty_eval_split_stops_the_run_naming_it(tmp_path, statistics):
    """TFRecords are split as they are read; an eval split left empty must not train a model
    that nothing can judge (it was "not blessed" without a reason)."""
    empty = write_statistics(tmp_path / "empty", [])
    assert [d.num_examples for d in empty.datasets] == [0]

    with pytest.raises(DataValidationError, match="No examples in the eval split"):
        run_gate(tmp_path / "gate", statistics["small"], None, eval_statistics=empty)
