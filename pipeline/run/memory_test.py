"""The peak counts this process's memory, not the memory of the process that started it."""

import subprocess
import sys

import pytest

from pipeline.run import memory

pytestmark = pytest.mark.unit

MB = 1024 * 1024


def test_the_peak_rises_with_what_this_process_touches():
    # In a fresh process: the peak is a high-water mark, and this one's may already be higher
    # than anything allocated here, after the tests that ran before.
    child = (
        "from pipeline.run import memory\n"
        "before = memory.peak_rss_mb()\n"
        f"block = bytearray({400 * MB})\n"
        "block[::4096] = b'\\x01' * len(block[::4096])  # every page touched: resident\n"
        "print(before, memory.peak_rss_mb())\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, check=True
    ).stdout
    before, after = (float(value) for value in output.split())

    assert after >= before + 350


def test_a_child_started_by_a_big_process_reports_its_own_peak():
    held = bytearray(600 * MB)
    held[::4096] = b"\x01" * len(held[::4096])
    assert memory.peak_rss_mb() > 600

    child = "from pipeline.run import memory; print(memory.peak_rss_mb())"
    output = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, check=True
    ).stdout

    assert float(output) < 200  # a bare interpreter; ru_maxrss here would be over 600
    del held
