"""`make bench-gpu`: the Trainer's pace on one GPU against plain Keras on the same GPU, in float32
and in mixed precision, and whether the Trainer's input pipeline keeps the GPU busy.

On one folder of generated demo images (default 8,000) it runs the whole local pipeline twice
into one outputs folder, each in a fresh process: float32, then MIXED_PRECISION (ExampleGen and
Transform come from TFX's cache the second time), and reads the Trainer's per-epoch seconds from
its history.json. Then, each in a fresh process too: the Trainer's own input pipeline with no
model, and plain Keras `fit` of the same model on the same images per precision. Pace is
steady-state images per second: images fitted per epoch over the median seconds of the epochs
after the first. Where nvidia-smi exists, GPU utilization is sampled during the Trainer's
epochs. Writes bench/gpu_results.json and docs/benchmarks-gpu.md from it.

    python -m bench.gpu [--size 8000] [--work DIR] [--allow-cpu] [--report-only]
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench import common
from components.trainer import TRAINER_NODE_ID
from components.trainer.training_config import TrainingConfig
from components.transform import TRANSFORM_NODE_ID
from pipeline import exit_codes
from pipeline.config import OutputLayout
from pipeline.settings import TRAINING_SETTINGS

# The work both sides do. From scratch ("none"): a GPU machine may reach no network and holds no
# pretrained backbone. No early stopping and a constant rate, so both sides run every epoch at
# the same cost. The Trainer's default image size and a batch that gives a GPU work to do.
# Four epochs: the first decodes the images and traces the model, the median of the other three
# is the steady pace.
GPU_TRAINING: dict[str, Any] = {
    "image_size": TrainingConfig.image_size,
    "weights": "none",
    "epochs": 4,
    "batch_size": 128,
    "early_stopping": False,
    "lr_schedule": "constant",
}
# What the command line may change, for a larger GPU or a quick try on a CPU.
ADJUSTABLE = ("image_size", "batch_size", "epochs")
# Enough that an epoch on one GPU lasts seconds, few enough that the whole script stays well
# under 8 minutes.
DEFAULT_SIZE = 8000
MIXED, FULL = "mixed_float16", "float32"
# Each run's name (the Keras dtype policy asked for) and its MIXED_PRECISION value.
PRECISIONS = {FULL: False, MIXED: True}
# The input pipeline keeps the GPU busy when it delivers at least this multiple of the Trainer's
# pace: the Trainer's epoch seconds include validation and BatchNorm re-estimation, which the
# input check does not time, and a pipeline only just fast enough leaves the GPU waiting.
INPUT_MARGIN = 1.2
UTILIZATION_INTERVAL_MS = 500
NVIDIA_SMI_TIME_FORMAT = "%Y/%m/%d %H:%M:%S.%f"
DEFAULT_RESULTS = "bench/gpu_results.json"
DOC_NAME = "benchmarks-gpu.md"
STEPS = 5  # two pipeline runs, the input check, two plain runs


# --- the arithmetic ---------------------------------------------------------------------------


def fit_images(train_images: int) -> int:
    """Images the Trainer fits on per epoch: the train split less the part it validates on
    (training.split_validation holds out every HOLDOUT_EVERY-th image)."""
    from components.trainer import training

    return train_images - training.validation_count(train_images)


def steady_pace(images_per_epoch: int, epoch_seconds: list[float]) -> float:
    """Images per second once warm: the median of the epochs after the first, which decodes
    the images into the cache and traces the model."""
    if len(epoch_seconds) < 2:
        raise ValueError(f"a steady pace needs 2 epochs or more, got {len(epoch_seconds)}")
    return images_per_epoch / statistics.median(epoch_seconds[1:])


def precision_policy(mixed: bool, has_gpu: bool) -> str:
    """The Keras dtype policy a run trains under: mixed float16 only where asked for and a GPU
    is present, the Trainer's rule (devices.set_precision), which the plain side follows too so
    that both sides of a comparison compute alike."""
    return MIXED if mixed and has_gpu else FULL


def verdict(input_pace: float, trainer_pace: float, margin: float = INPUT_MARGIN) -> dict[str, Any]:
    """Whether the input pipeline, alone, outruns the Trainer by `margin`; in words too."""
    ratio = input_pace / trainer_pace
    busy = ratio >= margin
    if busy:
        text = (
            f"The input pipeline keeps the GPU busy: {input_pace:,.0f} images/s, {ratio:.1f}x "
            f"the Trainer's fastest pace ({trainer_pace:,.0f} images/s; {margin:g}x asked)."
        )
    else:
        text = (
            f"The input pipeline does NOT keep the GPU busy: {input_pace:,.0f} images/s is only "
            f"{ratio:.2f}x the Trainer's fastest pace ({trainer_pace:,.0f} images/s), under the "
            f"{margin:g}x asked: the GPU is likely waiting for data."
        )
    return {"busy": busy, "ratio": round(ratio, 2), "margin": margin, "text": text}


def parse_utilization(lines: list[str]) -> list[tuple[float, float]]:
    """(Unix time, percent) samples from nvidia-smi's `timestamp,utilization.gpu` CSV lines;
    lines it could not measure ("[N/A]") or cut short are left out."""
    samples = []
    for line in lines:
        stamp, _, percent = line.rpartition(",")
        try:
            when = datetime.datetime.strptime(stamp.strip(), NVIDIA_SMI_TIME_FORMAT)
            samples.append((when.timestamp(), float(percent)))
        except ValueError:
            continue
    return samples


def median_utilization(
    samples: list[tuple[float, float]], windows: list[tuple[float, float]]
) -> float | None:
    """The median percent of the samples taken inside any window; None if none was."""
    inside = percents_inside(samples, windows)
    return statistics.median(inside) if inside else None


def percents_inside(
    samples: list[tuple[float, float]], windows: list[tuple[float, float]]
) -> list[float]:
    return [p for t, p in samples if any(start <= t <= end for start, end in windows)]


# --- the GPU and its utilization --------------------------------------------------------------


def visible_gpus() -> list[str]:
    """The GPUs TensorFlow sees, by model name where it tells. Reading the physical devices
    allocates nothing on them, so the children that train find the GPU's memory free."""
    import tensorflow as tf

    names = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        names.append(details.get("device_name") or device.name)
    return names


