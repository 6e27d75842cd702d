"""ValidationGate: fail the run, before Transform, if the data broke the curated schema or
drifted from the data that trained the served model.

TFX's ExampleValidator only records anomalies (and a `blessed` flag); downstream components run
anyway. This gate reads the anomalies and raises with a readable list, and the pipeline makes
Transform wait on it, so bad data never reaches training.

It stops a change of the class set too (a class added, removed, renamed): label ids are
positions in the sorted class list, so the served model's id 3 would be judged against another
class's images, and clients asking for `class_name` would get other classes unannounced. A
deliberate change is accepted with `accept_class_change` for one run, which the Evaluator then
judges by the floor alone.

It also checks drift, which ExampleValidator in TFX 1.16 cannot (it takes no previous
statistics): the train split's statistics against those the served version was trained on,
which the Pusher keeps in the registry and BaselineModel copies in. The schema's
`drift_comparator`s say which features are compared and how far they may move.
"""

import os
from collections.abc import Callable

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.component.experimental.annotations import InputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

from components import features
from components.example_gen.class_names import read_class_names
from components.registry import registry
from components.registry.component import (
    baseline_version,
    class_set_change,
    served_class_names,
    training_statistics,
)

ANOMALIES_FILE = "SchemaDiff.pb"


class DataValidationError(RuntimeError):
    """The examples do not match the curated schema, or drifted; the message lists each
    anomaly."""


def describe(
    split: str, found: anomalies_pb2.Anomalies, detail: Callable[[str], str] = lambda _: ""
) -> list[str]:
    """One line per anomaly: split, feature, TFDV's own description, and `detail(feature)`."""
    problems = [
        f"[{split}] feature {feature!r}: {info.short_description}. {info.description}"
        + detail(feature)
        for feature, info in sorted(found.anomaly_info.items())
    ]
    if found.HasField("dataset_anomaly_info"):
        info = found.dataset_anomaly_info
        problems.append(f"[{split}] dataset: {info.short_description}. {info.description}")
    return problems


def describe_anomalies(anomalies: standard_artifacts.ExampleAnomalies) -> list[str]:
    """Every anomaly ExampleValidator found, split by split."""
    problems = []
    for split in artifact_utils.decode_split_names(anomalies.split_names):
        path = os.path.join(artifact_utils.get_split_uri([anomalies], split), ANOMALIES_FILE)
        found = anomalies_pb2.Anomalies()
        found.ParseFromString(io_utils.read_bytes_file(path))
        problems += describe(split, found)
    return problems


def value_range(statistics: statistics_pb2.DatasetFeatureStatisticsList, name: str) -> str:
    """'min-max, median m' of a numeric feature (one value: 'v'); '?' if the statistics
    lack it."""
    for dataset in statistics.datasets:
        for feature in dataset.features:
            if list(feature.path.step) == [name] and feature.HasField("num_stats"):
                stats = feature.num_stats
                if stats.min == stats.max:
                    return f"{stats.min:g}"
                return f"{stats.min:g}-{stats.max:g}, median {stats.median:g}"
    return "?"


def drift_problems(
    current: statistics_pb2.DatasetFeatureStatisticsList,
    previous: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
) -> list[str]:
    """The drift anomalies of `current` against `previous` under the schema's comparators,
    each with the values then and now."""
    found = tfdv.validate_statistics(current, schema, previous_statistics=previous)
    return describe(
        features.TRAIN_SPLIT,
        found,
        lambda name: (
            f" Now {value_range(current, name)}; in the served version's training data "
            f"{value_range(previous, name)}."
        ),
    )


def served_statistics(
    baseline: standard_artifacts.Model,
) -> statistics_pb2.DatasetFeatureStatisticsList | None:
    """The statistics of the data that trained the served version; None without one."""
    serialized = registry.read_statistics(baseline.uri)
    if serialized is None:
        return None
    return statistics_pb2.DatasetFeatureStatisticsList.FromString(serialized)


def empty_splits(statistics: standard_artifacts.ExampleStatistics) -> list[str]:
    """The splits StatisticsGen found no example in. (Image folders are refused earlier, class
    by class; TFRecords are split as they are read, so this is where an empty split shows.)"""
    return [
        split
        for split in artifact_utils.decode_split_names(statistics.split_names)
        if sum(
            d.num_examples
            for d in stats_artifact_utils.load_statistics(statistics, split).proto().datasets
        )
        == 0
    ]


@component
def ValidationGate(  # noqa: N802 - TFX component naming
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    schema: InputArtifact[standard_artifacts.Schema],
    baseline: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    check_drift: Parameter[bool] = True,
    accept_class_change: Parameter[bool] = False,
) -> None:
    """Raises DataValidationError if any split has schema anomalies, if the classes differ
    from the served version's (unless `accept_class_change`), or (with `check_drift`) if the
    train split drifted from the served version's training data; passes otherwise."""
    empty = empty_splits(statistics)
    if empty:
        raise DataValidationError(
            f"No examples in the {' and '.join(empty)} split: a model cannot be trained or "
            "judged. The examples go to a split by a hash of their file name; add data, or "
            "raise the eval percent."
        )
    problems = describe_anomalies(anomalies)
    if problems:
        raise DataValidationError(
            "The examples do not match the schema in schemas/; the run stops before training:\n  "
            + "\n  ".join(problems)
        )
    change = class_set_change(served_class_names(baseline), read_class_names(examples.uri))
    if change and not accept_class_change:
        raise DataValidationError(
            f"The classes differ from those of the served version {baseline_version(baseline)}: "
            f"{change}. The run stops before training. If the change is deliberate, run once "
            "with ACCEPT_CLASS_CHANGE=true (--accept-class-change true): the candidate is then "
            "judged by the gate's floor alone, and the version it pushes answers with the new "
            "classes."
        )
    previous = served_statistics(baseline) if check_drift else None
    if previous is None:
        return
    current = training_statistics(statistics)
    curated = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema.uri))
    problems = drift_problems(current, previous, curated)
    if problems:
        raise DataValidationError(
            f"The data drifted from what trained the served version "
            f"{baseline_version(baseline)}; the run stops before training:\n  "
            + "\n  ".join(problems)
            + "\nIf the change is deliberate, run once with CHECK_DRIFT=false (--check-drift "
            "false); the model it pushes becomes the new reference."
        )
