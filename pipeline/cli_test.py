"""Every console command the project installs starts, from PATH, without make's environment,
and answers --help under its own name."""

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import cli

pytestmark = pytest.mark.unit

SCRIPTS = sorted(
    entry.name
    for entry in importlib.metadata.entry_points(group="console_scripts")
    if entry.value.startswith("pipeline.cli:")
)


def test_there_is_a_command_for_each_operation():
    assert SCRIPTS == [
        "image-classifier-compile",
        "image-classifier-demo-data",
        "image-classifier-deploy",
        "image-classifier-local",
        "image-classifier-models",
        "image-classifier-predict",
        "image-classifier-pretrain",
    ]


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_command_runs_from_path_without_make(script):
    bin_dir = os.path.dirname(sys.executable)
    executable = shutil.which(script, path=bin_dir)
    assert executable, f"{script} is not installed beside {sys.executable}"
    environment = {
        k: v for k, v in os.environ.items() if k not in ("TF_USE_LEGACY_KERAS", "MAKELEVEL")
    }

    result = subprocess.run(
        [executable, "--help"], capture_output=True, text=True, env=environment, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {script}")


def test_the_makefile_exports_the_stack_environment():
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    exported = dict(re.findall(r"^export (\w+) := (.*)$", makefile, re.M))

    assert {name: exported.get(name) for name in cli.STACK_ENVIRONMENT} == cli.STACK_ENVIRONMENT