@contextmanager
def sampled_utilization(path: str) -> Iterator[bool]:
    """nvidia-smi writing the GPU's utilization with its timestamp to `path` every
    UTILIZATION_INTERVAL_MS while the block runs; yields whether it could (it is absent on a
    machine without NVIDIA's driver)."""
    nvidia_smi = shutil.which("nvidia-smi")
    if nvidia_smi is None:
        yield False
        return
    command = [
        nvidia_smi,
        "--query-gpu=timestamp,utilization.gpu",
        "--format=csv,noheader,nounits",
        "-lms",
        str(UTILIZATION_INTERVAL_MS),
    ]
    with open(path, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL)
        try:
            yield True
        finally:
            # Ctrl-C, as a person stops its loop: it exits cleanly, its last lines written.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def epoch_windows(model_run: str, epoch_seconds: list[float]) -> list[tuple[float, float]]:
    """(start, end) wall times of the Trainer's epochs after the first. The end is when
    TensorBoard's callback wrote the epoch's loss (in model_run/train), the start that less the
    epoch's seconds: history.json keeps durations only."""
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    ends: dict[int, float] = {}
    for path in sorted(glob.glob(os.path.join(model_run, "train", "events.out.tfevents.*"))):
        for record in tf.data.TFRecordDataset(path):
            event = event_pb2.Event.FromString(record.numpy())
            if any(value.tag == "epoch_loss" for value in event.summary.value):
                ends[event.step] = event.wall_time
    return [
        (ends[epoch] - seconds, ends[epoch])
        for epoch, seconds in enumerate(epoch_seconds)
        if epoch >= 1 and epoch in ends
    ]


