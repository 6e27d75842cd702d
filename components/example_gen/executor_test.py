"""ImageExampleGen's executor run for real (LocalDagRunner, Beam): files read, checked and
written as Beam work, the refused ones reported, the threshold applied after."""

import glob
import json
import os
from pathlib import Path

import pytest
import tensorflow as tf
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.orchestration.pipeline import Pipeline

from components import features
from components.example_gen import (
    DEFAULT_EVAL_PERCENT,
    GZIP_SUFFIX,
    record_compression,
    split_dir,
    splits,
)
from components.example_gen.component import ImageExampleGen
from components.example_gen.executor import INGESTION_REPORT_FILE
from components.example_gen.ingest import DataError, make_example
from pipeline.config import LOCAL_BEAM_ARGS
from pipeline.dag import compile_ir, sqlite_metadata
from tests.helpers import encode_image, tree_digest

pytestmark = pytest.mark.component

CLASSES = ("cat", "dog")


def write_images(root, per_class: int) -> None:
    for c, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            (root / name / f"{i:02d}.png").write_bytes(encode_image(size=(6, 5), seed=c * 50 + i))


def ingest(tmp_path, max_bad_file_fraction: float = 0.01, input_format: str = "images") -> str:
    """Runs ImageExampleGen on tmp_path/data; the Examples artifact's folder."""
    pipeline = Pipeline(
        pipeline_name="ingestion",
        pipeline_root=str(tmp_path / "pipeline"),
        components=[
            ImageExampleGen(
                data_root=str(tmp_path / "data"),
                input_format=input_format,
                max_bad_file_fraction=max_bad_file_fraction,
            )
        ],
        metadata_connection_config=sqlite_metadata(str(tmp_path / "metadata.sqlite")),
        beam_pipeline_args=list(LOCAL_BEAM_ARGS),
    )
    LocalDagRunner().run_with_ir(compile_ir(pipeline))
    [examples] = tf.io.gfile.glob(str(tmp_path / "pipeline" / "ImageExampleGen" / "examples" / "*"))
    return examples


def written(examples: str, split: str) -> list[tf.train.Example]:
    """The examples of one split, in the order they were written."""
    files = sorted(tf.io.gfile.glob(os.path.join(split_dir(examples, split), "*")))
    return [
        tf.train.Example.FromString(record.numpy())
        for record in tf.data.TFRecordDataset(files, compression_type=record_compression(files))
    ]


def value(example: tf.train.Example, key: str):
    feature = example.features.feature[key]
    return (feature.bytes_list.value or feature.int64_list.value)[0]


def test_usable_files_become_examples_in_mixed_order_and_the_rest_are_named(tmp_path):
    write_images(tmp_path / "data", per_class=20)
    bad = {"cat/empty.png": b"", "dog/page.jpg": b"<html>Not found</html>"}
    for path, data in bad.items():
        (tmp_path / "data" / path).write_bytes(data)

    examples = ingest(tmp_path, max_bad_file_fraction=0.1)

    report = json.loads((Path(examples) / INGESTION_REPORT_FILE).read_text())
    assert {r["path"] for r in report["rejected"]} == set(bad)
    assert report["class_counts"] == {"cat": 20, "dog": 20}
    every = written(examples, features.TRAIN_SPLIT) + written(examples, features.EVAL_SPLIT)
    names = sorted(value(e, features.FILENAME_KEY).decode() for e in every)
    assert names == sorted(f"{name}/{i:02d}.png" for name in CLASSES for i in range(20))
    assert {tuple(value(e, key) for key in features.IMAGE_SHAPE_KEYS) for e in every} == {(5, 6, 3)}
    train_labels = [value(e, features.LABEL_KEY) for e in written(examples, features.TRAIN_SPLIT)]
    # Class by class, the Trainer's shuffle buffer would see one class at a time.
    assert train_labels != sorted(train_labels)
    # Counted as written: the refused files (both would have gone to eval) left out.
    for split, counts in report["split_counts"].items():
        labels = [CLASSES[value(e, features.LABEL_KEY)] for e in written(examples, split)]
        assert counts == {name: labels.count(name) for name in CLASSES}, split
    # Plain records: the images are compressed already, gzip only cost time.
    assert not glob.glob(os.path.join(examples, "*", "*" + GZIP_SUFFIX))


def test_too_many_bad_files_fail_after_reading_naming_them_and_leave_the_folder(tmp_path):
    write_images(tmp_path / "data", per_class=5)
    (tmp_path / "data" / "cat" / "empty.png").write_bytes(b"")
    (tmp_path / "data" / "dog" / "truncated.png").write_bytes(encode_image()[:40])
    before = tree_digest(str(tmp_path / "data"))

    with pytest.raises(DataError, match=r"2 of 12 image files .* more than the allowed 10\.0%"):
        ingest(tmp_path, max_bad_file_fraction=0.1)

    assert tree_digest(str(tmp_path / "data")) == before


def test_a_class_left_without_an_eval_image_by_a_bad_file_is_refused_naming_it(tmp_path):
    config = splits.split_config(DEFAULT_EVAL_PERCENT).split_config

    def named(name: str, split: str, count: int) -> list[str]:
        return [
            path
            for path in (f"{name}/{i:02d}.png" for i in range(100))
            if splits.split_of(path, config) == split
        ][:count]

    good = named("cat", features.TRAIN_SPLIT, 9) + named("dog", features.TRAIN_SPLIT, 9)
    good += named("dog", features.EVAL_SPLIT, 2)
    for i, path in enumerate(good):
        (tmp_path / "data" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / path).write_bytes(encode_image(size=(6, 5), seed=i))
    # The one cat that goes to eval does not decode.
    (tmp_path / "data" / named("cat", features.EVAL_SPLIT, 1)[0]).write_bytes(b"")

    with pytest.raises(DataError, match=r"'cat': 0 in eval \(9 in train\)"):
        ingest(tmp_path, max_bad_file_fraction=0.1)


def test_a_tfrecord_folder_is_split_by_tfx_and_its_examples_get_their_shapes(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "class_names.txt").write_text("cat\ndog\n")
    names = [f"{name}/{i:02d}.png" for name in CLASSES for i in range(15)]
    with tf.io.TFRecordWriter(str(tmp_path / "data" / "part-0.tfrecord")) as writer:
        for i, name in enumerate(names):
            example = make_example(encode_image(size=(6, 5), seed=i), int(i >= 15), name)
            writer.write(example.SerializeToString())

    examples = ingest(tmp_path, input_format="tfrecord")

    config = splits.split_config(DEFAULT_EVAL_PERCENT).split_config
    for split in (features.TRAIN_SPLIT, features.EVAL_SPLIT):
        found = written(examples, split)
        assert found, split
        assert {value(e, features.FILENAME_KEY).decode() for e in found} == {
            name for name in names if splits.split_of(name, config) == split
        }
        assert {tuple(value(e, key) for key in features.IMAGE_SHAPE_KEYS) for e in found} == {
            (5, 6, 3)
        }
    report = json.loads((Path(examples) / INGESTION_REPORT_FILE).read_text())
    assert report["format"] == "tfrecord"
