"""`make bench`: where a pipeline run's time goes, against plain TensorFlow on the same work.

For each size of a ladder of generated demo images (default 500, 2,000, 8,000 and 32,000) and
each repeat, it runs the whole local pipeline in a fresh process (`python -m pipeline.local_runner`
on a new outputs folder: nothing cached), takes each component's wall time from the run's
summary and the process's peak memory, then does Transform's, the Trainer's and the
Evaluator's work in plain TensorFlow (bench/plain.py), in a fresh process too, on the
examples that run wrote.
Ratios are taken within a repeat and reported as medians over repeats, as are the times; the
share of CPU time the hypervisor gave to other machines (steal) is recorded beside each repeat,
so a noisy one shows. Writes bench/results.json, docs/benchmarks.md and docs/benchmarks.png,
again after each size, so a long ladder stopped at its largest size keeps the smaller ones.

    python -m bench.speed [--sizes 500,2000,8000,32000] [--repeats 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from bench import common
from components.common import plots
from components.evaluator import EVALUATOR_NODE_ID
from components.trainer import TRAINER_NODE_ID
from components.trainer.training_config import TrainingConfig
from components.transform import TRANSFORM_NODE_ID
from pipeline import demo_data
from pipeline.config import OutputLayout
from pipeline.settings import TRAINING_SETTINGS

# The fixed work every size is measured with: a small backbone trained from scratch (no
# pretrained weights to build first), no early stopping or plateau schedule, so the pipeline
# and plain Keras run the same epochs at the same rate.
BENCH_TRAINING = {
    "image_size": 64,
    "weights": "none",
    "epochs": 2,
    "batch_size": 32,
    "early_stopping": False,
    "lr_schedule": "constant",
}
# Up to 32,000: at 8,000 images Transform's and the Evaluator's few seconds of fixed cost still
# outweigh their work, and a user's data set is larger.
DEFAULT_SIZES = (500, 2000, 8000, 32000)
# Each compared stage: the pipeline component, and what its images are.
STAGES = {
    "transform": TRANSFORM_NODE_ID,
    "trainer": TRAINER_NODE_ID,
    "evaluator": EVALUATOR_NODE_ID,
}
# Targets at the largest size: pipeline seconds / plain seconds.
TARGET_RATIOS = {"transform": 2.0, "trainer": 1.3, "evaluator": 3.0}


def bench_training() -> TrainingConfig:
    return TrainingConfig(**BENCH_TRAINING)


def runner_flags() -> list[str]:
    """The local runner's flags for BENCH_TRAINING (the same settings the plain side uses)."""
    flags = []
    for name, value in BENCH_TRAINING.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        flags += [TRAINING_SETTINGS[name].flag, text]
    return flags + ["--gate-floor", "0"]


@dataclass
class Repeat:
    """One repeat at one size: every measurement, in seconds, and what they were done on."""

    size: int
    train_images: int = 0
    eval_images: int = 0
    run_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    plain_peak_rss_mb: float = 0.0
    steal_percent: float | None = None
    components: dict[str, float] = field(default_factory=dict)
    plain: dict[str, float] = field(default_factory=dict)


def cpu_ticks() -> tuple[int, int] | None:
    """(stolen, total) CPU ticks of the machine since boot, from /proc/stat's first line; None
    where there is no /proc. Stolen ticks are those the hypervisor ran other machines in while
    this one had work: the noise of a shared cloud host, invisible in this process's timings."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice, already in user/nice]
    ticks = [int(value) for value in fields[1:9]]
    return (ticks[7] if len(ticks) > 7 else 0), sum(ticks)


def steal_percent(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The share of the machine's CPU time stolen between two `cpu_ticks()` readings, in %."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return 100.0 * (after[0] - before[0]) / (after[1] - before[1])


def run_pipeline(data: str, outputs: str, log_path: str) -> tuple[float, float, dict[str, Any]]:
    """Runs `make local`'s runner in a fresh process; (wall seconds, peak RSS in MB, summary).

    The peak is the one the run records for its own process (pipeline/run/memory.py):
    what the kernel reports for a child also counts this process's memory at the fork, and
    this process has held earlier repeats' data.
    """
    flags = ["--data", data, "--outputs", outputs, *runner_flags()]
    started = time.perf_counter()
    common.run_module("pipeline.local_runner", flags, log_path, "The pipeline run")
    seconds = time.perf_counter() - started
    with open(OutputLayout(outputs).summary_path) as f:
        summary = json.load(f)
    return seconds, summary["peak_memory_mb"], summary


def keep_detailed_log(outputs: str) -> None:
    """Keeps the run's full log (every component's timestamped lines: where the time went)
    beside its console log, as `<run>.detail.log`, before the run's artifacts are removed."""
    for log in glob.glob(os.path.join(OutputLayout(outputs).logs_dir, "*.log")):
        shutil.copyfile(log, outputs + ".detail.log")


