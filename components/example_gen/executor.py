"""Beam executor: image folder (or TFRecord folder) -> tf.Examples, plus the class names.

It plugs into TFX's FileBasedExampleGen, so the split rule (TFX's hash of the file name),
caching by input fingerprint and artifact bookkeeping are TFX's own. What it adds: listing the
image files here, assigning each its split by that hash, and reading, checking and encoding them
as Beam work that writes each example to its split (read_images.py); skipping and reporting the
files that cannot be used; and writing `class_names.json` and `ingestion_report.json` into the
Examples artifact, where the Trainer and the run summary find them. A TFRecord folder goes
through TFX's own split step.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import apache_beam as beam
import tensorflow as tf
from absl import logging
from google.protobuf import json_format, struct_pb2
from tfx.components.example_gen import base_example_gen_executor, write_split
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs

from components import features
from components.example_gen import DEFAULT_MAX_BAD_FILE_FRACTION, ingest, read_images, splits
from components.example_gen.class_names import write_class_names

INGESTION_REPORT_FILE = "ingestion_report.json"
# The files Beam refused, one JSON object per line, in the execution's temporary folder.
REJECTED_FILES_FILE = "rejected_files.jsonl"
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


def _serialized(example: tf.train.Example) -> bytes:
    return example.SerializeToString()


@dataclasses.dataclass(frozen=True)
class _Listing:
    """What the executor found in an image folder before Beam read it, to conclude with."""

    root: str
    assigned: list[splits.AssignedFile]
    ignored: list[str]
    max_bad_file_fraction: float
    split_config: example_gen_pb2.SplitConfig


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Generates examples from `input_base/<class>/<image>` or `input_base/*.tfrecord*`."""

    def GenerateExamplesByBeam(
        self, pipeline: beam.Pipeline, exec_properties: dict[str, Any]
    ) -> dict[str, beam.PCollection]:
        """{split: serialized examples}. A TFRecord folder goes through TFX's own (which
        partitions the examples by a hash of their file name); an image folder's files are
        assigned their splits here, by the same hash, before Beam reads any of them."""
        options = unpack_custom_config(exec_properties)
        if options.get(INPUT_FORMAT_KEY, "images") == "tfrecord":
            partitioned = super().GenerateExamplesByBeam(pipeline, exec_properties)
            return {
                split: examples | f"Serialize[{split}]" >> beam.Map(_serialized)
                for split, examples in partitioned.items()
            }
        return self._read_image_folder(pipeline, exec_properties, options)

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return beam.ptransform_fn(self._read_tfrecords)

    def _read_tfrecords(
        self, pipeline: beam.Pipeline, exec_properties: dict[str, Any], split_pattern: str
    ) -> beam.PCollection:
        """A TFRecord folder's examples, labels checked and image shapes added; TFX's
        GenerateExamplesByBeam partitions them into splits."""
        root = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        max_megapixels = unpack_custom_config(exec_properties).get(
            MAX_MEGAPIXELS_KEY, features.DEFAULT_MAX_MEGAPIXELS
        )
        self._class_names = ingest.read_tfrecord_class_names(root)
        self._report = {"root": root, "class_names": self._class_names, "format": "tfrecord"}
        return (
            pipeline
            | "ReadTFRecords" >> beam.io.ReadFromTFRecord(os.path.join(root, split_pattern))
            | "ParseExamples" >> beam.Map(tf.train.Example.FromString)
            | "CheckLabels" >> beam.Map(ingest.check_label, self._class_names)
            | "AddImageShapes" >> beam.Map(ingest.with_image_shape, max_megapixels)
            # A user's TFRecords may hold one class after another: written as read, the
            # Trainer's shuffle buffer would see one class at a time.
            | "Shuffle" >> beam.Reshuffle()
        )

    def _read_image_folder(
        self, pipeline: beam.Pipeline, exec_properties: dict[str, Any], options: dict[str, Any]
    ) -> dict[str, beam.PCollection]:
        """Lists the files and assigns their splits while the Beam graph is built; reading and
        decoding them is Beam's work, on its workers."""
        root = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        class_names, files, ignored = ingest.list_image_files(root)
        self._class_names = class_names
        split_config = self._split_config(exec_properties)
        assigned = splits.assign_splits(files, split_config)
        # Refuse a split short of a class before reading a file (the runner checked the same
        # listing; a compiled pipeline's data may have changed since).
        splits.check_assigned_splits(class_names, assigned, split_config)
        logging.info("Reading %d image files in %d classes", len(files), len(class_names))
        self._listing = _Listing(
            root,
            assigned,
            ignored,
            options.get(MAX_BAD_FILE_FRACTION_KEY, DEFAULT_MAX_BAD_FILE_FRACTION),
            split_config,
        )
        return pipeline | "ReadImages" >> read_images.ReadImageFiles(
            root,
            assigned,
            [split.name for split in split_config.splits],
            options.get(MAX_MEGAPIXELS_KEY, features.DEFAULT_MAX_MEGAPIXELS),
            self._rejected_path(),
        )

    def _rejected_path(self) -> str:
        return os.path.join(self._get_tmp_dir(), REJECTED_FILES_FILE)

    @staticmethod
    def _split_config(exec_properties: dict[str, Any]) -> example_gen_pb2.SplitConfig:
        output = example_gen_pb2.Output()
        json_format.Parse(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output)
        return output.split_config

    def _conclude_images(self) -> dict[str, Any]:
        """The ingestion report of an image folder, from the listing and the files Beam
        refused; DataError past the bad-file threshold or with a split short of a class."""
        listing = self._listing
        rejected = read_images.read_rejected(self._rejected_path())
        for refused in rejected:
            logging.warning("Skipped %s: %s", refused.path, refused.reason)
        scan = ingest.conclude_scan(
            listing.root,
            self._class_names,
            [(file.path, file.label) for file in listing.assigned],
            listing.ignored,
            rejected,
            listing.max_bad_file_fraction,
        )
        logging.info(
            "Found %d images in %d classes %s (%d undecodable or oversized skipped, "
            "%d non-image files ignored)",
            len(scan.files),
            len(scan.class_names),
            scan.class_counts,
            len(scan.rejected),
            len(scan.ignored),
        )
        usable = set(scan.files)
        counts = splits.check_assigned_splits(
            self._class_names,
            [file for file in listing.assigned if (file.path, file.label) in usable],
            listing.split_config,
        )
        report = {**scan.to_report(), "format": "images", "split_counts": counts}
        for warning in report["warnings"]:
            logging.warning(warning)
        return report

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        """TFX's ExampleGen Do, less its shuffle of every example before writing: on the local
        runner that holds a whole split in memory, and images come in mixed order already
        (ReadImageFiles shuffles the listing). Then the class names and the ingestion report
        beside the examples."""
        self._log_startup(input_dict, output_dict, exec_properties)
        self._listing = None
        input_config = example_gen_pb2.Input()
        json_format.Parse(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
        output_config = example_gen_pb2.Output()
        json_format.Parse(
            exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config
        )
        all_examples = output_dict[standard_component_specs.EXAMPLES_KEY]
        examples = artifact_utils.get_single_instance(all_examples)
        examples.split_names = artifact_utils.encode_split_names(
            example_gen_utils.generate_output_split_names(input_config, output_config)
        )
        with self._make_beam_pipeline() as pipeline:
            for split, records in self.GenerateExamplesByBeam(pipeline, exec_properties).items():
                path = os.path.join(
                    artifact_utils.get_split_uri(all_examples, split), write_split.DEFAULT_FILE_NAME
                )
                # Plain records, not gzipped: see GZIP_SUFFIX.
                _ = records | f"Write[{split}]" >> beam.io.WriteToTFRecord(path)
        # As TFX's Do records them: what downstream readers check the examples by.
        payload_format = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
        if payload_format:
            examples_utils.set_payload_format(examples, payload_format)
        file_format = exec_properties.get(standard_component_specs.OUTPUT_FILE_FORMAT_KEY)
        if file_format:
            examples_utils.set_file_format(examples, write_split.to_file_format_str(file_format))
        if self._listing is not None:
            self._report = self._conclude_images()
        write_class_names(examples.uri, self._class_names)
        with tf.io.gfile.GFile(os.path.join(examples.uri, INGESTION_REPORT_FILE), "w") as f:
            json.dump(self._report, f, indent=2)
        examples.set_string_custom_property("class_names", json.dumps(self._class_names))
