"""`make bench`: where a pipeline run's time goes, against plain TensorFlow on the same work.

For each size of a ladder of generated demo images (default 500, 2,000, 8,000 and 32,000) and
each repeat, it runs the whole local pipeline in a fresh process (`python -m pipeline.local_runner`
on a new outputs folder: nothing cached), takes each component's wall time from the run's
summary and the process's peak memory, then does ImageExampleGen's work on the image folder and
Transform's, the Trainer's and the Evaluator's on the examples that run wrote in plain
TensorFlow (bench/plain.py), and the whole job as one plain script (bench/plain_run.py), each in
a fresh process too, the last timed as the pipeline's process is.
Ratios are taken within a repeat and reported as medians over repeats, as are the times, each
with its spread over the repeats; the share of CPU time the hypervisor gave to other machines
(steal) is recorded beside each repeat, so a noisy one shows. Writes bench/results.json,
docs/benchmarks.md and docs/benchmarks.png, again after each size, so a long ladder stopped at
its largest size keeps the smaller ones.

    python -m bench.speed [--sizes 500,2000,8000,32000] [--repeats 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import math
import os
import resource
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
from components.example_gen import EXAMPLE_GEN_NODE_ID
from components.trainer import TRAINER_NODE_ID
from components.trainer.training_config import TrainingConfig
from components.transform import TRANSFORM_NODE_ID
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
# Each compared stage and the pipeline component that does it; None for the whole run, timed
# as its process's wall time (start-up included, as the plain script's is).
STAGES = {
    "whole_run": None,
    "examplegen": EXAMPLE_GEN_NODE_ID,
    "transform": TRANSFORM_NODE_ID,
    "trainer": TRAINER_NODE_ID,
    "evaluator": EVALUATOR_NODE_ID,
}
# Targets at the largest size: pipeline seconds / plain seconds.
TARGET_RATIOS = {
    "whole_run": 1.25,
    "examplegen": 1.5,
    "transform": 1.5,
    "trainer": 1.1,
    "evaluator": 2.0,
}
# What a run pays whatever the data: the whole run's line through the sizes, at 0 images.
FIXED_COST_TARGET_SECONDS = 25.0
# Each fresh process whose cores busy (CPU seconds / wall seconds) a repeat records.
CORES_BUSY_LABELS = {
    "run": "the run",
    "plain": "the plain stages",
    "plain_run": "the plain script",
}
# A ratio is meant to repeat within this share of its median, (largest - smallest) / median;
# one that does not is flagged, as noise to be read before the ratio itself.
RATIO_SPREAD_LIMIT = 0.10


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
    plain_peak_rss_mb: float = 0.0  # the plain stages' process (bench/plain.py)
    plain_run_peak_rss_mb: float = 0.0  # the plain whole-run script's (bench/plain_run.py)
    steal_percent: float | None = None
    # CPU seconds over wall seconds of each fresh process ("run", "plain", "plain_run"): a
    # repeat slower with as many cores busy did more work; with fewer, it waited.
    cores_busy: dict[str, float] = field(default_factory=dict)
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


def run_pipeline(
    data: str, outputs: str, log_path: str, more_flags: list[str] | tuple[str, ...] = ()
) -> tuple[Timed, float, dict[str, Any]]:
    """Runs `make local`'s runner in a fresh process with the bench's training settings (and
    `more_flags`); (its times, peak RSS in MB, summary).

    The peak is the one the run records for its own process (pipeline/run/memory.py):
    what the kernel reports for a child also counts this process's memory at the fork, and
    this process has held earlier repeats' data.
    """
    flags = ["--data", data, "--outputs", outputs, *runner_flags(), *more_flags]
    timed = timed_module("pipeline.local_runner", flags, log_path, "The pipeline run")
    with open(OutputLayout(outputs).summary_path) as f:
        summary = json.load(f)
    return timed, summary["peak_memory_mb"], summary


@dataclass(frozen=True)
class Timed:
    """A fresh process's wall seconds, start-up included, and the CPU seconds it used."""

    seconds: float
    cpu_seconds: float

    @property
    def cores_busy(self) -> float:
        return self.cpu_seconds / self.seconds if self.seconds else 0.0


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_module(module: str, flags: list[str], log_path: str, what: str) -> Timed:
    """`python -m module flags` in a fresh process: its wall and CPU seconds (the CPU of the
    children this process has waited for, user and system)."""
    cpu_before, started = _children_cpu_seconds(), time.perf_counter()
    common.run_module(module, flags, log_path, what)
    return Timed(time.perf_counter() - started, _children_cpu_seconds() - cpu_before)


