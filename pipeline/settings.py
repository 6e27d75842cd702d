"""What a user can set: each setting's flag, environment variable, type and help, and how the
given values become typed config fields. The runners and commands build their parsers from here;
defaults come from the config dataclasses, never from here.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from components.evaluator.blessing import Gate
from components.trainer.training_config import HEAD_RATE_FACTOR


def parse_bool(text: str | bool) -> bool:
    """'1', 'true', 'yes', 'on' and '0', 'false', 'no', 'off', any case; anything else fails."""
    if isinstance(text, bool):
        return text
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


@dataclass(frozen=True)
class Setting:
    flag: str
    env: str
    type: Callable[[str], Any]
    help: str


LATEST_SNAPSHOT = Setting(
    "--latest-snapshot",
    "LATEST_SNAPSHOT",
    parse_bool,
    "DATA holds snapshot folders (e.g. 2026-11-22/<class>/<image>); read the last by name",
)
CHECK_DRIFT = Setting(
    "--check-drift",
    "CHECK_DRIFT",
    parse_bool,
    "stop if the data drifted from what trained the served model (false: accept it once)",
)
# Flag, environment variable, type; defaults come from the config dataclasses.
PIPELINE_SETTINGS = {
    "data_root": Setting("--data", "DATA", str, "image folder: <class>/<image> (or TFRecords)"),
    "pipeline_root": Setting("--pipeline-root", "PIPELINE_ROOT", str, "where TFX writes artifacts"),
    "serving_dir": Setting("--serving-dir", "SERVING_DIR", str, "where blessed models are pushed"),
    "metadata_path": Setting("--metadata", "METADATA_PATH", str, "ML Metadata SQLite file"),
    "eval_percent": Setting("--eval-percent", "EVAL_PERCENT", int, "share of files for evaluation"),
    "max_bad_file_fraction": Setting(
        "--max-bad-files", "MAX_BAD_FILES", float, "fail if more undecodable files than this"
    ),
    "check_drift": CHECK_DRIFT,
    "tune": Setting(
        "--tune", "TUNE", parse_bool, "add the Tuner stage before the Trainer (off by default)"
    ),
    "tuner_trials": Setting("--tuner-trials", "TUNER_TRIALS", int, "trials the Tuner runs"),
    "latest_snapshot": LATEST_SNAPSHOT,
}
PATH_SETTINGS = ("data_root", "pipeline_root", "serving_dir", "metadata_path")
TRAINING_SETTINGS = {
    "image_size": Setting("--image-size", "IMAGE_SIZE", int, "square input size in pixels"),
    "backbone": Setting(
        "--backbone", "BACKBONE", str, "mobilenet_v2, efficientnet_b0, resnet50_v2, vgg16"
    ),
    "backbone_alpha": Setting("--backbone-alpha", "BACKBONE_ALPHA", float, "MobileNetV2 width"),
    "weights": Setting(
        "--weights", "WEIGHTS", str, "none, imagenet, or a weights file (default: pretrained)"
    ),
    "epochs": Setting("--epochs", "EPOCHS", int, "maximum epochs (early stopping may stop sooner)"),
    "batch_size": Setting("--batch-size", "BATCH_SIZE", int, "training batch size"),
    "learning_rate": Setting(
        "--learning-rate",
        "LEARNING_RATE",
        float,
        f"Adam learning rate of the head ({HEAD_RATE_FACTOR}x on frozen features; everything"
        " from scratch)",
    ),
    "dropout": Setting(
        "--dropout", "DROPOUT", float, "dropout rate in the head (checked on frozen features)"
    ),
    "weight_decay": Setting("--weight-decay", "WEIGHT_DECAY", float, "L2 factor on the head"),
    "weight_decay_mode": Setting(
        "--weight-decay-mode", "WEIGHT_DECAY_MODE", str, "l2 (head penalty) or decoupled (AdamW)"
    ),
    "l1": Setting("--l1", "L1", float, "L1 factor on the head"),
    "l2_sp": Setting("--l2-sp", "L2_SP", float, "pull toward pretrained weights in fine-tuning"),
    "early_stopping": Setting(
        "--early-stopping", "EARLY_STOPPING", parse_bool, "stop on val loss, keep the best epoch"
    ),
    "lr_schedule": Setting("--lr-schedule", "LR_SCHEDULE", str, "constant, plateau or cosine"),
    "label_smoothing": Setting(
        "--label-smoothing", "LABEL_SMOOTHING", float, "soften one-hot targets (0: off)"
    ),
    "early_stopping_patience": Setting(
        "--patience", "PATIENCE", int, "early stopping patience of fine-tuning"
    ),
    "mixed_precision": Setting(
        "--mixed-precision", "MIXED_PRECISION", parse_bool, "float16 compute on GPU"
    ),
    "strategy": Setting(
        "--strategy", "STRATEGY", str, "auto, feature_extraction, partial or full fine-tuning"
    ),
    "domain": Setting(
        "--domain", "DOMAIN", str, "similar or different to the pretraining data (for auto)"
    ),
    "feature_layer": Setting(
        "--feature-layer",
        "FEATURE_LAYER",
        str,
        "where the head reads the backbone: auto (measured), top, or a layer name",
    ),
    "fine_tune_fraction": Setting(
        "--fine-tune-fraction", "FINE_TUNE_FRACTION", float, "top share of layers partial opens"
    ),
    "fine_tune_epochs": Setting(
        "--fine-tune-epochs", "FINE_TUNE_EPOCHS", int, "maximum epochs of phase 2"
    ),
    "fine_tune_learning_rate": Setting(
        "--fine-tune-learning-rate", "FINE_TUNE_LR", float, "learning rate of phase 2"
    ),
    "seed": Setting(
        "--seed", "SEED", int, "random seed of initial weights, shuffling and augmentation"
    ),
}

# Owned by Transform (components/transform/augmentation.py), apart from training's settings.
AUGMENTATION_SETTINGS = {
    "flip": Setting("--augment-flip", "AUGMENT_FLIP", parse_bool, "random horizontal flip"),
    "rotation_degrees": Setting(
        "--augment-rotation", "AUGMENT_ROTATION", float, "max random rotation, degrees"
    ),
    "shift": Setting(
        "--augment-shift", "AUGMENT_SHIFT", float, "max random shift, fraction of size"
    ),
    "zoom": Setting("--augment-zoom", "AUGMENT_ZOOM", float, "max random zoom fraction"),
    "noise_stddev": Setting(
        "--augment-noise", "AUGMENT_NOISE", float, "Gaussian pixel noise std (normalized units)"
    ),
}
# The blessing rule (components/evaluator/blessing.py); the Gate's fields drop "gate_".
GATE_SETTINGS = {
    "gate_metric": Setting(
        "--gate-metric", "GATE_METRIC", str, "accuracy, macro_f1, macro_auc or loss"
    ),
    "gate_floor": Setting(
        "--gate-floor", "GATE_FLOOR", float, "minimum of the gate metric to bless (loss: maximum)"
    ),
    "gate_tolerance": Setting(
        "--gate-tolerance", "GATE_TOLERANCE", float, "allowed worsening vs the served model"
    ),
}


def add_settings(
    parser: argparse.ArgumentParser, settings: Mapping[str, Setting], environ: Mapping[str, str]
) -> None:
    """A flag per setting, its environment variable the fallback; unset stays None, so the
    config dataclasses' defaults apply."""
    for name, setting in settings.items():
        parser.add_argument(
            setting.flag,
            dest=name,
            type=setting.type,
            default=environ.get(setting.env) or None,
            help=f"{setting.help} (env {setting.env})",
        )


def typed_settings(given: dict, settings: dict[str, Setting]) -> dict:
    """The given values of `settings`, converted to each setting's type."""
    return {name: setting.type(given[name]) for name, setting in settings.items() if name in given}


def gate_config(given: dict) -> Gate:
    """The gate from the given settings; a loss gate without a floor has no usable default."""
    settings = {
        name.removeprefix("gate_"): v for name, v in typed_settings(given, GATE_SETTINGS).items()
    }
    if settings.get("metric") == "loss" and "floor" not in settings:
        raise ValueError("a loss gate needs a ceiling: pass --gate-floor or GATE_FLOOR")
    return Gate(**settings)
