"""A run's process ends with its status and everything it printed, exit handlers run."""

import os
import subprocess
import sys
import textwrap

import pytest

from pipeline import exit_codes

pytestmark = pytest.mark.unit


def run_python(code: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter whose piped output is buffered, as a user's would be."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )


def test_the_status_the_output_and_the_exit_handlers_all_come_out():
    # Piped, the output is buffered: without a flush before the exit its text would be lost.
    result = run_python(
        """
        import atexit, sys
        from pipeline.run.process_exit import exit_after_run

        atexit.register(print, "registered first, runs last")
        atexit.register(print, "registered last, runs first")
        print("printed by the run", end="")
        print("said on stderr", file=sys.stderr, end="")
        exit_after_run(3)
        print("never reached")
        """
    )

    assert result.returncode == 3
    assert result.stdout == (
        "printed by the runregistered last, runs first\nregistered first, runs last\n"
    )
    assert result.stderr == "said on stderr"


def test_a_failing_exit_handler_still_ends_with_the_run_s_status():
    result = run_python(
        """
        import atexit
        from pipeline.run.process_exit import exit_after_run

        def broken():
            raise RuntimeError("handler failed")

        atexit.register(broken)
        print("still printed", end="")
        exit_after_run(5)
        """
    )

    assert result.returncode == 5
    assert result.stdout == "still printed"
    assert "handler failed" in result.stderr


def test_the_local_runner_s_status_and_message_pass_through_its_exit(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.local_runner", "--data", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == exit_codes.BAD_INPUT
    assert str(tmp_path / "missing") in result.stderr