def run_plain(examples: str, out_path: str, log_path: str) -> dict[str, Any]:
    """The plain TensorFlow side (bench/plain.py) on a run's examples, in a fresh
    process as the pipeline runs: its result (seconds per stage, images, metrics)."""
    flags = ["--examples", examples, "--out", out_path]
    common.run_module("bench.plain", flags, log_path, "The plain TensorFlow side")
    with open(out_path) as f:
        return json.load(f)


def measure(size: int, data: str, work: str, repeat: int) -> Repeat:
    """One repeat at `size`: a pipeline run, then the plain work on its examples, each in a
    fresh process."""
    outputs = os.path.join(work, f"run-{size}-{repeat}")
    ticks_before = cpu_ticks()
    seconds, peak, summary = run_pipeline(data, outputs, outputs + ".log")
    result = Repeat(size=size, run_seconds=seconds, peak_rss_mb=peak)
    result.components = {name: c["seconds"] for name, c in summary["components"].items()}
    plain = run_plain(
        common.examples_dir(OutputLayout(outputs).pipeline_root),
        outputs + ".plain.json",
        outputs + ".plain.log",
    )
    result.plain = plain["seconds"]
    result.plain_peak_rss_mb = plain["peak_memory_mb"]
    result.train_images, result.eval_images = plain["train_images"], plain["eval_images"]
    result.steal_percent = steal_percent(ticks_before, cpu_ticks())
    keep_detailed_log(outputs)
    shutil.rmtree(outputs, ignore_errors=True)  # 8,000 images' artifacts add up
    return result


def stage_images(stage: str, repeat: Repeat) -> int:
    """The images a stage works through: Transform analyzes the train split, the Trainer
    goes through it once per epoch, the Evaluator scores the eval split."""
    if stage == "transform":
        return repeat.train_images
    if stage == "trainer":
        return repeat.train_images * BENCH_TRAINING["epochs"]
    return repeat.eval_images


def _entry(name: str, size: int, seconds: list[float], images: int, **more) -> dict[str, Any]:
    median = statistics.median(seconds)
    return {
        "name": name,
        "size": size,
        "seconds": round(median, 2),
        "images_per_s": round(images / median, 1) if median else None,
        "repeats": [round(s, 2) for s in seconds],
        **more,
    }


