"""Which split each file lands in, known before the run, and splits too small refused."""

import json
import os

import pytest
import tensorflow as tf
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.orchestration.pipeline import Pipeline

from components import features
from components.example_gen import record_compression, split_dir, splits
from components.example_gen.component import ImageExampleGen
from components.example_gen.executor import INGESTION_REPORT_FILE
from components.example_gen.ingest import DataError
from pipeline.config import LOCAL_BEAM_ARGS
from pipeline.dag import compile_ir, sqlite_metadata
from tests.helpers import encode_image

pytestmark = pytest.mark.unit

TWENTY_PERCENT = splits.split_config(20).split_config


def write_classes(root, per_class: int, names=("cat", "dog")) -> None:
    for c, name in enumerate(names):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            (root / name / f"{i}.png").write_bytes(encode_image(size=(6, 5), seed=c * 100 + i))


def filenames_in(split_folder: str) -> set[str]:
    found = set()
    for path in tf.io.gfile.glob(os.path.join(split_folder, "*")):
        for record in tf.data.TFRecordDataset(path, compression_type=record_compression([path])):
            example = tf.train.Example.FromString(record.numpy())
            found.add(example.features.feature[features.FILENAME_KEY].bytes_list.value[0].decode())
    return found


@pytest.mark.component
def test_each_file_lands_where_the_up_front_count_said(tmp_path):
    write_classes(tmp_path / "data", per_class=15)
    pipeline = Pipeline(
        pipeline_name="splits",
        pipeline_root=str(tmp_path / "pipeline"),
        components=[ImageExampleGen(data_root=str(tmp_path / "data"), eval_percent=20)],
        metadata_connection_config=sqlite_metadata(str(tmp_path / "metadata.sqlite")),
        beam_pipeline_args=list(LOCAL_BEAM_ARGS),
    )
    LocalDagRunner().run_with_ir(compile_ir(pipeline))

    [examples_uri] = tf.io.gfile.glob(
        str(tmp_path / "pipeline" / "ImageExampleGen" / "examples" / "*")
    )
    written = {
        split: filenames_in(split_dir(examples_uri, split))
        for split in (features.TRAIN_SPLIT, features.EVAL_SPLIT)
    }
    predicted = {split: set() for split in written}
    for name in ("cat", "dog"):
        for i in range(15):
            path = f"{name}/{i}.png"
            predicted[splits.split_of(path, TWENTY_PERCENT)].add(path)
    assert written == predicted
    assert written[features.EVAL_SPLIT]  # both splits are tried, not one
    with open(os.path.join(examples_uri, INGESTION_REPORT_FILE)) as f:
        counts = json.load(f)["split_counts"]
    assert counts == {
        split: {name: sum(p.startswith(name) for p in paths) for name in ("cat", "dog")}
        for split, paths in predicted.items()
    }


def test_a_class_without_an_eval_image_is_named_with_its_counts():
    # Which of these files land in eval is fixed by their names: only cat/1.png does.
    files = [(f"cat/{i}.png", 0) for i in range(4)] + [(f"dog/{i}.png", 1) for i in (0, 1, 3)]
    landing = {path: splits.split_of(path, TWENTY_PERCENT) for path, _ in files}
    assert [p for p, split in landing.items() if split == features.EVAL_SPLIT] == ["cat/1.png"]

    with pytest.raises(DataError) as refused:
        splits.check_splits(["cat", "dog"], files, TWENTY_PERCENT)

    message = str(refused.value)
    assert "each class needs at least 1 image in each split" in message
    assert "'dog': 0 in eval (3 in train)" in message
    assert "'cat'" not in message
    assert "20% to eval" in message


def test_one_image_per_class_leaves_a_split_without_it():
    files = [("cat/0.png", 0), ("dog/0.png", 1)]

    with pytest.raises(DataError, match=r"'cat': 0 in eval \(1 in train\)"):
        splits.check_splits(["cat", "dog"], files, TWENTY_PERCENT)


def test_enough_images_pass_with_the_counts():
    files = [(f"cat/{i}.png", 0) for i in range(4)] + [(f"dog/{i}.png", 1) for i in range(9)]

    counts = splits.check_splits(["cat", "dog"], files, TWENTY_PERCENT)

    assert counts == {"train": {"cat": 3, "dog": 8}, "eval": {"cat": 1, "dog": 1}}
