"""What every experiment shares: running a module in a fresh process, and naming the machine
and the command a result came from."""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import platform
import subprocess
import sys
from typing import Any

from components.example_gen import EXAMPLE_GEN_NODE_ID
from pipeline import demo_data
from pipeline.cli import STACK_ENVIRONMENT


def run_module(module: str, flags: list[str], log_path: str, what: str) -> None:
    """Runs `python -m module flags` in a fresh process, its output to `log_path`; raises
    naming `what` failed and the log when it exits non-zero."""
    command = [sys.executable, "-m", module, *flags]
    environment = {**os.environ, **STACK_ENVIRONMENT}
    with open(log_path, "w") as log:
        process = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
    if process.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {process.returncode}); see {log_path}")


def machine(gpus: int = 0) -> str:
    """Cores, CPU model, memory, the GPUs the experiment used and Python, in one line."""
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    used = f"{gpus} GPU(s) used" if gpus else "no GPU used"
    python = platform.python_version()
    return f"{os.cpu_count()} cores ({model}), {memory:.0f} GiB RAM, {used}, Python {python}"


def command(make_target: str, argv: list[str] | None = None) -> str:
    """How the experiment was started, for its report: the make target when make ran it."""
    if os.environ.get("MAKELEVEL"):
        return f"make {make_target}"
    return " ".join(sys.argv if argv is None else argv)


def without_note(argv: list[str]) -> list[str]:
    """Command-line arguments less `--note` and its value: a report shows the note on its own."""
    kept, skip = [], False
    for arg in argv:
        if skip or arg.startswith("--note="):
            skip = False
            continue
        if arg == "--note":
            skip = True
            continue
        kept.append(arg)
    return kept


def newest_artifact(pipeline_root: str, node_id: str, key: str) -> str:
    """The newest `<root>/<node id>/<output key>/<execution id>` folder (TFX's layout)."""
    found = glob.glob(os.path.join(pipeline_root, node_id, key, "*"))
    if not found:
        raise RuntimeError(f"No {node_id} {key} under {pipeline_root}: did the run fail?")
    return max(found, key=lambda path: int(os.path.basename(path)))


def examples_dir(pipeline_root: str) -> str:
    """The newest Examples artifact ingestion wrote under a pipeline root."""
    return newest_artifact(pipeline_root, EXAMPLE_GEN_NODE_ID, "examples")


def read_results(path: str) -> dict[str, Any] | None:
    """An experiment's results file, or None where there is none yet."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


# The fewest demo images a benchmark takes: a few per class, or the split may leave a class
# with no eval image.
SMALLEST_SIZE = 4 * len(demo_data.CLASSES)


def parse_sizes(text: str) -> list[int]:
    """Comma-separated images per data set, smallest first, each at least SMALLEST_SIZE."""
    sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    if not sizes or sizes[0] < SMALLEST_SIZE:
        raise ValueError(
            f"sizes must be at least {SMALLEST_SIZE} images (a few per class), got {text!r}"
        )
    return sizes


def _sizes_argument(text: str) -> list[int]:
    try:
        return parse_sizes(text)
    except ValueError as e:  # argparse then names the flag and says why
        raise argparse.ArgumentTypeError(str(e)) from e


def add_sizes_argument(parser: argparse.ArgumentParser, default: tuple[int, ...]) -> None:
    """`--sizes`, parsed and checked (`parse_sizes`) into a list, `default` if not given."""
    parser.add_argument(
        "--sizes",
        type=_sizes_argument,
        default=list(default),
        help=f"images per data set, comma-separated (default {','.join(map(str, default))})",
    )


def demo_images(work: str, size: int) -> str:
    """`work/data-<size>`: about `size` generated demo images, generated once (kept with a
    bench's --work), then read once, so that they are in the page cache for every run."""
    data = os.path.join(work, f"data-{size}")
    if not os.path.exists(os.path.join(data, demo_data.COMPLETE_MARKER)):
        demo_data.generate(data, per_class=math.ceil(size / len(demo_data.CLASSES)))
    read_every_file(data)
    return data


def read_every_file(folder: str) -> int:
    """Reads every file under `folder` once, and returns the bytes read. A run that reads the
    images first pays the disk for them and the plain side after it does not: images generated
    earlier (a kept --work) had the first repeat's ImageExampleGen take 31.9 s at 32,000
    images where the next repeat's took 21.5 s."""
    total = 0
    for parent, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(parent, name), "rb") as f:
                while chunk := f.read(1 << 20):
                    total += len(chunk)
    return total