def summarize(repeats: list[Repeat]) -> list[dict[str, Any]]:
    """results.json's entries: per size, each stage and its plain baseline (with the median
    of the per-repeat ratios), each component, the whole run and its peak memory."""
    entries = []
    for size in sorted({r.size for r in repeats}):
        at_size = [r for r in repeats if r.size == size]
        for stage, component in STAGES.items():
            images = stage_images(stage, at_size[0])
            pipeline_seconds = [r.components[component] for r in at_size]
            plain_seconds = [r.plain[stage] for r in at_size]
            ratios = [p / q for p, q in zip(pipeline_seconds, plain_seconds, strict=True)]
            entries.append(
                _entry(
                    stage,
                    size,
                    pipeline_seconds,
                    images,
                    ratio=round(statistics.median(ratios), 2),
                    plain=f"{stage}_plain",
                )
            )
            entries.append(_entry(f"{stage}_plain", size, plain_seconds, images, ratio=1.0))
        for component in at_size[0].components:
            seconds = [r.components[component] for r in at_size]
            entries.append(_entry(f"component:{component}", size, seconds, size, ratio=None))
        entries.append(
            _entry(
                "run",
                size,
                [r.run_seconds for r in at_size],
                size,
                ratio=None,
                peak_rss_mb=round(statistics.median(r.peak_rss_mb for r in at_size)),
                plain_peak_rss_mb=round(statistics.median(r.plain_peak_rss_mb for r in at_size)),
                steal_percent=[_rounded(r.steal_percent) for r in at_size],
            )
        )
    return entries


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _least_squares(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """(intercept, slope) of the least-squares line through the points; None for fewer than
    two distinct x."""
    if len({x for x, _ in points}) < 2:
        return None
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return mean_y - slope * mean_x, slope


def _measured(entries: list[dict[str, Any]], name: str) -> list[tuple[int, float]]:
    return [(e["size"], e["seconds"]) for e in entries if e["name"] == name]


def growth_exponent(entries: list[dict[str, Any]], name: str) -> float | None:
    """The least-squares slope of log(seconds) on log(size): 1 is linear, below 1 is fixed
    costs still dominating."""
    measured = _measured(entries, name)
    if not all(seconds > 0 for _, seconds in measured):
        return None  # too quick to time
    fit = _least_squares([(math.log(size), math.log(seconds)) for size, seconds in measured])
    return fit[1] if fit else None


def fixed_and_per_image(entries: list[dict[str, Any]], name: str) -> tuple[float, float] | None:
    """(fixed seconds, seconds per image of the data set) of the line through the sizes: what
    a run pays whatever the data, and what each image adds."""
    return _least_squares([(float(size), seconds) for size, seconds in _measured(entries, name)])


def within_target_from(entries: list[dict[str, Any]], stage: str) -> float | None:
    """The data size (images) from which the fitted lines put the stage within its target
    ratio: 0 if it always is, None if never (its cost per image alone is over the target).

    The pipeline's fixed cost a + b n against plain's c + d n: a + b n <= T (c + d n) from
    n = (a - T c) / (T d - b) on, when T d > b.
    """
    ours, plain = (
        fixed_and_per_image(entries, stage),
        fixed_and_per_image(entries, f"{stage}_plain"),
    )
    if ours is None or plain is None:
        return None
    (a, b), (c, d), target = ours, plain, TARGET_RATIOS[stage]
    if a <= target * c and b <= target * d:
        return 0.0
    if target * d <= b:
        return None
    return (a - target * c) / (target * d - b)  # both positive here


def _within_label(size: float | None) -> str:
    if size is None:
        return "never (per image alone it is over)"
    return "every size" if size == 0 else f"about {_two_figures(size):,} images"


def _two_figures(size: float) -> int:
    """`size` to two significant figures: where two fitted lines cross is no more precise."""
    digits = len(str(round(size)))
    return int(round(size, -max(digits - 2, 0)))


def targets_at_largest(entries: list[dict[str, Any]]) -> str:
    """One line: each stage's ratio at the largest size measured, against its target."""
    largest = max(e["size"] for e in entries)
    parts = []
    for stage in STAGES:
        ratio, target = _by(entries, stage, largest)["ratio"], TARGET_RATIOS[stage]
        verdict = "met" if ratio <= target else "**not met**"
        parts.append(f"{stage} {ratio:g}x (target {target:g}x, {verdict})")
    return f"At the largest size, {largest:,} images: " + "; ".join(parts) + "."


def _cost_label(fit: tuple[float, float] | None) -> str:
    return f"{fit[0]:.1f} s + {fit[1] * 1000:.2f} ms/image" if fit else "-"


def _by(entries: list[dict[str, Any]], name: str, size: int) -> dict[str, Any]:
    return next(e for e in entries if e["name"] == name and e["size"] == size)


def before_and_after(before: dict[str, Any], after: dict[str, Any]) -> str:
    """The docs' section comparing an earlier results file with this one, stage by stage."""
    lines = [
        "",
        "## Before and after",
        "",
        f"Before ({before['date']}, `{before['command']}`): {before.get('note') or '-'}",
        "",
        f"After ({after['date']}, `{after['command']}`): {after.get('note') or '-'}",
        "",
        "Speed-up is before seconds over after seconds, the pipeline's own. Each ratio is "
        "against the plain side as it was measured on its day; when the plain side itself "
        "changed between the two (the notes say how), compare seconds, not ratios.",
        "",
        "| stage | before s | after s | speed-up | before ratio | after ratio |",
        "|---|---|---|---|---|---|",
    ]
    for size in sorted({e["size"] for e in after["results"]}):
        for stage in STAGES:
            try:
                old = _by(before["results"], stage, size)
            except StopIteration:
                continue  # a size measured after only
            new = _by(after["results"], stage, size)
            lines.append(
                f"| {stage} @ {size} | {old['seconds']:g} | {new['seconds']:g} | "
                f"{_speed_up(old, new)} | {old['ratio']:g}x | {new['ratio']:g}x |"
            )
        try:
            old_run, new_run = (
                _by(before["results"], "run", size),
                _by(after["results"], "run", size),
            )
        except StopIteration:
            continue
        lines.append(
            f"| whole run @ {size} | {old_run['seconds']:g} | {new_run['seconds']:g} | "
            f"{_speed_up(old_run, new_run)} | | |"
        )
    return "\n".join(lines) + "\n"


def _speed_up(before: dict[str, Any], after: dict[str, Any]) -> str:
    """Before seconds over after seconds, as the before-and-after table shows it."""
    return f"{before['seconds'] / after['seconds']:.1f}x" if after["seconds"] else "-"


def markdown(saved: dict[str, Any]) -> str:
    """docs/benchmarks.md from a results file's content."""
    entries, repeats = saved["results"], saved["repeats"]
    sizes = sorted({e["size"] for e in entries})
    components = [
        e["name"].split(":", 1)[1]
        for e in entries
        if e["name"].startswith("component:") and e["size"] == sizes[0]
    ]
    lines = [
        "# Benchmarks: the pipeline against plain TensorFlow on the same work",
        "",
        f"Measured by `{saved['command']}` on {saved['date']}: {saved['machine']}."
        + (f" {saved['note']}" if saved.get("note") else ""),
        f"Median of {repeats} repeat(s) per size; each ratio is pipeline seconds over plain "
        "seconds measured in the same repeat (median of those). Generated demo images "
        f"(`pipeline/demo_data.py`: PNG and JPEG, 4 classes), 80/20 split; MobileNetV2 (alpha "
        f"{TrainingConfig.backbone_alpha}) at {BENCH_TRAINING['image_size']} px from scratch, "
        f"{BENCH_TRAINING['epochs']} epochs, batch {BENCH_TRAINING['batch_size']}, the default "
        "augmentation. The plain side is `bench/plain.py`: decode, resize and "
        "per-channel statistics with `tf.data`; Keras `fit` on the same model and data; "
        "`predict` and the gate's metrics with numpy and scikit-learn.",
        "",
        "## Pipeline against plain TensorFlow",
        "",
        "| stage | images | pipeline s | images/s | plain s | images/s | ratio | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size in sizes:
        for stage in STAGES:
            ours, plain = _by(entries, stage, size), _by(entries, f"{stage}_plain", size)
            lines.append(
                f"| {stage} @ {size} | {stage_images_label(stage)} | {ours['seconds']:g} | "
                f"{ours['images_per_s']:g} | {plain['seconds']:g} | {plain['images_per_s']:g} | "
                f"**{ours['ratio']:g}x** | {TARGET_RATIOS[stage]:g}x |"
            )
    lines += [
        "",
        targets_at_largest(entries),
        "",
        "Fixed cost and cost per image (the line through the sizes, per image of the data set), "
        "and the data size from which those lines put the stage within its target:",
        "",
        "| stage | pipeline | plain | within target from |",
        "|---|---|---|---|",
    ]
    for stage in STAGES:
        lines.append(
            f"| {stage} | {_cost_label(fixed_and_per_image(entries, stage))} | "
            f"{_cost_label(fixed_and_per_image(entries, f'{stage}_plain'))} | "
            f"{_within_label(within_target_from(entries, stage))} |"
        )
    lines += [
        "",
        "## Where a run's time goes (seconds per component)",
        "",
        "| component | "
        + " | ".join(f"{s} images" for s in sizes)
        + " | growth | fixed + per image |",
        "|---|" + "---|" * (len(sizes) + 2),
    ]
    for component in [*components, None]:
        name = f"component:{component}" if component else "run"
        label = component or "**whole run** (process wall time)"
        cells = [f"{_by(entries, name, s)['seconds']:g}" for s in sizes]
        exponent = growth_exponent(entries, name)
        cost = _cost_label(fixed_and_per_image(entries, name))
        lines.append(
            f"| {label} | " + " | ".join(cells) + f" | {_growth_label(exponent)} | {cost} |"
        )
    memory = [f"{_by(entries, 'run', s)['peak_rss_mb']:g}" for s in sizes]
    plain_memory = [f"{_by(entries, 'run', s).get('plain_peak_rss_mb', '-')}" for s in sizes]
    steal = [_steal_label(_by(entries, "run", s).get("steal_percent")) for s in sizes]
    lines += [
        "| peak memory of the run, MB | " + " | ".join(memory) + " | | |",
        "| peak memory of plain TensorFlow's process, MB | " + " | ".join(plain_memory) + " | | |",
        "| CPU stolen by other machines, % (per repeat) | " + " | ".join(steal) + " | | |",
        "",
        "Growth is the slope of log(seconds) against log(images): 1 is linear; well below 1, "
        "fixed costs (start-up, graph tracing, export) still dominate at these sizes. CPU "
        "stolen is the share of this virtual machine's CPU time its host gave to others "
        "during the repeat (`steal` in /proc/stat): a repeat with much of it ran slow.",
        "",
        "![seconds and ratios by size](benchmarks.png)",
        "",
    ]
    return "\n".join(lines)


def stage_images_label(stage: str) -> str:
    return {
        "transform": "train split",
        "trainer": "train split x epochs",
        "evaluator": "eval split",
    }[stage]


def _steal_label(percents: list[float | None] | None) -> str:
    known = [p for p in percents or [] if p is not None]
    return " / ".join(f"{p:g}" for p in known) if known else "-"


def _growth_label(exponent: float | None) -> str:
    return f"size^{exponent:.2f}" if exponent is not None else "-"


def plot(entries: list[dict[str, Any]], path: str) -> None:
    plt = plots.pyplot()
    sizes = sorted({e["size"] for e in entries})
    figure, (seconds_axis, ratio_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for stage, colour in zip(STAGES, ("tab:blue", "tab:orange", "tab:green"), strict=True):
        ours = [_by(entries, stage, s)["seconds"] for s in sizes]
        plain = [_by(entries, f"{stage}_plain", s)["seconds"] for s in sizes]
        seconds_axis.plot(sizes, ours, "o-", color=colour, label=f"{stage} (pipeline)")
        seconds_axis.plot(sizes, plain, "o--", color=colour, label=f"{stage} (plain TF)")
        ratios = [_by(entries, stage, s)["ratio"] for s in sizes]
        ratio_axis.plot(sizes, ratios, "o-", color=colour, label=stage)
        ratio_axis.axhline(TARGET_RATIOS[stage], color=colour, linestyle=":", linewidth=1)
    for axis in (seconds_axis, ratio_axis):
        axis.set_xscale("log")
        axis.set_xlabel("images")
        axis.grid(True, alpha=0.3)
    seconds_axis.set_yscale("log")
    seconds_axis.set_ylabel("wall seconds")
    seconds_axis.set_title("Time by data size")
    seconds_axis.legend(fontsize=7)
    ratio_axis.set_ylabel("pipeline / plain")
    ratio_axis.set_title("Overhead ratio (dotted: targets)")
    ratio_axis.legend(fontsize=7)
    figure.tight_layout()
    plots.save_png(figure, path)


def results_file(
    entries: list[dict[str, Any]], command: str, repeats: int, note: str = ""
) -> dict[str, Any]:
    """What bench/results.json holds: the measurements, how and where they were taken, and a
    note on the conditions it was measured in."""
    return {
        "date": datetime.date.today().isoformat(),
        "note": note,
        "machine": common.machine(),
        "command": command,
        "repeats": repeats,
        "settings": BENCH_TRAINING,
        "results": entries,
    }


def write_results(
    saved: dict[str, Any], results_path: str, docs_dir: str, before: dict[str, Any] | None = None
) -> None:
    """bench/results.json, then docs/benchmarks.md and .png from it."""
    os.makedirs(os.path.dirname(os.path.abspath(results_path)), exist_ok=True)
    with open(results_path, "w") as f:
        json.dump(saved, f, indent=2)
        f.write("\n")
    write_docs(saved, docs_dir, before)


def write_docs(saved: dict[str, Any], docs_dir: str, before: dict[str, Any] | None = None) -> None:
    os.makedirs(docs_dir, exist_ok=True)
    with open(os.path.join(docs_dir, "benchmarks.md"), "w") as f:
        f.write(markdown(saved))
        if before:
            f.write(before_and_after(before, saved))
    plot(saved["results"], os.path.join(docs_dir, "benchmarks.png"))


def describe(result: Repeat) -> str:
    """One repeat in a line: the run, its memory, and each stage's ratio."""
    ratios = ", ".join(
        f"{stage} {result.components[component] / result.plain[stage]:.1f}x"
        for stage, component in STAGES.items()
    )
    steal = "" if result.steal_percent is None else f", {result.steal_percent:.1f}% CPU stolen"
    return (
        f"run {result.run_seconds:.0f} s, peak {result.peak_rss_mb:.0f} MB{steal}; ratios {ratios}"
    )


def read_results(path: str) -> dict[str, Any] | None:
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def rewrite_report(results_path: str, docs_dir: str, before: dict[str, Any] | None) -> int:
    """Writes docs/benchmarks.md and .png again from a results file, measuring nothing."""
    saved = read_results(results_path)
    if saved is None:
        raise SystemExit(f"No results file {results_path}: run the benchmark first.")
    write_docs(saved, docs_dir, before)
    print(f"Wrote {docs_dir}/benchmarks.md and {docs_dir}/benchmarks.png from {results_path}")
    return 0


def parse_sizes(text: str) -> list[int]:
    sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    smallest = 4 * len(demo_data.CLASSES)
    if not sizes or sizes[0] < smallest:
        raise ValueError(
            f"sizes must be at least {smallest} images (a few per class), got {text!r}"
        )
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.speed", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, DEFAULT_SIZES)),
        help="images per data set, comma-separated",
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per size (medians reported)")
    parser.add_argument("--results", default="bench/results.json", help="the measurements, as JSON")
    parser.add_argument(
        "--docs", default="docs", help="folder for benchmarks.md and benchmarks.png"
    )
    parser.add_argument(
        "--work",
        help="scratch folder for data and runs, kept with each run's console and detailed "
        "logs (default: a temporary one, removed)",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="measure nothing: write the docs again from the --results file",
    )
    parser.add_argument(
        "--note",
        default="",
        help="the conditions of this measurement: the machine's load, anything unusual",
    )
    parser.add_argument(
        "--before",
        help="an earlier results file to compare with (default: results-before.json beside "
        "--results, if there is one)",
    )
    args = parser.parse_args(argv)
    before_path = args.before or os.path.join(os.path.dirname(args.results), "results-before.json")
    before = read_results(before_path)
    if args.report_only:
        return rewrite_report(args.results, args.docs, before)
    try:
        sizes = parse_sizes(args.sizes)
    except ValueError as e:
        parser.error(str(e))
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    command = "python -m bench.speed " + " ".join(argv if argv is not None else sys.argv[1:])
    work = args.work or tempfile.mkdtemp(prefix="bench-")
    repeats = []
    started = time.monotonic()
    total = len(sizes) * args.repeats
    try:
        for size in sizes:
            data = os.path.join(work, f"data-{size}")
            if not os.path.isdir(data):
                demo_data.generate(data, per_class=math.ceil(size / len(demo_data.CLASSES)))
            for repeat in range(args.repeats):
                step = f"[{len(repeats) + 1}/{total}] {size} images, repeat {repeat + 1}"
                print(f"{step}: a pipeline run, then plain TensorFlow ...", flush=True)
                result = measure(size, data, work, repeat)
                repeats.append(result)
                print(f"    {describe(result)} ({time.monotonic() - started:.0f} s so far)")
            note = args.note
            if size != sizes[-1]:  # a long ladder stopped later keeps what it measured
                note = f"{note} (Partial: sizes up to {size} of {args.sizes}.)".strip()
            saved = results_file(summarize(repeats), command.strip(), args.repeats, note)
            write_results(saved, args.results, args.docs, before)
            print(f"Wrote {args.results}, {args.docs}/benchmarks.md and {args.docs}/benchmarks.png")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
