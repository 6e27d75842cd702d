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
