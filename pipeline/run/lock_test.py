"""One run at a time per pipeline root and metadata store, with real processes and the kernel's
locks: a second run fails at once naming the first, and a killed run leaves no stale lock."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from components.trainer.training_config import TrainingConfig
from pipeline.config import PipelineConfig
from pipeline.run import execute
from pipeline.run.lock import RunLockedError, exclusive_run
from tests.helpers import tree_digest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def hold_lock(pipeline_root, metadata_path) -> subprocess.Popen:
    """Another process holding the run's locks until killed."""
    code = textwrap.dedent(
        f"""
        import time
        from pipeline.run.lock import exclusive_run
        with exclusive_run({str(pipeline_root)!r}, {str(metadata_path)!r}):
            print("locked", flush=True)
            time.sleep(600)
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_second_run_fails_at_once_naming_the_first_and_a_killed_one_frees_the_lock(tmp_path):
    root, metadata = tmp_path / "pipeline", tmp_path / "pipeline" / "metadata.sqlite"
    holder = hold_lock(root, metadata)
    try:
        with (
            pytest.raises(RunLockedError, match=f"pid {holder.pid}"),
            exclusive_run(str(root), str(metadata)),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()

    with exclusive_run(str(root), str(metadata)):
        pass  # the kernel let go of the killed holder's lock


def test_a_shared_metadata_store_is_guarded_too(tmp_path):
    metadata = tmp_path / "shared" / "metadata.sqlite"
    holder = hold_lock(tmp_path / "root-a", metadata)
    try:
        with pytest.raises(RunLockedError), exclusive_run(str(tmp_path / "root-b"), str(metadata)):
            pass
    finally:
        holder.kill()
        holder.wait()


def test_make_local_against_a_busy_root_stops_before_running(tmp_path, image_folder, capsys):
    outputs = tmp_path / "outputs"
    config = PipelineConfig(
        data_root=str(image_folder),
        pipeline_root=str(outputs / "pipeline"),
        serving_dir=str(outputs / "serving"),
        schema_path="schemas/schema.pbtxt",
        metadata_path=str(outputs / "pipeline" / "metadata.sqlite"),
        training=TrainingConfig(weights="none"),
    )
    holder = hold_lock(config.pipeline_root, config.metadata_path)
    before = tree_digest(str(outputs))
    try:
        code = execute.run(config, outputs_dir=str(outputs))
    finally:
        holder.kill()
        holder.wait()

    assert code == 2
    assert "Another run is using" in capsys.readouterr().err
    assert tree_digest(str(outputs)) == before  # nothing run, nothing written
