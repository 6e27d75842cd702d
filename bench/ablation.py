"""`make ablation`: does the pretrained backbone beat scratch, and does each regularizer help?

Trains the Trainer's own model with its own two-phase `train()`, strategy plan and augmentation
on the demo data, once per variant and seed: from scratch, feature extraction, fine-tuning with
every regularizer on, and fine-tuning with each regularizer removed in turn. Writes a table
(validation accuracy, train-validation gap, epochs) to docs/ablation.md, the numbers to
docs/ablation.json and a chart to docs/ablation.png.

Not a TFX run: the images are decoded and standardized in memory as Transform does (same
decode-and-resize, per-channel statistics of the training split), so the runs differ only in
what is being compared, and seven variants take minutes instead of seven pipeline runs.

    python -m bench.ablation [--seeds 1,2] [--variants scratch,fine-tuning] [--out docs]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf
import tf_keras as keras

from bench import common
from components.common import plots, tracing
from components.trainer import fine_tuning, training
from components.trainer.model import build_model
from components.trainer.training_config import TrainingConfig
from components.transform.augmentation_spec import AugmentationSpec
from components.transform.preprocessing import channel_stats, decode_and_resize
from pipeline import demo_data
from pipeline.config import DEFAULT_PRETRAINED_DIR, weights_filename
from pipeline.settings import PRETRAINED_DIR, add_setting

# Augmentation is Transform's (not a training setting): a variant may replace its spec.
AUGMENTATION = "augmentation"
# name -> (what it is, the settings that differ from the Trainer's defaults)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "scratch": ("random initialisation, the whole network trains", {"weights": "none"}),
    "feature extraction": (
        "pretrained base frozen, the head trains",
        {"strategy": "feature_extraction"},
    ),
    # The reference: the Trainer as `make local` runs it, every setting at its default.
    "fine-tuning": (
        "the Trainer's defaults (auto: the head, then the whole base); every regularizer on",
        {},
    ),
    "fine-tuning - augmentation": (
        "no random flip/rotation/shift/zoom/noise",
        {AUGMENTATION: AugmentationSpec.off()},
    ),
    "fine-tuning - dropout": ("no dropout before the classifier", {"dropout": 0.0}),
    "fine-tuning - weight decay": ("no L2 penalty on the head", {"weight_decay": 0.0}),
    "fine-tuning - early stopping": (
        "every epoch runs, the last weights stay (phase 2's unchecked against the head's)",
        {"early_stopping": False},
    ),
}


@dataclass(frozen=True)
class Dataset:
    """The demo split held in memory: standardized images and integer labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray
    class_names: tuple[str, ...]


def decode_images(encoded: list[bytes], image_size: int) -> np.ndarray:
    """Encoded images -> float32 [n, s, s, 3], through the pipeline's own decode-and-resize."""
    batches = [
        decode_and_resize(tf.constant(encoded[i : i + 256]), image_size).numpy()
        for i in range(0, len(encoded), 256)
    ]
    return np.concatenate(batches)


def demo_split(per_class: int, image_size: int, seed: int = 0, eval_every: int = 5) -> Dataset:
    """The demo images (as `make demo-data` draws them); every `eval_every`-th one is held out."""
    encoded, labels, held_out = [], [], []
    for label, shape in enumerate(demo_data.CLASSES):
        for n in range(per_class):
            encoded.append(demo_data.render(shape, label, n, seed)[1])
            labels.append(label)
            held_out.append(n % eval_every == 0)
    images = decode_images(encoded, image_size)
    labels_array, is_eval = np.array(labels, dtype=np.int64), np.array(held_out)
    mean, std = channel_stats(images[~is_eval])  # the training split's, as Transform computes
    images = ((images - mean) / std).astype(np.float32)
    return Dataset(
        images[~is_eval],
        labels_array[~is_eval],
        images[is_eval],
        labels_array[is_eval],
        tuple(demo_data.CLASSES),
    )


def variant_config(base: TrainingConfig, name: str, seed: int) -> TrainingConfig:
    """The base config with the variant's changes: scratch trains for `epochs`, as a
    `make local WEIGHTS=none` run does."""
    overrides = {k: v for k, v in VARIANTS[name][1].items() if k != AUGMENTATION}
    return dataclasses.replace(base, seed=seed, **overrides)


def variant_augmentation(name: str) -> AugmentationSpec:
    """The augmentation the variant trains with: the default spec unless it replaces it."""
    return VARIANTS[name][1].get(AUGMENTATION, AugmentationSpec())


