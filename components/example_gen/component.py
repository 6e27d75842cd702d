"""ImageExampleGen: TFX's FileBasedExampleGen with our image-reading executor.

Reusing FileBasedExampleGen keeps TFX's split rule (a hash of the file name) and its input
fingerprint (a re-run on unchanged files is a cache hit); the reading is ours, and for an image
folder so is applying the split rule (once per file, before reading: executor.py).
"""

from __future__ import annotations

from tfx.components import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.dsl.components.base.base_component import BaseComponent
from tfx.proto import example_gen_pb2

from components import features
from components.example_gen import (
    DEFAULT_EVAL_PERCENT,
    DEFAULT_MAX_BAD_FILE_FRACTION,
    EXAMPLE_GEN_NODE_ID,
    executor,
)
from components.example_gen.splits import split_config

# Glob patterns, relative to the data folder, that name the input files of each format.
# TFRecord files must be named *.tfrecord* so that class_names.txt beside them is not read.
INPUT_PATTERNS = {"images": "*/*", "tfrecord": "*.tfrecord*"}


def input_config(input_format: str) -> example_gen_pb2.Input:
    """The files ExampleGen reads in `input_format`, as one input split."""
    if input_format not in INPUT_PATTERNS:
        raise ValueError(
            f"input_format must be one of {sorted(INPUT_PATTERNS)}, got {input_format!r}"
        )
    return example_gen_pb2.Input(
        splits=[
            example_gen_pb2.Input.Split(name="single_split", pattern=INPUT_PATTERNS[input_format])
        ]
    )


def ImageExampleGen(  # noqa: N802 - named like the TFX components it stands beside
    data_root: str,
    input_format: str = "images",
    eval_percent: int = DEFAULT_EVAL_PERCENT,
    max_bad_file_fraction: float = DEFAULT_MAX_BAD_FILE_FRACTION,
    max_megapixels: float = features.DEFAULT_MAX_MEGAPIXELS,
    fingerprint: str = "",
) -> FileBasedExampleGen:
    """An ExampleGen over `data_root/<class>/<image>` (or TFRecord files of tf.Examples).
    `fingerprint`, the folder's as the runner found it, keys the cache on what TFX's own
    fingerprint misses (a file moved between class folders)."""
    options = executor.pack_custom_config(
        {
            executor.INPUT_FORMAT_KEY: input_format,
            executor.MAX_BAD_FILE_FRACTION_KEY: max_bad_file_fraction,
            executor.MAX_MEGAPIXELS_KEY: max_megapixels,
            **({executor.FINGERPRINT_KEY: fingerprint} if fingerprint else {}),
        }
    )
    return _example_gen(data_root, input_config(input_format), eval_percent, options)


def ImageExampleGenFromSnapshot(  # noqa: N802
    snapshot: BaseComponent, input_format: str = "images", eval_percent: int = DEFAULT_EVAL_PERCENT
) -> FileBasedExampleGen:
    """ImageExampleGen reading the folder DataSnapshot chose, with the options it wrote (among
    them the folder's fingerprint, so that a cache keyed on parameters sees new data)."""
    return _example_gen(
        snapshot.outputs["data_folder"].future()[0].value,
        input_config(input_format),
        eval_percent,
        snapshot.outputs["example_gen_config"].future()[0].value,
    )


def _example_gen(data_root, inputs, eval_percent, options) -> FileBasedExampleGen:
    return FileBasedExampleGen(
        input_base=data_root,
        input_config=inputs,
        output_config=split_config(eval_percent),
        custom_config=options,
        custom_executor_spec=executor_spec.BeamExecutorSpec(executor.Executor),
    ).with_id(EXAMPLE_GEN_NODE_ID)