def keep_detailed_log(outputs: str) -> None:
    """Keeps the run's full log (every component's timestamped lines: where the time went)
    beside its console log, as `<run>.detail.log`, before the run's artifacts are removed."""
    for log in glob.glob(os.path.join(OutputLayout(outputs).logs_dir, "*.log")):
        shutil.copyfile(log, outputs + ".detail.log")


def run_plain(
    data: str, examples: str, work: str, out_path: str, log_path: str
) -> tuple[Timed, dict[str, Any]]:
    """The plain TensorFlow stages (bench/plain.py), ingestion on the image folder (its
    examples written under `work`) and the rest on a run's examples, in a fresh process as the
    pipeline runs: (its process's times, its result: seconds per stage, images, metrics)."""
    flags = ["--data", data, "--examples", examples, "--work", work, "--out", out_path]
    timed = timed_module("bench.plain", flags, log_path, "The plain TensorFlow side")
    return timed, _read_json(out_path)


def run_plain_whole(data: str, work: str, out_path: str, log_path: str) -> tuple[Timed, dict]:
    """The plain whole-run script (bench/plain_run.py) on the image folder, its SavedModel
    written under `work`: (its process's times, timed as the pipeline's, its result)."""
    flags = ["--data", data, "--work", work, "--out", out_path]
    timed = timed_module("bench.plain_run", flags, log_path, "The plain whole-run script")
    return timed, _read_json(out_path)


def _read_json(path: str) -> dict[str, Any]:
    with open(path) as f:
        return json.load(f)


def measure(size: int, data: str, work: str, repeat: int) -> Repeat:
    """One repeat at `size`: a pipeline run, the plain stages on its data and examples, then
    the plain whole run on its data, each in a fresh process."""
    outputs = os.path.join(work, f"run-{size}-{repeat}")
    plain_examples, plain_model = outputs + ".plain-examples", outputs + ".plain-run"
    ticks_before = cpu_ticks()
    run, peak, summary = run_pipeline(data, outputs, outputs + ".log")
    result = Repeat(size=size, run_seconds=run.seconds, peak_rss_mb=peak)
    result.components = {name: c["seconds"] for name, c in summary["components"].items()}
    examples = common.examples_dir(OutputLayout(outputs).pipeline_root)
    plain_timed, plain = run_plain(
        data, examples, plain_examples, outputs + ".plain.json", outputs + ".plain.log"
    )
    whole_timed, whole = run_plain_whole(
        data, plain_model, outputs + ".plain-run.json", outputs + ".plain-run.log"
    )
    result.plain = {**plain["seconds"], "whole_run": whole_timed.seconds}
    result.cores_busy = {
        process: round(timed.cores_busy, 2)
        for process, timed in (("run", run), ("plain", plain_timed), ("plain_run", whole_timed))
    }
    result.plain_peak_rss_mb = plain["peak_memory_mb"]
    result.plain_run_peak_rss_mb = whole["peak_memory_mb"]
    result.train_images, result.eval_images = plain["train_images"], plain["eval_images"]
    result.steal_percent = steal_percent(ticks_before, cpu_ticks())
    keep_detailed_log(outputs)
    for folder in (outputs, plain_examples, plain_model):  # at 32,000 images, gigabytes
        shutil.rmtree(folder, ignore_errors=True)
    return result


def pipeline_seconds(stage: str, repeat: Repeat) -> float:
    """The pipeline's seconds for a stage: its component's, or the whole process's."""
    component = STAGES[stage]
    return repeat.run_seconds if component is None else repeat.components[component]


