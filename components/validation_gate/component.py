"""ValidationGate: fail the run, before Transform, if the data broke the curated schema.

TFX's ExampleValidator only records anomalies (and a `blessed` flag); downstream components run
anyway. This gate reads the anomalies and raises with a readable list, and the pipeline makes
Transform wait on it, so bad data never reaches training.
"""

import os

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import v1 as tfx
from tfx.types import artifact_utils
from tfx.utils import io_utils

ANOMALIES_FILE = "SchemaDiff.pb"


class DataValidationError(RuntimeError):
    """The examples do not match the curated schema; the message lists each anomaly."""


def describe_anomalies(anomalies: tfx.types.standard_artifacts.ExampleAnomalies) -> list[str]:
    """One line per anomaly: split, feature, and TFDV's own description."""
    problems = []
    for split in artifact_utils.decode_split_names(anomalies.split_names):
        path = os.path.join(artifact_utils.get_split_uri([anomalies], split), ANOMALIES_FILE)
        found = anomalies_pb2.Anomalies()
        found.ParseFromString(io_utils.read_bytes_file(path))
        for feature, info in sorted(found.anomaly_info.items()):
            problems.append(
                f"[{split}] feature {feature!r}: {info.short_description}. {info.description}"
            )
        if found.HasField("dataset_anomaly_info"):
            info = found.dataset_anomaly_info
            problems.append(f"[{split}] dataset: {info.short_description}. {info.description}")
    return problems


@tfx.dsl.components.component
def ValidationGate(  # noqa: N802 - TFX component naming
    anomalies: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ExampleAnomalies],
) -> None:
    """Raises DataValidationError if any split has anomalies; passes silently otherwise."""
    problems = describe_anomalies(anomalies)
    if problems:
        raise DataValidationError(
            "The examples do not match the schema in schemas/; the run stops before training:\n  "
            + "\n  ".join(problems)
        )
