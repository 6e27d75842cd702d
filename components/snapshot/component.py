"""DataSnapshot: which data this run trains on, decided when the run starts, before ExampleGen.

Two jobs, both needed on Kubeflow:

- Pick the data folder. `DATA` is either the image folder itself, or (`latest=True`) a root of
  snapshot folders (`2026-11-01/`, `2026-11-22/`, ... each `<class>/<image>`), of which the
  run takes the last by name. That is how a schedule retrains on new data: drop a new
  snapshot beside the old ones, and the next scheduled run takes it.
- Fingerprint that folder's files (count, sizes, modification times: TFX ExampleGen's own
  fingerprint, plus every file's path, which TFX leaves out: a file moved to another class
  folder keeps its size and time but changes its label) into ExampleGen's options. Kubeflow's
  open-source backend caches a step by its parameters only: TFX's ExampleGen driver, which
  fingerprints the input, runs on Vertex but not there (it is a pre-cache-check hook the
  open-source backend ignores). Without the fingerprint among ExampleGen's parameters, a
  scheduled run on a folder that gained images would reuse the first run's examples forever.
  With it, unchanged data is a cache hit all the way to the Trainer, and changed data a miss.

This step lists files and reads no image, so it always runs (pipeline.ALWAYS_RUN).
"""

import hashlib
import os
from typing import TypedDict

import tensorflow as tf
from google.protobuf import json_format
from tfx.components.example_gen import utils as example_gen_utils
from tfx.dsl.component.experimental.annotations import Parameter
from tfx.dsl.component.experimental.decorators import component

from components.example_gen import executor
from components.example_gen.component import input_config
from components.snapshot.snapshots import data_folder

# Node id; its outputs feed ImageExampleGen's parameters.
DATA_SNAPSHOT_NODE_ID = "DataSnapshot"


def fingerprint(folder: str, input_format: str) -> str:
    """TFX ExampleGen's fingerprint of the files it will read (count, bytes, modification
    times) and a digest of their paths, which carry the labels."""
    found, _, _ = example_gen_utils.calculate_splits_fingerprint_span_and_version(
        folder, input_config(input_format).splits
    )
    return f"{found},paths:{path_digest(folder)}"


def path_digest(folder: str) -> str:
    """sha256 of every file's path under `folder`, sorted: moving a file between class folders
    changes it, whatever its size and modification time."""
    digest = hashlib.sha256()
    for parent, _, names in sorted(tf.io.gfile.walk(folder)):
        for name in sorted(names):
            relative = os.path.relpath(os.path.join(parent, name), folder)
            digest.update(relative.encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()[:16]


class Snapshot(TypedDict):
    data_folder: str
    example_gen_config: str


@component
def DataSnapshot(  # noqa: N802 - TFX component naming
    data_root: Parameter[str],
    input_format: Parameter[str],
    max_bad_file_fraction: Parameter[float],
    max_megapixels: Parameter[float],
    latest: Parameter[bool],
) -> Snapshot:
    """The folder ExampleGen reads, and ExampleGen's options with that folder's fingerprint."""
    folder = data_folder(data_root, latest)
    options = executor.pack_custom_config(
        {
            executor.INPUT_FORMAT_KEY: input_format,
            executor.MAX_BAD_FILE_FRACTION_KEY: max_bad_file_fraction,
            executor.MAX_MEGAPIXELS_KEY: max_megapixels,
            executor.FINGERPRINT_KEY: fingerprint(folder, input_format),
        }
    )
    return {
        "data_folder": folder,
        "example_gen_config": json_format.MessageToJson(options, sort_keys=True),
    }