def run_variant(name: str, data: Dataset, base: TrainingConfig, seed: int) -> dict[str, Any]:
    """Trains one variant; accuracy on the clean training split and on the held-out split."""
    tracing.leave_libraries_unconverted()
    config = variant_config(base, name, seed)
    keras.utils.set_random_seed(seed)
    examples = tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train))
    training_data = training.TrainingData.from_training_split(
        examples,
        len(data.y_train),
        config.batch_size,
        variant_augmentation(name),
        seed,
        cache=False,
    )
    eval_data = tf.data.Dataset.from_tensor_slices((data.x_eval, data.y_eval)).batch(256)
    clean_train = examples.batch(256)

    started = time.monotonic()
    plan = fine_tuning.choose_strategy(config, len(data.y_train), len(data.class_names))
    config, _ = training.resolve_feature_layer(config, training_data, len(data.class_names))
    model = build_model(config, len(data.class_names), training_data.steps_per_epoch)
    record = training.train(model, training_data, config, plan)
    seconds = time.monotonic() - started
    _, train_accuracy = model.evaluate(clean_train, verbose=0)
    val_loss, val_accuracy = model.evaluate(eval_data, verbose=0)
    return {
        "variant": name,
        "seed": seed,
        "val_accuracy": round(float(val_accuracy), 4),
        "val_loss": round(float(val_loss), 4),
        "train_accuracy": round(float(train_accuracy), 4),
        "gap": round(float(train_accuracy - val_accuracy), 4),
        "epochs_run": record.epochs_run,
        "kept_epoch": record.best_epoch(),
        "seconds": round(seconds, 1),
    }


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per variant, in VARIANTS order: medians over seeds, and the accuracy range."""
    rows = []
    for name in VARIANTS:
        mine = [run for run in runs if run["variant"] == name]
        if not mine:
            continue
        accuracies = [run["val_accuracy"] for run in mine]
        rows.append(
            {
                "variant": name,
                "what": VARIANTS[name][0],
                "seeds": len(mine),
                "val_accuracy": statistics.median(accuracies),
                "val_accuracy_min": min(accuracies),
                "val_accuracy_max": max(accuracies),
                "val_loss": statistics.median(run["val_loss"] for run in mine),
                "train_accuracy": statistics.median(run["train_accuracy"] for run in mine),
                "gap": statistics.median(run["gap"] for run in mine),
                "epochs_run": statistics.median(run["epochs_run"] for run in mine),
                "kept_epoch": statistics.median(run["kept_epoch"] for run in mine),
            }
        )
    return rows


def _noise(a: dict[str, Any], b: dict[str, Any], eval_images: int) -> float:
    """How far apart two accuracies must be to count: two held-out images, or the wider of
    the two variants' spreads over seeds if that is more."""
    spreads = [row["val_accuracy_max"] - row["val_accuracy_min"] for row in (a, b)]
    return max(2 / eval_images, *spreads)


def _compare(delta: float, noise: float, better: str, worse: str) -> str:
    if abs(delta) <= noise:
        return f"within noise, ±{noise:.3f}"
    return better if delta > 0 else worse


def findings(rows: list[dict[str, Any]], eval_images: int) -> list[str]:
    """The comparisons the ablation exists for, in words, computed from the rows (so they are
    true of whatever this run measured, not of what was hoped)."""
    by_name = {row["variant"]: row for row in rows}
    lines = []
    reference = by_name.get("fine-tuning")
    for name in ("feature extraction", "fine-tuning"):
        if name in by_name and "scratch" in by_name:
            delta = by_name[name]["val_accuracy"] - by_name["scratch"]["val_accuracy"]
            verdict = _compare(
                delta,
                _noise(by_name[name], by_name["scratch"], eval_images),
                "pretrained beats scratch",
                "scratch beats pretrained",
            )
            lines.append(f"{name} vs scratch: validation accuracy {delta:+.3f}: {verdict}.")
    if reference is None:
        return lines
    for name, row in by_name.items():
        if not name.startswith("fine-tuning - "):
            continue
        removed = name.removeprefix("fine-tuning - ")
        accuracy = reference["val_accuracy"] - row["val_accuracy"]
        gap = row["gap"] - reference["gap"]
        noise = _noise(reference, row, eval_images)
        lines.append(
            f"{removed}: with it, validation accuracy {accuracy:+.3f} "
            f"({_compare(accuracy, noise, 'it helped', 'it hurt')}) and the train-validation "
            f"gap {-gap:+.3f} ({_compare(gap, noise, 'narrower with it', 'wider with it')})."
        )
    return lines


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| variant | what | val accuracy (median) | range over seeds | val loss | train accuracy "
        "| train - val gap | epochs run | epoch kept |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['variant']} | {row['what']} | {row['val_accuracy']:.3f} "
            f"| {row['val_accuracy_min']:.3f}-{row['val_accuracy_max']:.3f} "
            f"| {row['val_loss']:.3f} | {row['train_accuracy']:.3f} | {row['gap']:+.3f} "
            f"| {row['epochs_run']:g} | {row['kept_epoch']:g} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: str) -> None:
    """Validation accuracy (with the seeds' range) beside the train-validation gap."""
    plt = plots.pyplot()
    names = [row["variant"] for row in rows]
    y = np.arange(len(rows))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 0.5 * len(rows) + 1.5), sharey=True)
    accuracy = np.array([row["val_accuracy"] for row in rows])
    spread = np.array(
        [
            accuracy - [row["val_accuracy_min"] for row in rows],
            [row["val_accuracy_max"] for row in rows] - accuracy,
        ]
    )
    left.barh(y, accuracy, xerr=spread, color="tab:blue")
    left.set_xlim(0, 1)
    left.set_xlabel("validation accuracy (median, range over seeds)")
    right.barh(y, [row["gap"] for row in rows], color="tab:orange")
    right.set_xlabel("train accuracy - validation accuracy (lower: less overfitting)")
    left.set_yticks(y, names)
    left.invert_yaxis()
    fig.tight_layout()
    plots.save_png(fig, path)


