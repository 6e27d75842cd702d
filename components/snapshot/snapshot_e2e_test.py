"""Kubeflow's data steps, DataSnapshot -> ImageExampleGen (folder and options handed over as
run-time values), run for real under LocalDagRunner with TFX, Beam and ML Metadata (SQLite):
each run reads the latest snapshot. What it cannot show is KFP's parameter-keyed cache; the
compile test checks ExampleGen's parameters come from DataSnapshot, and the component test that
the fingerprint among them moves exactly when the files do."""

import json
import os

import pytest
import tensorflow as tf
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.orchestration.pipeline import Pipeline

from components.example_gen.component import ImageExampleGenFromSnapshot
from components.example_gen.executor import INGESTION_REPORT_FILE
from components.snapshot.component import DATA_SNAPSHOT_NODE_ID, DataSnapshot
from pipeline import demo_data
from pipeline.config import LOCAL_BEAM_ARGS
from pipeline.dag import compile_ir, sqlite_metadata
from tests.helpers import SMALL_DATA_EVAL_PERCENT, encode_image

pytestmark = pytest.mark.e2e


def run_snapshot_and_ingestion(data_root, root, max_megapixels: float = 64.0) -> None:
    snapshot = DataSnapshot(
        data_root=str(data_root),
        input_format="images",
        max_bad_file_fraction=0.1,
        max_megapixels=max_megapixels,
        latest=True,
    ).with_id(DATA_SNAPSHOT_NODE_ID)
    pipeline = Pipeline(
        pipeline_name="snapshots",
        pipeline_root=str(root / "pipeline"),
        components=[
            snapshot,
            ImageExampleGenFromSnapshot(snapshot, eval_percent=SMALL_DATA_EVAL_PERCENT),
        ],
        enable_cache=True,
        metadata_connection_config=sqlite_metadata(str(root / "metadata.sqlite")),
        beam_pipeline_args=list(LOCAL_BEAM_ARGS),
    )
    LocalDagRunner().run_with_ir(compile_ir(pipeline))


def ingestions(root) -> list[dict]:
    """What each ExampleGen execution read, in order (a cache hit writes nothing)."""
    pattern = str(root / "pipeline" / "ImageExampleGen" / "examples" / "*" / INGESTION_REPORT_FILE)
    paths = sorted(tf.io.gfile.glob(pattern), key=lambda p: int(p.split(os.sep)[-2]))
    return [json.loads(tf.io.gfile.GFile(p).read()) for p in paths]


def test_each_run_reads_the_latest_snapshot(tmp_path):
    data = tmp_path / "data"
    demo_data.generate(str(data / "2026-11-01"), per_class=3, seed=1)
    (data / "_incoming").mkdir()  # an upload in progress is not a snapshot

    run_snapshot_and_ingestion(data, tmp_path)
    demo_data.generate(str(data / "2026-11-22"), per_class=4, seed=2)
    # Demo images are at most 128x128 pixels; the cap, handed over as DataSnapshot's option,
    # makes ingestion skip this one.
    wide = data / "2026-11-22" / demo_data.CLASSES[0] / "wide.png"
    wide.write_bytes(encode_image(size=(300, 200)))
    run_snapshot_and_ingestion(data, tmp_path, max_megapixels=0.05)

    first, latest = ingestions(tmp_path)
    assert first["root"] == str(data / "2026-11-01")
    assert latest["root"] == str(data / "2026-11-22")
    assert sum(latest["class_counts"].values()) == 4 * len(demo_data.CLASSES)
    assert latest["rejected"] == [
        {
            "path": f"{demo_data.CLASSES[0]}/wide.png",
            "reason": "300x200 pixels, above the cap of 0.05 megapixels",
        }
    ]
