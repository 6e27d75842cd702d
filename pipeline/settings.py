"""What a user can set: each setting's flag, environment variable, type and help, and how the
given values become typed config fields. The runners and commands build their parsers from here;
defaults come from the config dataclasses, never from here.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from components.evaluator.blessing import Gate
from components.trainer.training_config import HEAD_RATE_FACTOR, PretrainConfig, TrainingConfig
from components.transform.augmentation_spec import AugmentationSpec
from pipeline import exit_codes
from pipeline.beam_runners import BeamSettings
from pipeline.config import (
    DEFAULT_OUTPUTS,
    DEFAULT_PRETRAINED_DIR,
    IMAGE_SCHEMA,
    DeploySettings,
    PipelineConfig,
    TrainerResources,
)


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
    """One setting: its flag, environment variable, type and meaning. Its default is the field
    of the config dataclass it fills; `shown_default` says it in the docs where no field does."""

    flag: str
    env: str
    type: Callable[[str], Any]
    help: str
    shown_default: str | None = None

    @property
    def described(self) -> str:
        """Its help in a parser: the meaning, and the variable that sets it too."""
        return f"{self.help} (env {self.env})"


LATEST_SNAPSHOT = Setting(
    "--latest-snapshot",
    "LATEST_SNAPSHOT",
    parse_bool,
    "DATA holds snapshot folders named by date or number (e.g. 2026-11-22/<class>/<image>); "
    "each run reads the latest (docs/running.md, Snapshots)",
)
CHECK_DRIFT = Setting(
    "--check-drift",
    "CHECK_DRIFT",
    parse_bool,
    "stop when the data drifted from what trained the served model (docs/running.md, Drift); "
    "false accepts a deliberate change",
)
ACCEPT_CLASS_CHANGE = Setting(
    "--accept-class-change",
    "ACCEPT_CLASS_CHANGE",
    parse_bool,
    "train although the classes differ from the served version's (added, removed, renamed); "
    "the candidate is judged by the floor alone (docs/running.md, Changing the classes)",
)
# What a run checks and does, the same locally and on a cluster (`make local`, `make compile`);
# defaults from PipelineConfig.
RUN_SETTINGS = {
    "eval_percent": Setting("--eval-percent", "EVAL_PERCENT", int, "share of files for evaluation"),
    "max_bad_file_fraction": Setting(
        "--max-bad-files",
        "MAX_BAD_FILES",
        float,
        "fail above this fraction of undecodable files (they are skipped and reported below it)",
    ),
    "max_megapixels": Setting(
        "--max-megapixels",
        "MAX_MEGAPIXELS",
        float,
        "larger images are skipped at ingestion and refused by serving, before decoding",
    ),
    "check_drift": CHECK_DRIFT,
    "accept_class_change": ACCEPT_CLASS_CHANGE,
    "tune": Setting(
        "--tune",
        "TUNE",
        parse_bool,
        "add the Tuner stage before the Trainer (docs/training.md, Tuning)",
    ),
    "tuner_trials": Setting(
        "--tuner-trials",
        "TUNER_TRIALS",
        int,
        "trials the Tuner runs, each a whole two-phase training",
    ),
    "latest_snapshot": LATEST_SNAPSHOT,
}
# `make local`'s data and outputs, and the run; defaults from PipelineConfig.
PIPELINE_SETTINGS = {
    "data_root": Setting(
        "--data",
        "DATA",
        str,
        "image folder, <class>/<image> (or a TFRecord folder)",
        "`data/demo` with make, else required",
    ),
    "pipeline_root": Setting(
        "--pipeline-root", "PIPELINE_ROOT", str, "TFX artifacts", "`<outputs>/pipeline`"
    ),
    "serving_dir": Setting(
        "--serving-dir",
        "SERVING_DIR",
        str,
        "where blessed models are pushed",
        "`<outputs>/serving`",
    ),
    "metadata_path": Setting(
        "--metadata",
        "METADATA_PATH",
        str,
        "ML Metadata SQLite file",
        "`<pipeline root>/metadata.sqlite`",
    ),
    **RUN_SETTINGS,
}
PATH_SETTINGS = ("data_root", "pipeline_root", "serving_dir", "metadata_path")
# Read by the local runner itself, not by a config dataclass.
OUTPUTS = Setting(
    "--outputs",
    "OUTPUTS",
    str,
    "where summaries, logs and (by default) everything else go",
    f"`{DEFAULT_OUTPUTS}`",
)
PRETRAINED_DIR = Setting(
    "--pretrained-dir",
    "PRETRAINED_DIR",
    str,
    "where `make pretrain` writes backbone weights and `make local` looks for them when WEIGHTS "
    "is not given",
    f"`{DEFAULT_PRETRAINED_DIR}`",
)
REQUIRE_PUSH = Setting(
    "--require-push",
    "REQUIRE_PUSH",
    parse_bool,
    f"exit with status {exit_codes.NOT_PUSHED} when the run pushes no model (not blessed, or "
    "already pushed): for CI jobs that must deliver one",
    "false",
)
TENSORBOARD_PORT = Setting(
    "--port", "TENSORBOARD_PORT", int, "where `make tensorboard` serves (on localhost)", "6006"
)
TRAINING_SETTINGS = {
    "image_size": Setting("--image-size", "IMAGE_SIZE", int, "square input size in pixels"),
    "backbone": Setting(
        "--backbone", "BACKBONE", str, "mobilenet_v2, efficientnet_b0, resnet50_v2 or vgg16"
    ),
    "backbone_alpha": Setting(
        "--backbone-alpha", "BACKBONE_ALPHA", float, "MobileNetV2 width multiplier"
    ),
    "weights": Setting(
        "--weights",
        "WEIGHTS",
        str,
        "none (from scratch), imagenet (needs network), or a weights file or SavedModel folder "
        "(docs/pretraining.md)",
        "the `make pretrain` backbone",
    ),
    "epochs": Setting(
        "--epochs",
        "EPOCHS",
        int,
        "maximum epochs over images from scratch; early stopping may stop sooner (the head on a "
        "pretrained backbone trains on cached features until it converges)",
    ),
    "batch_size": Setting("--batch-size", "BATCH_SIZE", int, "training batch size"),
    "learning_rate": Setting(
        "--learning-rate",
        "LEARNING_RATE",
        float,
        "learning rate of the head in fine-tuning (of everything, from scratch); the head on "
        f"frozen features trains at {HEAD_RATE_FACTOR}x",
    ),
    "dropout": Setting(
        "--dropout",
        "DROPOUT",
        float,
        "dropout before the classification layer (checked on the frozen features)",
    ),
    "weight_decay": Setting(
        "--weight-decay", "WEIGHT_DECAY", float, "weight decay factor (see WEIGHT_DECAY_MODE)"
    ),
    "weight_decay_mode": Setting(
        "--weight-decay-mode",
        "WEIGHT_DECAY_MODE",
        str,
        "l2: an L2 penalty on the classification layer; decoupled: AdamW's decay of every "
        "trained weight",
    ),
    "l1": Setting("--l1", "L1", float, "L1 penalty on the classification layer"),
    "l2_sp": Setting(
        "--l2-sp",
        "L2_SP",
        float,
        "L2-SP: in fine-tuning, a penalty on the squared distance from the pretrained weights",
    ),
    "early_stopping": Setting(
        "--early-stopping",
        "EARLY_STOPPING",
        parse_bool,
        "stop a phase when validation loss stops falling and keep its best epoch; false runs "
        "every epoch and keeps the last",
    ),
    "lr_schedule": Setting(
        "--lr-schedule",
        "LR_SCHEDULE",
        str,
        "plateau (halve when validation loss stalls), cosine (decay over each phase) or constant",
    ),
    "label_smoothing": Setting(
        "--label-smoothing",
        "LABEL_SMOOTHING",
        float,
        "soften the one-hot targets: 1 - s + s/K on the true class, s/K on the others (0: off)",
    ),
    "early_stopping_patience": Setting(
        "--patience",
        "PATIENCE",
        int,
        "early-stopping patience of fine-tuning, in epochs without a lower validation loss",
    ),
    "mixed_precision": Setting(
        "--mixed-precision",
        "MIXED_PRECISION",
        parse_bool,
        "float16 compute on GPUs (ignored on a CPU)",
    ),
    "cache_budget_gb": Setting(
        "--cache-budget-gb",
        "CACHE_BUDGET_GB",
        float,
        "memory, in GB, for the training split's decoded images, kept after the first epoch; "
        "a larger split is decoded again every epoch instead (0: never kept)",
    ),
    "strategy": Setting(
        "--strategy",
        "STRATEGY",
        str,
        "feature_extraction, partial or full fine-tuning, or auto: measured on the validation "
        "part (docs/training.md, Choosing the strategy)",
    ),
    "domain": Setting(
        "--domain",
        "DOMAIN",
        str,
        "similar or different to the backbone's pretraining data: how deep auto fine-tunes "
        "(similar: partial, different: full) before measuring it against the head alone",
    ),
    "feature_layer": Setting(
        "--feature-layer",
        "FEATURE_LAYER",
        str,
        "where the head reads a pretrained backbone: auto (each stage's start and the output, "
        "measured by a head on the validation part), top (the whole backbone), or a layer name",
    ),
    "fine_tune_fraction": Setting(
        "--fine-tune-fraction",
        "FINE_TUNE_FRACTION",
        float,
        "top share of the backbone's layers (below the FEATURE_LAYER cut) that partial unfreezes",
    ),
    "fine_tune_epochs": Setting(
        "--fine-tune-epochs",
        "FINE_TUNE_EPOCHS",
        int,
        "maximum epochs of phase 2, which stops early on validation loss (0: no fine-tuning)",
    ),
    "fine_tune_learning_rate": Setting(
        "--fine-tune-learning-rate",
        "FINE_TUNE_LR",
        float,
        "learning rate of the backbone in phase 2 (the head keeps LEARNING_RATE)",
    ),
    "seed": Setting(
        "--seed", "SEED", int, "random seed of the initial weights, shuffling and augmentation"
    ),
}

# `make pretrain`; defaults from PretrainConfig. BACKBONE and BACKBONE_ALPHA are `make local`'s
# own, so one variable pretrains what a run will load.
PRETRAIN_SETTINGS = {
    "backbone": TRAINING_SETTINGS["backbone"],
    "backbone_alpha": TRAINING_SETTINGS["backbone_alpha"],
    "image_size": Setting(
        "--image-size", "PRETRAIN_IMAGE_SIZE", int, "the source images' size in pixels"
    ),
    "per_class": Setting(
        "--per-class", "PRETRAIN_PER_CLASS", int, "generated source images per shape class"
    ),
    "epochs": Setting("--epochs", "PRETRAIN_EPOCHS", int, "epochs on the source task"),
}
# Owned by Transform (components/transform/augmentation_spec.py), apart from training's settings.
AUGMENTATION_SETTINGS = {
    "flip": Setting(
        "--augment-flip",
        "AUGMENT_FLIP",
        parse_bool,
        "random horizontal flip of training images (checked on each data set's validation part)",
    ),
    "rotation_degrees": Setting(
        "--augment-rotation", "AUGMENT_ROTATION", float, "maximum random rotation, degrees"
    ),
    "shift": Setting(
        "--augment-shift",
        "AUGMENT_SHIFT",
        float,
        "maximum random shift, fraction of width and height",
    ),
    "zoom": Setting("--augment-zoom", "AUGMENT_ZOOM", float, "maximum random zoom in or out"),
    "noise_stddev": Setting(
        "--augment-noise",
        "AUGMENT_NOISE",
        float,
        "std of Gaussian pixel noise, in normalized units (0: off)",
    ),
}
# The blessing rule (components/evaluator/blessing.py); the Gate's fields drop "gate_".
GATE_SETTINGS = {
    "gate_metric": Setting(
        "--gate-metric",
        "GATE_METRIC",
        str,
        "what the gate judges by: accuracy, macro_f1, macro_auc or loss",
    ),
    "gate_floor": Setting(
        "--gate-floor",
        "GATE_FLOOR",
        float,
        "minimum of the gate metric to bless (for loss, the maximum; then required)",
    ),
    "gate_tolerance": Setting(
        "--gate-tolerance",
        "GATE_TOLERANCE",
        float,
        "allowed worsening against the served model, in the metric's units",
    ),
}

# `make compile`: where the pipeline runs on a cluster.
# Transfer learning needs pretrained weights; a cluster's Trainer pod can usually download
# Keras' ImageNet weights (the local default, `make pretrain`'s file, is not in the image).
CLUSTER_WEIGHTS = "imagenet"
REQUIRED_TO_COMPILE = ("image", "data_root", "serving_dir")
# GKE and the NVIDIA GPU operator taint GPU nodes nvidia.com/gpu (NoSchedule).
DEFAULT_TOLERATIONS = "nvidia.com/gpu:NoSchedule"
CLUSTER_SETTINGS = {
    "image": Setting("--image", "IMAGE", str, "the pipeline image every step runs in", "required"),
    "data_root": Setting(
        "--data",
        "DATA",
        str,
        "image folder on the cluster's storage (the data_root run parameter's default)",
        "required",
    ),
    "serving_dir": Setting(
        "--serving-dir",
        "SERVING_DIR",
        str,
        "push destination on the cluster's storage: the model registry's folder",
        "required",
    ),
    "schema_path": Setting(
        "--schema",
        "SCHEMA",
        str,
        "curated schema, inside the image",
        f"`{IMAGE_SCHEMA}`",
    ),
    "input_format": Setting("--input-format", "INPUT_FORMAT", str, "images or tfrecord"),
    **RUN_SETTINGS,
    "pipeline_name": Setting("--pipeline-name", "PIPELINE_NAME", str, "name on the cluster"),
}
RESOURCE_SETTINGS = {
    "gpus": Setting(
        "--gpus", "GPUS", int, "GPUs for the Trainer (0: CPU only); no other step asks for one"
    ),
    "gpu_resource": Setting(
        "--gpu-resource", "GPU_RESOURCE", str, "the Kubernetes resource name of the GPU"
    ),
    "cpu": Setting("--trainer-cpu", "TRAINER_CPU", float, "the Trainer's CPU limit, in cores"),
    "memory_gb": Setting(
        "--trainer-memory", "TRAINER_MEMORY", float, "the Trainer's memory limit, in GB"
    ),
}
BEAM_SETTINGS = {
    "runner": Setting(
        "--beam-runner",
        "BEAM_RUNNER",
        str,
        "where the data steps run Beam: direct (in the step's pod, a process per core), "
        "dataflow, flink or spark",
    ),
    "project": Setting("--beam-project", "BEAM_PROJECT", str, "Dataflow: the GCP project"),
    "region": Setting("--beam-region", "BEAM_REGION", str, "Dataflow: the region"),
    "temp_location": Setting(
        "--beam-temp", "BEAM_TEMP", str, "Dataflow: a gs:// folder for temporary files"
    ),
    "job_endpoint": Setting(
        "--beam-job-endpoint",
        "BEAM_JOB_ENDPOINT",
        str,
        "Flink or Spark: the Beam job server, host:port (required for them)",
    ),
    "worker_pool": Setting(
        "--beam-worker-pool",
        "BEAM_WORKER_POOL",
        str,
        "Flink or Spark: the worker pool (a sidecar running IMAGE with --worker_pool)",
    ),
    "extra_args": Setting("--beam-args", "BEAM_ARGS", str, "any other Beam options, shell-quoted"),
}
PLACEMENT_SETTINGS = {
    "node_selector": Setting(
        "--node-selector",
        "NODE_SELECTOR",
        str,
        "node labels the Trainer needs, key=value,... (e.g. "
        "cloud.google.com/gke-accelerator=nvidia-l4)",
        "none",
    ),
    "tolerations": Setting(
        "--tolerations",
        "TOLERATIONS",
        str,
        "taints the Trainer tolerates, kubectl's key[=value]:Effect,... (none when GPUS=0)",
        f"`{DEFAULT_TOLERATIONS}`",
    ),
}

# `make deploy`, `make schedule`, `make unschedule`; defaults from DeploySettings.
DEPLOY_SETTINGS = {
    "host": Setting(
        "--host", "KFP_HOST", str, "the KFP API endpoint (a KFP v2 backend)", "required"
    ),
    "package": Setting("--package", "PACKAGE", str, "the compiled pipeline to upload"),
    "pipeline_name": Setting(
        "--pipeline-name", "PIPELINE_NAME", str, "the pipeline each upload is a new version of"
    ),
    "experiment": Setting("--experiment", "EXPERIMENT", str, "the experiment runs go in"),
    "version": Setting(
        "--version",
        "VERSION_NAME",
        str,
        "the uploaded version's name",
        "the code version and the time",
    ),
    "cron": Setting(
        "--cron", "CRON", str, "when the recurring run starts: KFP's cron, 6 fields, seconds first"
    ),
    "service_account": Setting(
        "--service-account",
        "SERVICE_ACCOUNT",
        str,
        "the Kubernetes service account the run's pods use; give it storage access through "
        "workload identity",
        "KFP's `pipeline-runner`",
    ),
    "pipeline_root": Setting(
        "--pipeline-root",
        "PIPELINE_ROOT",
        str,
        "the runs' artifact root",
        "the namespace's `kfp-launcher` default",
    ),
    "run_params": Setting(
        "--run-params",
        "RUN_PARAMS",
        str,
        "run parameters as a JSON object; training settings may be just the ones to change",
        "the compiled ones",
    ),
    "namespace": Setting(
        "--namespace",
        "KFP_NAMESPACE",
        str,
        "multi-user Kubeflow: the profile namespace the pipeline, experiment and runs go in",
        "none (single-user)",
    ),
    "token_file": Setting(
        "--token-file",
        "KFP_TOKEN_FILE",
        str,
        "a file holding a bearer token for the KFP API",
        "in a pod, the KFP service account token Kubeflow mounts; else none",
    ),
    "ca_cert": Setting(
        "--ca-cert",
        "KFP_CA_CERT",
        str,
        "a CA bundle to verify the KFP API's TLS certificate by",
        "the system's",
    ),
}
# `make models`, `make rollback VERSION=n`, `make predict`: the registry they read.
MODELS_SETTINGS = {
    "serving_dir": Setting(
        "--serving-dir",
        "SERVING_DIR",
        str,
        "the push destination: the model registry's folder",
        "`<outputs>/serving`",
    ),
    "outputs": OUTPUTS,
}
# `make predict FILE=...`: what to ask and how to answer (besides MODELS_SETTINGS).
PREDICT_FILES = Setting(
    "PATH ...",
    "FILE",
    str,
    "images to classify: files (any name) and folders (their images, subfolders included)",
    "required",
)
PREDICT_SETTINGS = {
    "version": Setting(
        "--version",
        "VERSION",
        int,
        "the model version to ask (`make models` lists them)",
        "the served one",
    ),
    "top": Setting("--top", "TOP", int, "classes shown per image, most probable first", "3"),
    "json": Setting(
        "--json", "JSON", parse_bool, "one JSON document on standard output, for scripts", "false"
    ),
}


def add_setting(
    parser: argparse.ArgumentParser,
    name: str,
    setting: Setting,
    environ: Mapping[str, str],
    default: Any = None,
) -> None:
    """The setting's flag, its environment variable the fallback, then `default`; None leaves
    the config dataclass's default to apply."""
    parser.add_argument(
        setting.flag,
        dest=name,
        type=setting.type,
        default=environ.get(setting.env) or default,
        help=setting.described,
    )