def stage_images(stage: str, repeat: Repeat) -> int:
    """The images a stage works through: the whole run the data set, ingestion every image
    of it, Transform analyzes the train split, the Trainer goes through it once per epoch,
    the Evaluator scores the eval split."""
    if stage == "whole_run":
        return repeat.size
    if stage == "examplegen":
        return repeat.train_images + repeat.eval_images
    if stage == "transform":
        return repeat.train_images
    if stage == "trainer":
        return repeat.train_images * BENCH_TRAINING["epochs"]
    return repeat.eval_images


def spread(values: list[float]) -> float | None:
    """(largest - smallest) / median of repeated measurements: how far apart the repeats fell,
    as a share of the value reported. None for a single repeat, or a median of 0."""
    median = statistics.median(values)
    if len(values) < 2 or not median:
        return None
    return round((max(values) - min(values)) / median, 3)


def _entry(name: str, size: int, seconds: list[float], images: int, **more) -> dict[str, Any]:
    median = statistics.median(seconds)
    return {
        "name": name,
        "size": size,
        "seconds": round(median, 2),
        "spread": spread(seconds),
        "images_per_s": round(images / median, 1) if median else None,
        "repeats": [round(s, 2) for s in seconds],
        **more,
    }


def summarize(repeats: list[Repeat]) -> list[dict[str, Any]]:
    """results.json's entries: per size, each stage and its plain baseline (with the median
    of the per-repeat ratios and their spread), each component, the whole run and its peak
    memory."""
    entries = []
    for size in sorted({r.size for r in repeats}):
        at_size = [r for r in repeats if r.size == size]
        for stage in STAGES:
            images = stage_images(stage, at_size[0])
            ours = [pipeline_seconds(stage, r) for r in at_size]
            plain_seconds = [r.plain[stage] for r in at_size]
            ratios = [p / q for p, q in zip(ours, plain_seconds, strict=True)]
            entries.append(
                _entry(
                    stage,
                    size,
                    ours,
                    images,
                    ratio=round(statistics.median(ratios), 2),
                    ratio_spread=spread(ratios),
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
                plain_run_peak_rss_mb=round(
                    statistics.median(r.plain_run_peak_rss_mb for r in at_size)
                ),
                steal_percent=[_rounded(r.steal_percent) for r in at_size],
                cores_busy={
                    process: [r.cores_busy.get(process) for r in at_size]
                    for process in CORES_BUSY_LABELS
                },
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
        ours, target = _find(entries, stage, largest), TARGET_RATIOS[stage]
        if ours is None:  # a results file from before the stage was measured
            parts.append(f"{stage} - (target {target:g}x, not measured)")
            continue
        verdict = "met" if ours["ratio"] <= target else "**not met**"
        parts.append(f"{stage} {ours['ratio']:g}x (target {target:g}x, {verdict})")
    return f"At the largest size, {largest:,} images: " + "; ".join(parts) + "."


def fixed_cost(entries: list[dict[str, Any]]) -> str:
    """One line: what a run pays whatever the data (its line through the sizes at 0 images),
    against the target."""
    fit = fixed_and_per_image(entries, "run")
    target = f"target {FIXED_COST_TARGET_SECONDS:g} s"
    if fit is None:
        return f"The whole run's fixed cost ({target}) needs two sizes or more to measure."
    verdict = "met" if fit[0] <= FIXED_COST_TARGET_SECONDS else "**not met**"
    return (
        "The whole run's fixed cost, its line through the sizes at 0 images: "
        f"{fit[0]:.1f} s ({target}, {verdict})."
    )


def ratio_spreads(entries: list[dict[str, Any]]) -> str:
    """One line: whether each ratio repeated within RATIO_SPREAD_LIMIT, naming those that
    did not."""
    stages = [e for e in entries if e["name"] in STAGES and e.get("ratio_spread") is not None]
    limit = f"{RATIO_SPREAD_LIMIT:.0%}"
    if not stages:
        return f"Ratios are meant to repeat within {limit}; no spread was measured here."
    noisy = [
        f"{e['name']} @ {e['size']} ({_percent(e['ratio_spread'])})"
        for e in stages
        if e["ratio_spread"] > RATIO_SPREAD_LIMIT
    ]
    if not noisy:
        return f"Ratios are meant to repeat within {limit}, and every one did."
    return (
        f"Ratios are meant to repeat within {limit}; **over {limit}**, so read them as noisy: "
        + ", ".join(noisy)
        + "."
    )


def _cost_label(fit: tuple[float, float] | None) -> str:
    return f"{fit[0]:.1f} s + {fit[1] * 1000:.2f} ms/image" if fit else "-"


def _by(entries: list[dict[str, Any]], name: str, size: int) -> dict[str, Any]:
    return next(e for e in entries if e["name"] == name and e["size"] == size)


def _find(entries: list[dict[str, Any]], name: str, size: int) -> dict[str, Any] | None:
    """The entry, or None where the results file lacks it (one written before it was
    measured)."""
    return next((e for e in entries if e["name"] == name and e["size"] == size), None)


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def _spread_label(share: float | None) -> str:
    """A median's repeats' spread as the tables show it, in brackets after it; none measured,
    nothing."""
    return "" if share is None else f" (spread {_percent(share)})"


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
            pair = _both(before, after, stage, size)
            if pair is None:
                continue  # measured on one of the two days only
            old, new = pair
            lines.append(
                f"| {stage} @ {size} | {old['seconds']:g} | {new['seconds']:g} | "
                f"{_speed_up(old, new)} | {old['ratio']:g}x | {new['ratio']:g}x |"
            )
        runs = _both(before, after, "run", size)
        if runs and not _both(before, after, "whole_run", size):  # an older file: no ratio
            old, new = runs
            lines.append(
                f"| whole run @ {size} | {old['seconds']:g} | {new['seconds']:g} | "
                f"{_speed_up(old, new)} | | |"
            )
    return "\n".join(lines) + "\n"


def _both(
    before: dict[str, Any], after: dict[str, Any], name: str, size: int
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """An entry in both results files, or None where either lacks it."""
    old, new = _find(before["results"], name, size), _find(after["results"], name, size)
    return None if old is None or new is None else (old, new)


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
        "seconds measured in the same repeat (median of those). In brackets, the spread of the "
        "repeats: (largest - smallest) / median. Generated demo images "
        f"(`pipeline/demo_data.py`: PNG and JPEG, 4 classes), 80/20 split; MobileNetV2 (alpha "
        f"{TrainingConfig.backbone_alpha}) at {BENCH_TRAINING['image_size']} px from scratch, "
        f"{BENCH_TRAINING['epochs']} epochs, batch {BENCH_TRAINING['batch_size']}, the default "
        "augmentation. The plain stages are `bench/plain.py`: ingestion as a plain loop that "
        "reads, decodes (to check) and writes each image's tf.Example to TFRecords; "
        "decode, resize and per-channel statistics with `tf.data`; Keras `fit` on the same "
        "model and data; `predict` and the gate's metrics with numpy and scikit-learn. The "
        "plain whole run is `bench/plain_run.py`, the same job as one script from the image "
        "folder to a SavedModel (saved as the Trainer exports it, a plain `tf.Module` without "
        "Keras's metadata), timed as the pipeline's run is: its process's wall time, imports "
        "included (TensorFlow's; it loads no TFX or Beam).",
        "",
        "## Pipeline against plain TensorFlow",
        "",
        "| stage | images | pipeline s | images/s | plain s | images/s | ratio | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size in sizes:
        for stage in STAGES:
            lines.append(_stage_row(entries, stage, size))
    lines += [
        "",
        targets_at_largest(entries),
        fixed_cost(entries),
        ratio_spreads(entries),
        "",
        "Fixed cost and cost per image (the line through the sizes, per image of the data set), "
        "and the data size from which those lines put the stage within its target:",
        "",
        "| stage | pipeline | plain | within target from |",
        "|---|---|---|---|",
    ]
    for stage in STAGES:
        ours = fixed_and_per_image(entries, stage)
        within = _within_label(within_target_from(entries, stage)) if ours else "-"
        lines.append(
            f"| {stage} | {_cost_label(ours)} | "
            f"{_cost_label(fixed_and_per_image(entries, f'{stage}_plain'))} | {within} |"
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
        cells = [_seconds_cell(_find(entries, name, s)) for s in sizes]
        exponent = growth_exponent(entries, name)
        cost = _cost_label(fixed_and_per_image(entries, name))
        lines.append(
            f"| {label} | " + " | ".join(cells) + f" | {_growth_label(exponent)} | {cost} |"
        )
    runs = [_by(entries, "run", s) for s in sizes]
    lines += [
        _memory_row("peak memory of the run, MB", runs, "peak_rss_mb"),
        _memory_row("peak memory of the plain whole-run script, MB", runs, "plain_run_peak_rss_mb"),
        _memory_row("peak memory of the plain stages' process, MB", runs, "plain_peak_rss_mb"),
        "| CPU stolen by other machines, % (per repeat) | "
        + " | ".join(_per_repeat_label(run.get("steal_percent")) for run in runs)
        + " | | |",
        *[
            f"| cores busy, {label} (CPU s / wall s, per repeat) | "
            + " | ".join(_per_repeat_label(_cores_busy(run, process)) for run in runs)
            + " | | |"
            for process, label in CORES_BUSY_LABELS.items()
        ],
        "",
        "Growth is the slope of log(seconds) against log(images): 1 is linear; well below 1, "
        "fixed costs (start-up, graph tracing, export) still dominate at these sizes. CPU "
        "stolen is the share of this virtual machine's CPU time its host gave to others "
        "during the repeat (`steal` in /proc/stat): a repeat with much of it ran slow. Cores "
        "busy is a process's CPU seconds over its wall seconds: a repeat slower than the others "
        "with as many cores busy did more work; with fewer, it waited (for the host, memory or "
        "disk).",
        "",
        "![seconds and ratios by size](benchmarks.png)",
        "",
    ]
    return "\n".join(lines)


def _stage_row(entries: list[dict[str, Any]], stage: str, size: int) -> str:
    """A stage's row of the main table; '-' for what the results file lacks."""
    ours, plain = _find(entries, stage, size), _find(entries, f"{stage}_plain", size)
    ratio = "-"
    if ours is not None:
        ratio = f"**{ours['ratio']:g}x**" + _spread_label(ours.get("ratio_spread"))
    return (
        f"| {stage} @ {size} | {stage_images_label(stage)} | {_seconds_cell(ours)} | "
        f"{_rate_cell(ours)} | {_seconds_cell(plain)} | {_rate_cell(plain)} | "
        f"{ratio} | {TARGET_RATIOS[stage]:g}x |"
    )


def _seconds_cell(entry: dict[str, Any] | None) -> str:
    return "-" if entry is None else f"{entry['seconds']:g}" + _spread_label(entry.get("spread"))


def _rate_cell(entry: dict[str, Any] | None) -> str:
    rate = entry and entry["images_per_s"]
    return "-" if rate is None else f"{rate:g}"


def _memory_row(label: str, runs: list[dict[str, Any]], key: str) -> str:
    return f"| {label} | " + " | ".join(f"{run.get(key, '-')}" for run in runs) + " | | |"


def stage_images_label(stage: str) -> str:
    return {
        "whole_run": "data set",
        "examplegen": "all images",
        "transform": "train split",
        "trainer": "train split x epochs",
        "evaluator": "eval split",
    }[stage]


def _cores_busy(run: dict[str, Any], process: str) -> list[float | None] | None:
    """A run entry's cores busy per repeat for one process; None in files from before them."""
    return (run.get("cores_busy") or {}).get(process)


def _per_repeat_label(percents: list[float | None] | None) -> str:
    known = [p for p in percents or [] if p is not None]
    return " / ".join(f"{p:g}" for p in known) if known else "-"


def _growth_label(exponent: float | None) -> str:
    return f"size^{exponent:.2f}" if exponent is not None else "-"


# A colour per stage in the plot, in STAGES' order.
_COLOURS = ("tab:purple", "tab:red", "tab:blue", "tab:orange", "tab:green")


def plot(entries: list[dict[str, Any]], path: str) -> None:
    plt = plots.pyplot()
    figure, (seconds_axis, ratio_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for stage, colour in zip(STAGES, _COLOURS, strict=True):
        sizes, ours = _series(entries, stage, "seconds")
        if not sizes:
            continue  # a results file from before the stage was measured
        seconds_axis.plot(sizes, ours, "o-", color=colour, label=f"{stage} (pipeline)")
        seconds_axis.plot(
            *_series(entries, f"{stage}_plain", "seconds"),
            "o--",
            color=colour,
            label=f"{stage} (plain TF)",
        )
        ratio_axis.plot(*_series(entries, stage, "ratio"), "o-", color=colour, label=stage)
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


def _series(entries: list[dict[str, Any]], name: str, key: str) -> tuple[list[int], list[float]]:
    """(sizes, values) of one name's entries, in size order: the sizes it was measured at."""
    measured = sorted((e["size"], e[key]) for e in entries if e["name"] == name)
    return [size for size, _ in measured], [value for _, value in measured]


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
        f"{stage} {pipeline_seconds(stage, result) / result.plain[stage]:.1f}x" for stage in STAGES
    )
    steal = "" if result.steal_percent is None else f", {result.steal_percent:.1f}% CPU stolen"
    busy = ", ".join(f"{process} {cores:g}" for process, cores in result.cores_busy.items())
    return (
        f"run {result.run_seconds:.0f} s, peak {result.peak_rss_mb:.0f} MB{steal}; ratios "
        f"{ratios}; cores busy: {busy}"
    )


def rewrite_report(results_path: str, docs_dir: str, before: dict[str, Any] | None) -> int:
    """Writes docs/benchmarks.md and .png again from a results file, measuring nothing."""
    saved = common.read_results(results_path)
    if saved is None:
        raise SystemExit(f"No results file {results_path}: run the benchmark first.")
    write_docs(saved, docs_dir, before)
    print(f"Wrote {docs_dir}/benchmarks.md and {docs_dir}/benchmarks.png from {results_path}")
    return 0


def command_line(argv: list[str]) -> str:
    """How the bench was started, for the report; without the note, which the report shows
    on its own."""
    return " ".join(["python -m bench.speed", *common.without_note(argv)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.speed", description=__doc__.split("\n\n")[0]
    )
    common.add_sizes_argument(parser, DEFAULT_SIZES)
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
    before = common.read_results(before_path)
    if args.report_only:
        return rewrite_report(args.results, args.docs, before)
    sizes = args.sizes
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    command = command_line(argv if argv is not None else sys.argv[1:])
    work = args.work or tempfile.mkdtemp(prefix="bench-")
    repeats = []
    started = time.monotonic()
    total = len(sizes) * args.repeats
    try:
        for size in sizes:
            data = common.demo_images(work, size)
            for repeat in range(args.repeats):
                step = f"[{len(repeats) + 1}/{total}] {size} images, repeat {repeat + 1}"
                print(f"{step}: a pipeline run, then plain TensorFlow ...", flush=True)
                result = measure(size, data, work, repeat)
                repeats.append(result)
                print(f"    {describe(result)} ({time.monotonic() - started:.0f} s so far)")
            note = args.note
            if size != sizes[-1]:  # a long ladder stopped later keeps what it measured
                ladder = ",".join(map(str, sizes))
                note = f"{note} (Partial: sizes up to {size} of {ladder}.)".strip()
            saved = results_file(summarize(repeats), command.strip(), args.repeats, note)
            write_results(saved, args.results, args.docs, before)
            print(f"Wrote {args.results}, {args.docs}/benchmarks.md and {args.docs}/benchmarks.png")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
