"""The Makefile's set-up, run as a user would: `make setup` from a shell where this project's
virtual environment is active must still build the venv on a real Python 3.10."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]


def test_setup_never_builds_the_venv_on_its_own_python():
    # An activated venv puts its python3.10 first on PATH; a venv rebuilt on it points at itself.
    venv_bin = os.path.dirname(sys.executable)
    environment = {**os.environ, "PATH": f"{venv_bin}:{os.environ['PATH']}"}
    environment.pop("PYTHON310", None)
    dry_run = subprocess.run(
        ["make", "-n", "-B", "setup"], cwd=ROOT, env=environment, capture_output=True, text=True
    )

    (interpreter,) = re.findall(r"uv venv --allow-existing --python (\S+)", dry_run.stdout)
    assert not (ROOT / interpreter).is_relative_to(ROOT / ".venv"), interpreter
    assert Path(interpreter).exists()
