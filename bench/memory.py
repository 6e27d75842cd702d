"""`make bench-memory`: a run's peak memory as the data grows past the Trainer's cache budget.

The Trainer keeps the training split's decoded images in memory up to `--cache-budget-gb`
and decodes a larger split again every epoch; the other steps stream their data. So a run's
peak memory must stop growing with the data once the split is past the budget. This runs the
local pipeline as `make bench` does (a fresh process, nothing cached, the same training
settings) at each size of a ladder, with a budget that only the smallest size fits, and
reports each run's peak memory, whether the Trainer kept the images (from its log) and the
run's seconds. Writes bench/memory.json and docs/benchmarks-memory.md.

    python -m bench.memory [--sizes 2000,8000,32000] [--cache-budget-gb 0.1] [--work DIR]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
from typing import Any

from bench import common, speed
from components import features
from components.example_gen.executor import INGESTION_REPORT_FILE
from components.trainer import training
from components.trainer.training_config import TrainingConfig
from pipeline.config import OutputLayout
from pipeline.settings import TRAINING_SETTINGS

# The smallest size's training split fits the budget decoded at the bench's image size; the
# others are several times past it.
DEFAULT_SIZES = (2000, 8000, 32000)
DEFAULT_CACHE_BUDGET_GB = 0.1


def measure(size: int, data: str, work: str, budget_gb: float) -> dict[str, Any]:
    """One pipeline run at `size` with the cache budget: its peak memory, seconds, training
    images and whether the Trainer kept their decoded images (read from its log)."""
    outputs = os.path.join(work, f"run-{size}")
    flags = [TRAINING_SETTINGS["cache_budget_gb"].flag, str(budget_gb)]
    timed, peak, _ = speed.run_pipeline(data, outputs, outputs + ".log", flags)
    speed.keep_detailed_log(outputs)
    with open(outputs + ".detail.log") as f:
        kept = training.DECODED_EVERY_EPOCH not in f.read()
    examples = common.examples_dir(OutputLayout(outputs).pipeline_root)
    with open(os.path.join(examples, INGESTION_REPORT_FILE)) as f:
        train_images = sum(json.load(f)["split_counts"][features.TRAIN_SPLIT].values())
    shutil.rmtree(outputs, ignore_errors=True)
    decoded = training.decoded_bytes(train_images, speed.BENCH_TRAINING["image_size"])
    return {
        "size": size,
        "train_images": train_images,
        "decoded_gb": round(decoded / 2**30, 3),
        "cached": kept,
        "peak_rss_mb": round(peak),
        "seconds": round(timed.seconds, 1),
    }


def markdown(saved: dict[str, Any]) -> str:
    """docs/benchmarks-memory.md from bench/memory.json's content."""
    runs = saved["results"]
    lines = [
        "# Memory past the Trainer's cache budget",
        "",
        f"Measured by `{saved['command']}` on {saved['date']}: {saved['machine']}."
        + (f" {saved['note']}" if saved.get("note") else ""),
        "One local pipeline run per size, as `make bench` runs it (generated demo images, "
        f"{speed.BENCH_TRAINING['image_size']} px, {speed.BENCH_TRAINING['epochs']} epochs from "
        f"scratch), with `--cache-budget-gb {saved['cache_budget_gb']:g}`: the Trainer keeps "
        "the training split's decoded images in memory only within it and decodes a larger "
        "split again every epoch. `make bench` runs with the default budget, which its sizes "
        "fit, so its peak memory grows with the data; here it should stop growing once the "
        "split is past the budget.",
        "",
        "| images | training images | decoded, GB | kept in memory | peak memory, MB | run, s |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        lines.append(
            f"| {run['size']} | {run['train_images']} | {run['decoded_gb']:g} | "
            f"{'yes' if run['cached'] else 'no, decoded every epoch'} | {run['peak_rss_mb']} | "
            f"{run['seconds']:g} |"
        )
    past = [run for run in runs if not run["cached"]]
    if len(past) >= 2:
        growth = past[-1]["peak_rss_mb"] - past[0]["peak_rss_mb"]
        data_growth = past[-1]["size"] / past[0]["size"]
        lines += [
            "",
            f"Past the budget, from {past[0]['size']} to {past[-1]['size']} images "
            f"({data_growth:g} times the data), the peak grew by {growth} MB "
            f"({growth / past[0]['peak_rss_mb']:+.0%}).",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.memory", description=__doc__.split("\n\n")[0]
    )
    common.add_sizes_argument(parser, DEFAULT_SIZES)
    parser.add_argument(
        "--cache-budget-gb",
        type=float,
        default=DEFAULT_CACHE_BUDGET_GB,
        help="the Trainer's cache budget in every run",
    )
    parser.add_argument("--results", default="bench/memory.json", help="the measurements")
    parser.add_argument("--docs", default="docs", help="folder for benchmarks-memory.md")
    parser.add_argument(
        "--work", help="scratch folder for data and runs (default: a temporary one, removed)"
    )
    parser.add_argument("--note", default="", help="the conditions of this measurement")
    raw = argv if argv is not None else sys.argv[1:]
    args = parser.parse_args(raw)
    sizes = args.sizes
    try:  # refused by the Trainer's own rule before any data is generated
        TrainingConfig(cache_budget_gb=args.cache_budget_gb)
    except ValueError as e:
        parser.error(str(e))
    work = args.work or tempfile.mkdtemp(prefix="bench-memory-")
    runs = []
    try:
        for size in sizes:
            data = common.demo_images(work, size)
            print(f"{size} images, cache budget {args.cache_budget_gb:g} GB ...", flush=True)
            runs.append(measure(size, data, work, args.cache_budget_gb))
            print(f"    {runs[-1]}", flush=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    saved = {
        "date": datetime.date.today().isoformat(),
        "note": args.note,
        "machine": common.machine(),
        "command": common.command(
            "bench-memory", ["python", "-m", "bench.memory", *common.without_note(raw)]
        ),
        "cache_budget_gb": args.cache_budget_gb,
        "results": runs,
    }
    with open(args.results, "w") as f:
        json.dump(saved, f, indent=2)
        f.write("\n")
    os.makedirs(args.docs, exist_ok=True)
    with open(os.path.join(args.docs, "benchmarks-memory.md"), "w") as f:
        f.write(markdown(saved))
    print(f"Wrote {args.results} and {args.docs}/benchmarks-memory.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