def add_settings(
    parser: argparse.ArgumentParser, settings: Mapping[str, Setting], environ: Mapping[str, str]
) -> None:
    """A flag per setting (add_setting), each left to its config dataclass's default."""
    for name, setting in settings.items():
        add_setting(parser, name, setting, environ)


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


# docs/settings.md: each command's settings, in groups, with the config dataclass that holds
# their defaults (and the prefix its field names drop).
SETTINGS_DOC = "docs/settings.md"


def _sections() -> dict[str, list[tuple[str, dict[str, Setting], type | None, str]]]:
    local_only = {
        "outputs": OUTPUTS,
        "pretrained_dir": PRETRAINED_DIR,
        "require_push": REQUIRE_PUSH,
    }
    return {
        "`make local` (`image-classifier-local`)": [
            ("Data and outputs", {**PIPELINE_SETTINGS, **local_only}, PipelineConfig, ""),
            ("Training", TRAINING_SETTINGS, TrainingConfig, ""),
            ("Augmentation (Transform)", AUGMENTATION_SETTINGS, AugmentationSpec, ""),
            ("Blessing (Evaluator)", GATE_SETTINGS, Gate, "gate_"),
        ],
        "`make pretrain` (`image-classifier-pretrain`)": [
            (
                "The source task",
                {**PRETRAIN_SETTINGS, "pretrained_dir": PRETRAINED_DIR},
                PretrainConfig,
                "",
            ),
        ],
        "`make compile` (`image-classifier-compile`)": [
            ("Cluster", CLUSTER_SETTINGS, PipelineConfig, ""),
            (
                "The Trainer's pod",
                {**RESOURCE_SETTINGS, **PLACEMENT_SETTINGS},
                TrainerResources,
                "",
            ),
            ("Beam, for the data steps", BEAM_SETTINGS, BeamSettings, ""),
        ],
        "`make deploy`, `make schedule`, `make unschedule` (`image-classifier-deploy`)": [
            ("The cluster and the runs", DEPLOY_SETTINGS, DeploySettings, ""),
        ],
        "`make models`, `make rollback` (`image-classifier-models`)": [
            ("The registry", MODELS_SETTINGS, None, ""),
        ],
        "`make tensorboard`": [
            ("The last run's logs", {"outputs": OUTPUTS, "port": TENSORBOARD_PORT}, None, ""),
        ],
        "`make predict` (`image-classifier-predict`)": [
            ("The images and the answer", {"paths": PREDICT_FILES, **PREDICT_SETTINGS}, None, ""),
            ("The registry", MODELS_SETTINGS, None, ""),
        ],
    }


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f"`{value}`" if value else ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def shown_default(name: str, setting: Setting, holder: type | None, prefix: str) -> str:
    """What the docs give as a setting's default: the holder dataclass field's, unless the
    setting says otherwise."""
    if setting.shown_default is not None:
        return setting.shown_default
    fields = {f.name: f for f in dataclasses.fields(holder)}
    field = fields.get(name.removeprefix(prefix))
    if field is None or field.default is dataclasses.MISSING:
        return ""
    return _shown(field.default)