def write_report(
    out_dir: str, rows: list[dict[str, Any]], runs: list[dict[str, Any]], facts: dict[str, Any]
) -> str:
    """docs/ablation.{md,json,png}; returns the Markdown path."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "ablation.json"), "w") as f:
        json.dump({"facts": facts, "summary": rows, "runs": runs}, f, indent=2)
    plot(rows, os.path.join(out_dir, "ablation.png"))
    path = os.path.join(out_dir, "ablation.md")
    with open(path, "w") as f:
        f.write(
            "# Ablation: transfer learning and regularization on the demo data\n\n"
            f"Made by `{facts['command']}` on {facts['machine']}, in {facts['minutes']:.0f} "
            f"minutes ({facts['date']}).\n\n"
            f"Data: the demo's {len(facts['classes'])} classes ({', '.join(facts['classes'])}), "
            f"{facts['train_images']} training and {facts['eval_images']} held-out images "
            f"at {facts['image_size']} px. Backbone: {facts['backbone']} from "
            f"`{facts['weights']}`. Seeds: {facts['seeds']}. Every other setting is the "
            "Trainer's default (see docs/training.md), scratch's epoch budget included.\n\n"
            f"{markdown_table(rows)}\n\n![ablation](ablation.png)\n\n"
            "Train accuracy is measured after training, on the training images without "
            "augmentation or dropout, so the gap compares like with like. One held-out image "
            f"is {100 / facts['eval_images']:.1f} accuracy points.\n\n"
            "## What it shows\n\n"
            "Computed from the table by `bench/ablation.py`; a difference counts only if it "
            "exceeds two held-out images or the variants' spread over seeds:\n\n"
            + "".join(f"- {line}\n" for line in findings(rows, facts["eval_images"]))
        )
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ablation", description=__doc__.split("\n\n")[0]
    )
    add_setting(parser, "pretrained_dir", PRETRAINED_DIR, os.environ, DEFAULT_PRETRAINED_DIR)
    parser.add_argument("--weights", help="a weights file (default: the pretrained backbone)")
    parser.add_argument("--out", default="docs", help="folder for ablation.md/.json/.png")
    parser.add_argument("--seeds", default="1,2", help="comma-separated training seeds")
    parser.add_argument("--per-class", type=int, default=300, help="demo images per class")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset")
    parser.add_argument("--epochs", type=int, default=TrainingConfig.epochs)
    parser.add_argument("--fine-tune-epochs", type=int, default=TrainingConfig.fine_tune_epochs)
    parser.add_argument("--image-size", type=int, default=TrainingConfig.image_size)
    args = parser.parse_args(argv)
    variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in variants if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    defaults = TrainingConfig()
    weights = args.weights or os.path.join(
        args.pretrained_dir,
        weights_filename(defaults.backbone, defaults.backbone_alpha),
    )
    if not os.path.exists(weights):
        parser.error(f"weights file {weights!r} does not exist (run `make pretrain`)")
    seeds = [int(seed) for seed in args.seeds.split(",")]

    started = time.monotonic()
    data = demo_split(args.per_class, args.image_size)
    base = TrainingConfig(
        image_size=args.image_size,
        weights=weights,
        epochs=args.epochs,
        fine_tune_epochs=args.fine_tune_epochs,
    )
    runs = []
    total = len(variants) * len(seeds)
    for seed in seeds:
        for name in variants:
            run = run_variant(name, data, base, seed)
            runs.append(run)
            print(
                f"[{len(runs)}/{total}] {name:30s} seed {seed}: val accuracy "
                f"{run['val_accuracy']:.3f}, gap {run['gap']:+.3f}, {run['epochs_run']} epochs, "
                f"{run['seconds']:.0f} s",
                flush=True,
            )
    rows = summarize(runs)
    facts = {
        "command": common.command("ablation"),
        "machine": common.machine(len(tf.config.list_physical_devices("GPU"))),
        "minutes": (time.monotonic() - started) / 60,
        "date": time.strftime("%Y-%m-%d"),
        "classes": list(data.class_names),
        "train_images": int(len(data.y_train)),
        "eval_images": int(len(data.y_eval)),
        "image_size": args.image_size,
        "backbone": f"{base.backbone} (alpha {base.backbone_alpha:g})",
        "weights": weights,
        "seeds": seeds,
    }
    path = write_report(args.out, rows, runs, facts)
    print(markdown_table(rows))
    print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
