"""Beam executor: image folder (or TFRecord folder) -> tf.Examples, plus the class names.

It plugs into TFX's FileBasedExampleGen, so splitting, output format, caching by input
fingerprint and artifact bookkeeping are TFX's own. What it adds: reading images, skipping and
reporting undecodable files, and writing `class_names.json` and `ingestion_report.json` into
the Examples artifact, where the Trainer and the run summary find them.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

import apache_beam as beam
import tensorflow as tf
from absl import logging
from google.protobuf import json_format, struct_pb2
from tfx.components.example_gen import base_example_gen_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs

from components import features
from components.example_gen import DEFAULT_MAX_BAD_FILE_FRACTION, ingest, splits
from components.example_gen.class_names import write_class_names

INGESTION_REPORT_FILE = "ingestion_report.json"
INPUT_FORMAT_KEY = "input_format"
MAX_BAD_FILE_FRACTION_KEY = "max_bad_file_fraction"
MAX_MEGAPIXELS_KEY = "max_megapixels"
# The input folder's fingerprint (the runner's or DataSnapshot's): ignored by the executor, it
# is there so that the cache, keyed on ExampleGen's options, misses whenever the files change.
FINGERPRINT_KEY = "input_fingerprint"


def pack_custom_config(options: dict[str, Any]) -> example_gen_pb2.CustomConfig:
    """ExampleGen's custom_config is a proto Any; a Struct carries our few options."""
    struct = struct_pb2.Struct()
    struct.update(options)
    config = example_gen_pb2.CustomConfig()
    config.custom_config.Pack(struct)
    return config


def unpack_custom_config(exec_properties: dict[str, Any]) -> dict[str, Any]:
    serialized = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
    if not serialized:
        return {}
    config = example_gen_pb2.CustomConfig()
    json_format.Parse(serialized, config)
    struct = struct_pb2.Struct()
    config.custom_config.Unpack(struct)
    return json_format.MessageToDict(struct)


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Generates examples from `input_base/<class>/<image>` or `input_base/*.tfrecord*`."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return beam.ptransform_fn(self._read_examples)

    def _read_examples(
        self, pipeline: beam.Pipeline, exec_properties: dict[str, Any], split_pattern: str
    ):
        """Called by the base class once per input split, while it builds the Beam graph."""
        root = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        options = unpack_custom_config(exec_properties)
        max_megapixels = options.get(MAX_MEGAPIXELS_KEY, features.DEFAULT_MAX_MEGAPIXELS)
        if options.get(INPUT_FORMAT_KEY, "images") == "tfrecord":
            self._class_names = ingest.read_tfrecord_class_names(root)
            self._report = {"root": root, "class_names": self._class_names, "format": "tfrecord"}
            return (
                pipeline
                | "ReadTFRecords" >> beam.io.ReadFromTFRecord(os.path.join(root, split_pattern))
                | "ParseExamples" >> beam.Map(tf.train.Example.FromString)
                | "CheckLabels" >> beam.Map(ingest.check_label, self._class_names)
                | "AddImageShapes" >> beam.Map(ingest.with_image_shape, max_megapixels)
            )
        scan = ingest.scan_image_folder(
            root,
            max_bad_file_fraction=options.get(
                MAX_BAD_FILE_FRACTION_KEY, DEFAULT_MAX_BAD_FILE_FRACTION
            ),
            max_megapixels=max_megapixels,
        )
        for rejected in scan.rejected:
            logging.warning("Skipped %s: %s", rejected.path, rejected.reason)
        logging.info(
            "Found %d images in %d classes %s (%d undecodable or oversized skipped, "
            "%d non-image files ignored)",
            len(scan.files),
            len(scan.class_names),
            scan.class_counts,
            len(scan.rejected),
            len(scan.ignored),
        )
        self._class_names = list(scan.class_names)
        # The runner checked the listed files before the run; decoding may have skipped some.
        output = example_gen_pb2.Output()
        json_format.Parse(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output)
        counts = splits.check_splits(self._class_names, list(scan.files), output.split_config)
        self._report = {**scan.to_report(), "format": "images", "split_counts": counts}
        for warning in self._report["warnings"]:
            logging.warning(warning)
        return (
            pipeline
            | "ListImages"
            >> beam.Create([(path, label, scan.shapes[path]) for path, label in scan.files])
            | "ReadImages" >> beam.MapTuple(functools.partial(ingest.read_example, root))
        )

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        super().Do(input_dict, output_dict, exec_properties)
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY]
        )
        write_class_names(examples.uri, self._class_names)
        with tf.io.gfile.GFile(os.path.join(examples.uri, INGESTION_REPORT_FILE), "w") as f:
            json.dump(self._report, f, indent=2)
        examples.set_string_custom_property("class_names", json.dumps(self._class_names))