def markdown() -> str:
    """docs/settings.md, from the tables above and the config dataclasses' defaults."""
    lines = [
        "# Settings",
        "",
        "Generated from `pipeline/settings.py` by `make settings-doc`; a test fails when it is "
        "stale. Every setting is a `make` variable (or environment variable) and a flag of the "
        "command; flags win over variables. Defaults are the config dataclasses' "
        "(`pipeline/config.py`, `components/trainer/training_config.py`, "
        "`components/transform/augmentation_spec.py`, `components/evaluator/blessing.py`, "
        "`pipeline/beam_runners.py`), where the reason for each is written beside it.",
        "",
        "To add a setting: a field with its default in the config dataclass that carries it, a "
        "`Setting` in the matching table of `pipeline/settings.py`, the code that uses it, then "
        "`make settings-doc` ([development.md](development.md#adding-a-setting)).",
    ]
    for command, groups in _sections().items():
        lines += ["", f"## {command}"]
        for title, settings, holder, prefix in groups:
            lines += ["", f"### {title}", "", "| variable | flag | default | meaning |"]
            lines.append("|---|---|---|---|")
            for name, setting in settings.items():
                default = shown_default(name, setting, holder, prefix)
                meaning = setting.help.replace("<", "&lt;")  # <class> is no HTML tag
                lines.append(f"| `{setting.env}` | `{setting.flag}` | {default} | {meaning} |")
    lines += [
        "",
        "`make compile` also takes every training, augmentation and blessing setting of "
        f"`make local`, except that `WEIGHTS` defaults to `{CLUSTER_WEIGHTS}` there: "
        "`make pretrain`'s file is not in the image.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write docs/settings.md from the settings.")
    parser.add_argument("--out", default=SETTINGS_DOC)
    args = parser.parse_args(argv)
    with open(args.out, "w") as f:
        f.write(markdown())
    print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