def utilization_during_epochs(
    samples_path: str, model_run: str, epoch_seconds: list[float]
) -> dict[str, Any]:
    with open(samples_path) as f:
        samples = parse_utilization(f.read().splitlines())
    windows = epoch_windows(model_run, epoch_seconds)
    return {
        "median_percent": median_utilization(samples, windows),
        "samples": len(percents_inside(samples, windows)),
    }


# --- the pipeline side ------------------------------------------------------------------------


def training_settings(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """GPU_TRAINING with the command line's changes, checked as the Trainer checks them."""
    settings = {**GPU_TRAINING, **(overrides or {})}
    TrainingConfig(**settings)  # refuses what the Trainer would refuse, before anything runs
    return settings


def runner_flags(settings: dict[str, Any], mixed: bool) -> list[str]:
    """The local runner's flags for `settings` and the precision; the plain side reads the
    same settings."""
    flags = []
    for name, value in {**settings, "mixed_precision": mixed}.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        flags += [TRAINING_SETTINGS[name].flag, text]
    return flags


def run_pipeline(
    data: str, outputs: str, settings: dict[str, Any], mixed: bool, log_path: str
) -> dict[str, Any]:
    """`make local`'s runner in a fresh process; the run's summary."""
    flags = ["--data", data, "--outputs", outputs, *runner_flags(settings, mixed)]
    common.run_module("pipeline.local_runner", flags, log_path, "The pipeline run")
    with open(OutputLayout(outputs).summary_path) as f:
        return json.load(f)


def trainer_epoch_seconds(summary: dict[str, Any]) -> tuple[str, list[float]]:
    """(the Trainer's model_run folder, each epoch's wall seconds from its history.json)."""
    from components.trainer import training, training_report

    model_run = (summary.get("training") or {}).get("model_run")
    if not model_run:
        raise RuntimeError("The run's summary names no Trainer output: did the Trainer run?")
    with open(os.path.join(model_run, training_report.HISTORY_FILE)) as f:
        history = json.load(f)["history"]
    return model_run, [float(s) for s in history[training.EPOCH_SECONDS_KEY]]


def pipeline_side(
    data: str, work: str, settings: dict[str, Any], precision: str, has_gpu: bool
) -> dict[str, Any]:
    """One pipeline run at `precision`: the Trainer's epoch seconds, which components came from
    the cache, and the GPU's utilization during the steady epochs."""
    outputs = os.path.join(work, "outputs")
    samples = os.path.join(work, f"utilization-{precision}.csv")
    log = os.path.join(work, f"pipeline-{precision}.log")
    with sampled_utilization(samples) as sampling:
        summary = run_pipeline(data, outputs, settings, PRECISIONS[precision], log)
    model_run, seconds = trainer_epoch_seconds(summary)
    components = summary["components"]
    return {
        "policy": precision_policy(PRECISIONS[precision], has_gpu),
        "epoch_seconds": [round(s, 3) for s in seconds],
        "trainer_seconds": components[TRAINER_NODE_ID]["seconds"],
        "cached": sorted(name for name, c in components.items() if c["cached"]),
        "gpu_utilization": (
            utilization_during_epochs(samples, model_run, seconds) if sampling else None
        ),
    }


# --- the workers: the input check and plain Keras, each in a fresh process ---------------------


WORKERS = {"input": "The input pipeline check", "plain": "The plain Keras side"}


def run_worker(worker: str, flags: list[str], work: str, suffix: str = "") -> dict[str, Any]:
    """`python -m bench.gpu --worker ...` in a fresh process; what it measured."""
    name = f"{worker}-{suffix}" if suffix else worker
    out_path = os.path.join(work, f"{name}.json")
    log_path = os.path.join(work, f"{name}.log")
    flags = ["--worker", worker, "--out", out_path, *flags]
    common.run_module("bench.gpu", flags, log_path, WORKERS[worker])
    with open(out_path) as f:
        return json.load(f)


def settings_flags(settings: dict[str, Any]) -> list[str]:
    return [part for name in ADJUSTABLE for part in (_flag(name), str(settings[name]))]


def _flag(name: str) -> str:
    return TRAINING_SETTINGS[name].flag


def _timed_images(batches: Any) -> tuple[int, float]:
    """(images, seconds) of one pass over (image, label) batches."""
    started = time.perf_counter()
    images = sum(int(images.shape[0]) for images, _ in batches)
    return images, time.perf_counter() - started


def input_side(examples: str, transform_graph: str, config: TrainingConfig) -> dict[str, Any]:
    """The Trainer's fit batches (TrainingData as training.training_data builds them: the
    transform graph on the raw examples, cached, split, shuffled, augmented) with no model:
    one warm pass that decodes into the cache, then one epoch's batches, timed."""
    import tensorflow_transform as tft

    from bench import plain
    from components import features
    from components.common import tracing
    from components.trainer import training
    from components.transform import augmentation

    tracing.leave_libraries_unconverted()  # as run_fn: the augmentation traced as in the Trainer
    files = plain.split_files(examples, features.TRAIN_SPLIT)
    total = training.count_examples(files)
    data = training.TrainingData.from_training_split(
        training.transformed_examples(files, tft.TFTransformOutput(transform_graph)),
        total,
        config.batch_size,
        augmentation.read_spec(transform_graph),
        config.seed,
        cache=training.cache_in_memory(total, config.image_size, config.cache_budget_gb),
    )
    batches = data.fit_batches()  # the Trainer's batches; each pass below is one epoch of them
    first_images, first_seconds = _timed_images(batches)
    images, seconds = _timed_images(batches.take(data.steps_per_epoch))
    return {
        "train_images": total,
        "fit_images": data.fit_count,
        "images_per_s": round(images / seconds, 1),
        "first_pass_images_per_s": round(first_images / first_seconds, 1),
    }


def plain_side(examples: str, config: TrainingConfig, mixed: bool) -> dict[str, Any]:
    """Plain Keras `fit` of the Trainer's model on the same fit and validation parts of the train
    split, batch, augmentation and epochs, images decoded once and cached in memory, under the
    dtype policy this process sets itself; each epoch's seconds by the Trainer's callback."""
    import tensorflow as tf
    import tf_keras as keras

    from bench import plain
    from components import features
    from components.common import tracing
    from components.example_gen.class_names import read_class_names
    from components.trainer import training
    from components.trainer.model import build_model
    from components.transform import augmentation
    from components.transform.augmentation_spec import AugmentationSpec

    tracing.leave_libraries_unconverted()  # as the Trainer: the same Keras, traced the same
    policy = precision_policy(mixed, bool(tf.config.list_logical_devices("GPU")))
    keras.mixed_precision.set_global_policy(policy)
    files = plain.split_files(examples, features.TRAIN_SPLIT)
    _, norm = plain.transform(files, config.image_size)
    fit, validation = training.split_validation(plain.normalized(files, config.image_size, norm))
    total = training.count_examples(files)
    fit_count = fit_images(total)
    fit_batches = augmentation.augment(
        fit.shuffle(4096, seed=config.seed, reshuffle_each_iteration=True).batch(config.batch_size),
        augmentation.build_augmenter(AugmentationSpec(), config.seed),
    ).prefetch(tf.data.AUTOTUNE)
    validation_batches = validation.batch(config.batch_size).prefetch(tf.data.AUTOTUNE)
    num_classes = len(read_class_names(examples))
    model = build_model(config, num_classes, math.ceil(fit_count / config.batch_size))
    history = model.fit(
        fit_batches,
        validation_data=validation_batches,
        epochs=config.epochs,
        callbacks=[training.EpochSeconds()],
        verbose=0,
    )
    seconds = [float(s) for s in history.history[training.EPOCH_SECONDS_KEY]]
    return {
        "policy": policy,
        "fit_images": fit_count,
        "epoch_seconds": [round(s, 3) for s in seconds],
    }


def worker_main(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    config = TrainingConfig(**settings)
    if args.worker == "input":
        result = input_side(args.examples, args.transform_graph, config)
    else:
        result = plain_side(args.examples, config, PRECISIONS[args.precision])
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    return exit_codes.SUCCESS


# --- the whole measurement --------------------------------------------------------------------


class Progress:
    """`[step/STEPS] what ...` before each step, its outcome and the time so far after."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.step = 0

    def begin(self, what: str) -> None:
        self.step += 1
        print(f"[{self.step}/{STEPS}] {what} ...", flush=True)

    def done(self, outcome: str) -> None:
        print(f"    {outcome} ({time.monotonic() - self.started:.0f} s so far)", flush=True)


def _pace(side: dict[str, Any], images: int) -> None:
    side["images_per_s"] = round(steady_pace(images, side["epoch_seconds"]), 1)


def _epochs(side: dict[str, Any]) -> str:
    return "epochs " + ", ".join(f"{s:.1f}" for s in side["epoch_seconds"]) + " s"


def _describe(side: dict[str, Any]) -> str:
    """A side's pace in a line: its epochs, steady images/s, policy and the GPU's use."""
    busy = side.get("gpu_utilization") or {}
    gpu = (
        f"; GPU {busy['median_percent']:.0f}% busy (median)"
        if busy.get("median_percent") is not None
        else ""
    )
    return f"{_epochs(side)}; {side['images_per_s']:,.0f} images/s steady ({side['policy']}){gpu}"


def input_step(work: str, flags: list[str], examples: str, root: str) -> dict[str, Any]:
    graph = common.newest_artifact(root, TRANSFORM_NODE_ID, "transform_graph")
    input_flags = [*flags, "--examples", examples, "--transform-graph", graph]
    return run_worker("input", input_flags, work)


def plain_step(work: str, flags: list[str], examples: str, precision: str) -> dict[str, Any]:
    plain_flags = [*flags, "--examples", examples, "--precision", precision]
    side = run_worker("plain", plain_flags, work, precision)
    _pace(side, side["fit_images"])
    return side


def measure(size: int, settings: dict[str, Any], work: str, gpus: list[str]) -> dict[str, Any]:
    """Both pipeline runs, the input check, and plain Keras at each precision, in that order
    (the input check needs the first run's artifacts); the results file's measurements."""
    progress = Progress()
    data = common.demo_images(work, size)
    outputs = os.path.join(work, "outputs")
    shutil.rmtree(outputs, ignore_errors=True)  # one fresh outputs folder: the Trainer must run
    root = OutputLayout(outputs).pipeline_root
    flags = settings_flags(settings)
    runs: dict[str, dict[str, Any]] = {name: {} for name in PRECISIONS}

    progress.begin(f"The pipeline on {size:,} images, float32 (a local run, fresh process)")
    runs[FULL]["pipeline"] = pipeline_side(data, work, settings, FULL, bool(gpus))
    progress.done(f"Trainer, float32: {_epochs(runs[FULL]['pipeline'])}")
    examples = common.examples_dir(root)

    progress.begin("The Trainer's input pipeline alone, no model (fresh process)")
    found = input_step(work, flags, examples, root)
    _pace(runs[FULL]["pipeline"], found["fit_images"])
    progress.done(
        f"{found['images_per_s']:,.0f} images/s once warm; "
        f"Trainer, float32: {_describe(runs[FULL]['pipeline'])}"
    )

    progress.begin("The pipeline again, mixed precision (ExampleGen and Transform cached)")
    runs[MIXED]["pipeline"] = pipeline_side(data, work, settings, MIXED, bool(gpus))
    _pace(runs[MIXED]["pipeline"], found["fit_images"])
    progress.done(f"Trainer, mixed precision: {_describe(runs[MIXED]['pipeline'])}")

    for precision in PRECISIONS:
        progress.begin(f"Plain Keras fit, {precision} (fresh process)")
        runs[precision]["plain"] = plain_step(work, flags, examples, precision)
        progress.done(f"plain Keras, {precision}: {_describe(runs[precision]['plain'])}")
    fastest = max(PRECISIONS, key=lambda p: runs[p]["pipeline"]["images_per_s"])
    return {
        "size": size,
        "train_images": found["train_images"],
        "fit_images": found["fit_images"],
        "input": found,
        "precisions": runs,
        "verdict": verdict(found["images_per_s"], runs[fastest]["pipeline"]["images_per_s"]),
        "utilization": (
            f"nvidia-smi every {UTILIZATION_INTERVAL_MS} ms"
            if shutil.which("nvidia-smi")
            else "not measured: nvidia-smi not found"
        ),
        "seconds": round(time.monotonic() - progress.started),
    }


def results_file(
    measured: dict[str, Any], settings: dict[str, Any], gpus: list[str], command: str
) -> dict[str, Any]:
    """What bench/gpu_results.json holds: the measurements, and how and where they were made."""
    return {
        "date": datetime.date.today().isoformat(),
        "command": command,
        "machine": common.machine(gpus=len(gpus)),
        "gpus": gpus,
        "settings": settings,
        **measured,
    }


# --- the report -------------------------------------------------------------------------------


def method(settings: dict[str, Any], size: int) -> list[str]:
    """What the script does, in words, from the settings it ran (or would run) with."""
    return [
        "## What it measures",
        "",
        f"`make bench-gpu` (`bench/gpu.py`) generates {size:,} demo images "
        "(`pipeline/demo_data.py`; `SIZE` changes it) and, on one GPU:",
        "",
        "1. runs the whole local pipeline twice into one outputs folder, each in a fresh "
        "process: float32, then `MIXED_PRECISION=true` (ExampleGen and Transform come from "
        "TFX's cache the second time). The Trainer trains MobileNetV2 (alpha "
        f"{TrainingConfig.backbone_alpha}) from scratch at {settings['image_size']} px, batch "
        f"{settings['batch_size']}, {settings['epochs']} epochs, no early stopping, a constant "
        "learning rate; its pace comes from its `history.json`, where each epoch's wall "
        "seconds are kept (`epoch_seconds`, validation included);",
        "2. trains the same model (`build_model`) with plain Keras `fit`, in a fresh process "
        "per precision, on the same fit and validation parts of the train split, batch, "
        "augmentation and epochs, its images decoded once and cached in memory "
        "(`bench/plain.py`'s decoding), with none of the Trainer's re-estimation of BatchNorm "
        "statistics before each validation (a cost the comparison includes); it sets Keras's "
        "`mixed_float16` policy itself for the mixed run;",
        "3. runs the Trainer's own input pipeline (`TrainingData.fit_batches()` in "
        "`components/trainer/training.py`, on the run's transform graph and examples) with no "
        "model: one warm pass that fills its cache, then one epoch's batches, timed.",
        "",
        "A pace is steady-state images per second: the images fitted per epoch (the train split "
        "less every fifth image, which validates) over the median wall seconds of the epochs "
        "after the first (the first decodes the images and traces the model). The input "
        f"pipeline keeps the GPU busy when it delivers at least {INPUT_MARGIN:g}x the Trainer's "
        "fastest pace: the Trainer's epochs also validate and re-estimate BatchNorm, which the "
        "input check does not time. Where `nvidia-smi` is installed, the GPU's utilization is "
        f"sampled every {UTILIZATION_INTERVAL_MS} ms during the Trainer's epochs after the "
        "first, its median a second opinion.",
        "",
        "It writes `gpu_results.json` in `bench/` and this page from it (`python -m bench.gpu "
        "--report-only` writes the page again). It refuses to start without a GPU (exit 2); "
        "`--allow-cpu` tries it on a CPU, with figures that say nothing of a GPU. Meant to take "
        "under 8 minutes on one GPU.",
    ]


def _gpu_cell(side: dict[str, Any]) -> str:
    busy = side.get("gpu_utilization") or {}
    percent = busy.get("median_percent")
    return "-" if percent is None else f"{percent:.0f}% ({busy['samples']} samples)"


def _speed_up(saved: dict[str, Any], side: str) -> str:
    runs = saved["precisions"]
    return f"{runs[MIXED][side]['images_per_s'] / runs[FULL][side]['images_per_s']:.2f}x"


def results_section(saved: dict[str, Any]) -> list[str]:
    """The measurements: each precision's paces, the input pipeline's and the verdict."""
    lines = [
        f"Measured by `{saved['command']}` on {saved['date']}: {saved['machine']}; "
        f"GPU: {', '.join(saved['gpus']) or 'none'}. {saved['size']:,} images, "
        f"{saved['fit_images']:,} fitted per epoch; {saved['seconds']} s in all.",
        "",
    ]
    if not saved["gpus"]:
        lines += [
            "**No GPU was visible (`--allow-cpu`): these are CPU figures from trying the "
            "script, and say nothing of a GPU.**",
            "",
        ]
    lines += [
        "## The Trainer against plain Keras",
        "",
        "| precision | Trainer images/s | plain Keras images/s | Trainer s / plain s | "
        "GPU busy in the Trainer's epochs (median) |",
        "|---|---|---|---|---|",
    ]
    for precision, run in saved["precisions"].items():
        ours, plain = run["pipeline"], run["plain"]
        in_force = {ours["policy"], plain["policy"]}
        label = precision if in_force == {precision} else f"{precision} (ran {'/'.join(in_force)})"
        lines.append(
            f"| {label} | {ours['images_per_s']:,.1f} | {plain['images_per_s']:,.1f} | "
            f"**{plain['images_per_s'] / ours['images_per_s']:.2f}x** | {_gpu_cell(ours)} |"
        )
    lines += [
        f"| mixed over float32 | {_speed_up(saved, 'pipeline')} | {_speed_up(saved, 'plain')} "
        "| | |",
        "",
        "Each epoch's seconds, the first included:",
        "",
    ]
    for precision, run in saved["precisions"].items():
        for side, name in (("pipeline", "Trainer"), ("plain", "plain Keras")):
            seconds = ", ".join(f"{s:g}" for s in run[side]["epoch_seconds"])
            lines.append(f"- {name}, {precision}: {seconds}")
    found = saved["input"]
    lines += [
        "",
        "## Does the input pipeline keep the GPU busy?",
        "",
        f"The Trainer's input pipeline alone: {found['images_per_s']:,.1f} images/s once warm "
        f"({found['first_pass_images_per_s']:,.1f} on the first pass, decoding). "
        f"{saved['verdict']['text']} GPU utilization: {saved['utilization']}.",
        "",
    ]
    return lines


def markdown(saved: dict[str, Any] | None) -> str:
    """docs/benchmarks-gpu.md from a results file's content; None: no GPU run yet."""
    lines = ["# GPU benchmark: the Trainer against plain Keras on one GPU", ""]
    if saved is None:
        lines += [
            "**GPU figures are still to come: no GPU has been available; run `make bench-gpu` "
            "on a machine with one.**",
            "",
            *method(GPU_TRAINING, DEFAULT_SIZE),
            "",
        ]
    else:
        lines += [*results_section(saved), *method(saved["settings"], saved["size"]), ""]
    return "\n".join(lines)


def write_doc(saved: dict[str, Any] | None, docs_dir: str) -> str:
    os.makedirs(docs_dir, exist_ok=True)
    path = os.path.join(docs_dir, DOC_NAME)
    with open(path, "w") as f:
        f.write(markdown(saved))
    return path


def write_results(saved: dict[str, Any], results_path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(results_path)), exist_ok=True)
    with open(results_path, "w") as f:
        json.dump(saved, f, indent=2)
        f.write("\n")


# --- the command line -------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.gpu", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="demo images to generate")
    for name in ADJUSTABLE:
        parser.add_argument(
            _flag(name), type=int, default=GPU_TRAINING[name], help=TRAINING_SETTINGS[name].help
        )
    parser.add_argument("--results", default=DEFAULT_RESULTS, help="the measurements, as JSON")
    parser.add_argument("--docs", default="docs", help=f"folder for {DOC_NAME}")
    parser.add_argument(
        "--work", help="scratch folder for data, runs and logs (default: a temporary one)"
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="measure nothing: write the page again from --results (none: GPU figures to come)",
    )
    parser.add_argument(
        "--allow-cpu",
        action="store_true",
        help="run without a GPU, to try the script: the figures say nothing of a GPU",
    )
    # A worker's own arguments (the parent passes them; not for people).
    parser.add_argument("--worker", choices=("input", "plain"), help=argparse.SUPPRESS)
    parser.add_argument("--examples", help=argparse.SUPPRESS)
    parser.add_argument("--transform-graph", help=argparse.SUPPRESS)
    parser.add_argument("--precision", choices=tuple(PRECISIONS), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser


def refuse(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return exit_codes.BAD_INPUT


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = training_settings({name: getattr(args, name) for name in ADJUSTABLE})
    except ValueError as e:
        return refuse(str(e))
    if args.worker:
        return worker_main(args, settings)
    if args.report_only:
        saved = common.read_results(args.results)
        path = write_doc(saved, args.docs)
        source = args.results if saved else f"no results ({args.results} is missing)"
        print(f"Wrote {path} from {source}")
        return exit_codes.SUCCESS
    if args.size < common.SMALLEST_SIZE:
        return refuse(f"--size must be at least {common.SMALLEST_SIZE} images, got {args.size}")
    gpus = visible_gpus()
    if not gpus and not args.allow_cpu:
        return refuse(
            "no GPU visible to TensorFlow: run make bench-gpu on a machine with one "
            "(--allow-cpu tries the script on a CPU, with figures that say nothing of a GPU)"
        )
    if len(gpus) > 1:
        print(
            f"warning: {len(gpus)} GPUs visible; the Trainer uses them all, plain Keras one. "
            "Compare on one: CUDA_VISIBLE_DEVICES=0 make bench-gpu",
            flush=True,
        )
    raw = argv if argv is not None else sys.argv[1:]
    command = common.command("bench-gpu", ["python", "-m", "bench.gpu", *raw])
    return run(args, settings, gpus, command)


def run(args: argparse.Namespace, settings: dict[str, Any], gpus: list[str], command: str) -> int:
    """Measures, writes the results and the page; keeps the work folder (its logs) on failure."""
    work = args.work or tempfile.mkdtemp(prefix="bench-gpu-")
    os.makedirs(work, exist_ok=True)
    try:
        saved = results_file(measure(args.size, settings, work, gpus), settings, gpus, command)
    except BaseException:
        print(f"Stopped; the runs' logs are in {work}", file=sys.stderr)
        raise
    write_results(saved, args.results)
    path = write_doc(saved, args.docs)
    print(saved["verdict"]["text"])
    print(f"Wrote {args.results} and {path} ({saved['seconds']} s in all)")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return exit_codes.SUCCESS


if __name__ == "__main__":
    sys.exit(main())
