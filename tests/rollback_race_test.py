"""A rollback (`make rollback`, a process of its own) made while a `make local` is training: the
run judged its candidate against the version served when it started, which is no longer the
served one when its Pusher comes to publish. The Pusher refuses, naming both versions, and
the rollback stands. Real processes, TFX, Beam, ML Metadata (SQLite) and TensorFlow."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from components.registry import registry
from pipeline import demo_data, exit_codes
from pipeline.config import OutputLayout
from tests.helpers import start_local_run

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]


def test_a_rollback_during_a_run_is_not_overwritten_by_its_push(tmp_path):
    data, outputs = tmp_path / "data", tmp_path / "outputs"
    serving = OutputLayout(str(outputs)).serving_dir
    demo_data.generate(str(data), per_class=8, seed=3)
    first = start_local_run(data, outputs)
    output, _ = first.communicate(timeout=1200)
    assert first.returncode == 0, output[-3000:]
    # Version 2: the same model published again, so that there is a version to roll back to.
    served = registry.served_version(serving)
    record = {key: value for key, value in served.record.items() if key != "version"}
    registry.publish(serving, served.path, record, registry.read_statistics(served.path), 1)

    # Two epochs: the Trainer runs again (not from cache); any candidate is blessed.
    run = start_local_run(data, outputs, "--epochs", "2", "--gate-tolerance", "1")
    for line in run.stdout:
        if "] Trainer ..." in line:  # its baseline, version 2, was read before training
            rollback = subprocess.run(
                [sys.executable, "-m", "pipeline.models", "--serving-dir", serving]
                + ["rollback", "1", "--reason", "version 2 misclassifies stars"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=300,
            )
            break
    rest, _ = run.communicate(timeout=1200)

    assert rollback.returncode == 0, rollback.stderr
    assert "Version 1 is served again, as version 3" in rollback.stdout
    assert run.returncode == exit_codes.STEP_FAILED, rest[-3000:]
    summary = json.loads((outputs / "last_run.json").read_text())
    assert summary["blessed"] is True
    assert summary["components"]["Pusher"]["status"] == "failed"
    assert (
        f"Not published: version 3 is served in {serving} now, but this model was judged "
        "against version 2" in summary["error"]
    )
    assert [v.number for v in registry.list_versions(serving)] == [1, 2, 3]
    assert registry.served_version(serving).record["decision"]["rollback_of"] == 1
