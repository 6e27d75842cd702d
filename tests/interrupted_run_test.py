"""A `make local` killed in the middle of the Trainer (SIGKILL: no clean-up runs) and started
again completes: what finished comes from cache, the Trainer runs afresh, a model is pushed, and
nothing the killed Trainer half-wrote reaches a later stage. Real processes, TFX, Beam, ML
Metadata (SQLite) and TensorFlow."""

import json
import os
import signal
import time
from pathlib import Path

import pytest

from pipeline import demo_data
from tests.helpers import start_local_run

pytestmark = pytest.mark.e2e

DONE_BEFORE_TRAINER = ["ImageExampleGen", "StatisticsGen", "ExampleValidator", "Transform"]


def test_a_run_killed_during_training_completes_when_started_again(tmp_path):
    data, outputs = tmp_path / "data", tmp_path / "outputs"
    demo_data.generate(str(data), per_class=8, seed=3)

    killed = start_local_run(data, outputs)
    for line in killed.stdout:
        if "] Trainer ..." in line:
            time.sleep(5)  # into the Trainer's work, its output folders made
            os.killpg(killed.pid, signal.SIGKILL)
            break
    assert killed.wait(timeout=60) == -signal.SIGKILL

    again = start_local_run(data, outputs)
    output, _ = again.communicate(timeout=1200)
    assert again.returncode == 0, output[-3000:]

    summary = json.loads((outputs / "last_run.json").read_text())
    for name in DONE_BEFORE_TRAINER:
        assert summary["components"][name]["status"] == "cached", name
    assert summary["components"]["Trainer"]["status"] == "complete"
    assert summary["push"]["version"] == 1
    # The pushed model is the second Trainer's: its folder is the one the summary names.
    record = json.loads((Path(summary["pushed_model_dir"]) / "push_record.json").read_text())
    trainer_output = record["model"]["trainer_output"]
    trainer_runs = sorted(
        (outputs / "pipeline" / "Trainer" / "model").iterdir(), key=lambda p: int(p.name)
    )
    assert len(trainer_runs) == 2  # the killed one's folder stays, unread
    assert trainer_output.startswith(str(trainer_runs[-1]))
