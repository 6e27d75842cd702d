"""The Makefile, run as a user would: `make setup` from a shell where this project's venv is
active still builds on a real Python 3.10, and what a user types reaches programs as data, never
as shell code."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
# Run by a shell that expanded it, this would leave the marker file behind.
PAYLOAD = "x$(touch {marker})`touch {marker}`"
# Every variable a recipe passes on to a program, with the target that does.
USER_STRINGS = [
    ("rollback", "REASON"),
    ("rollback", "VERSION"),
    ("image", "IMAGE"),
    ("bench", "SIZES"),
    ("bench", "REPEATS"),
    ("bench-memory", "SIZES"),
    ("bench-memory", "CACHE_BUDGET_GB"),
    ("bench-gpu", "SIZE"),
    ("quality", "DATASETS"),
    ("quality", "SEEDS"),
    ("quality", "VARIANTS"),
    ("backbone-sources", "SOURCES"),
    ("ablation", "ABLATION_SEEDS"),
    ("test", "PYTEST_ARGS"),
]


def make(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", *args], cwd=ROOT, env=env or dict(os.environ), capture_output=True, text=True
    )


def test_setup_never_builds_the_venv_on_its_own_python():
    # An activated venv puts its python3.10 first on PATH; a venv rebuilt on it points at itself.
    environment = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    environment.pop("PYTHON310", None)
    show = 'show-python: ; @echo "$$PYTHON310"'
    shown = make("-s", "--eval", show, "show-python", env=environment)

    interpreter = shown.stdout.strip()
    assert interpreter and Path(interpreter).exists(), shown.stderr
    assert not Path(interpreter).is_relative_to(ROOT / ".venv"), interpreter


@pytest.mark.parametrize(("target", "variable"), USER_STRINGS)
def test_no_recipe_pastes_a_user_string_into_shell_code(target, variable, tmp_path):
    marker = tmp_path / "ran"
    dry_run = make("-n", target, f"{variable}={PAYLOAD.format(marker=marker)}")

    assert "touch" not in dry_run.stdout, dry_run.stdout


def test_a_rollback_reason_is_kept_as_written_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    reason = PAYLOAD.format(marker=marker)
    serving = tmp_path / "serving"
    serving.mkdir()

    result = make("rollback", "VERSION=7", f"REASON={reason}", f"SERVING_DIR={serving}")

    assert result.returncode != 0  # there is no version 7 to serve again
    assert "7" in result.stderr + result.stdout
    assert not marker.exists()


def clean_in(folder: Path) -> subprocess.CompletedProcess:
    """`make clean` as if the project's outputs and data were in `folder`."""
    command = ["make", "-f", str(ROOT / "Makefile"), "clean"]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True)


def test_clean_removes_what_is_rebuilt_in_seconds_and_keeps_the_rest(tmp_path):
    removed = ["build/pipeline.yaml", "outputs/logs/run.log", "outputs/last_run.json"]
    removed += ["data/demo/.complete", "data/demo/circle/0.png"]
    kept = ["outputs/serving/1/saved_model.pb", "outputs/pipeline/metadata.sqlite"]
    kept += ["outputs/pipeline/Trainer/model/5/x", "data/pretrained/m.weights.h5", "data/own/a.png"]
    for relative in removed + kept:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("x")

    result = clean_in(tmp_path)

    assert result.returncode == 0, result.stderr
    assert [path for path in removed if (tmp_path / path).exists()] == []
    assert [path for path in kept if not (tmp_path / path).exists()] == []
    for folder in ("build", "data/demo", "outputs/logs", "outputs/last_run.json"):
        assert f"removed {folder}\n" in result.stdout


def test_clean_leaves_a_demo_folder_it_did_not_generate(tmp_path):
    own = tmp_path / "data" / "demo" / "cats" / "1.jpg"  # no generator stamp: the user's
    own.parent.mkdir(parents=True)
    own.write_text("x")

    assert clean_in(tmp_path).returncode == 0

    assert own.exists()
