"""`make pretrain`: a backbone pretrained on a large generated source task, offline, by TFX.

The seeds' recipe: pre-train on a large, related problem, then fine-tune on the small one. No
ImageNet weights can be downloaded here, so the source problem is generated: eight shape classes
(none of them the demo's four) drawn by the same nuisance generator as the demo data, several
times more images. What the backbone learns there (edges, corners, outlines against texture and
noise) is what the target task needs, which is the point of transfer.

In the pretrained dir (PRETRAINED_DIR), the runner writes the source images once
(`<dir>/source-<n>x<seed>/`), runs the pretraining pipeline (ImageExampleGen -> Transform ->
Trainer, see create_pretrain_pipeline) with LocalDagRunner under `<dir>/pipeline/`, and copies
the backbone weights the Trainer left to `<dir>/<backbone>.weights.h5` (aside, then renamed),
with a JSON record beside it.

    image-classifier-pretrain [--pretrained-dir data/pretrained] [--backbone mobilenet_v2] [--force]

Built once: if the weights file exists, it returns at once (`--force` rebuilds).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import asdict

from components.trainer import TRAINER_NODE_ID
from components.trainer.training_config import PretrainConfig
from pipeline import demo_data, exit_codes
from pipeline.config import (
    CURATED_SCHEMA,
    DEFAULT_PRETRAINED_DIR,
    OutputLayout,
    PretrainPipelineConfig,
    weights_filename,
)
from pipeline.settings import PRETRAIN_SETTINGS, PRETRAINED_DIR, add_setting, add_settings

RECORD_SUFFIX = ".json"


class PretrainError(RuntimeError):
    """The pretraining pipeline did not leave a backbone; the message says where to look."""


def pipeline_config(
    config: PretrainConfig, out_dir: str, enable_cache: bool = True
) -> PretrainPipelineConfig:
    """Where the source images, the pipeline's artifacts and its metadata live under `out_dir`."""
    out_dir = os.path.abspath(out_dir)
    layout = OutputLayout(out_dir)
    return PretrainPipelineConfig(
        source_root=os.path.join(out_dir, f"source-{config.per_class}x{config.seed}"),
        pipeline_root=layout.pipeline_root,
        metadata_path=layout.metadata_path,
        schema_path=str(CURATED_SCHEMA),
        pretrain=config,
        enable_cache=enable_cache,
    )


def write_source_images(config: PretrainPipelineConfig) -> int:
    """Generates the source task's images once (all or nothing); returns how many there are."""
    classes = demo_data.SOURCE_CLASSES
    marker = os.path.join(config.source_root, demo_data.COMPLETE_MARKER)
    if not os.path.exists(marker):
        demo_data.generate(
            config.source_root, config.pretrain.per_class, config.pretrain.seed, classes
        )
    return config.pretrain.per_class * len(classes)


def run_pipeline(config: PretrainPipelineConfig, log_path: str) -> str:
    """Runs the pretraining pipeline; returns the Trainer's model folder (holding the weights)."""
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from tfx.utils import path_utils

    from components.trainer import source_task
    from pipeline.dag import create_pretrain_pipeline
    from pipeline.run import execute
    from pipeline.run import summary as run_summary

    pipeline = create_pretrain_pipeline(config)
    os.makedirs(config.pipeline_root, exist_ok=True)
    started_ms = int(time.time() * 1000)
    with execute.run_logging(log_path, total=len(pipeline.components)):
        try:
            LocalDagRunner().run(pipeline)
        except Exception as e:
            raise PretrainError(f"The pretraining pipeline failed ({e}); see {log_path}") from e
    _, outputs = run_summary.read_run(
        config.metadata_path,
        config.pipeline_name,
        [component.id for component in pipeline.components],
        since_ms=started_ms,
    )
    models = [a for a in outputs.get(TRAINER_NODE_ID, []) if a.type == "Model"]
    if not models:
        raise PretrainError(f"The pretraining Trainer left no model; see {log_path}")
    folder = path_utils.serving_model_dir(models[0].uri)
    if not os.path.exists(os.path.join(folder, source_task.BACKBONE_WEIGHTS_FILE)):
        raise PretrainError(f"No {source_task.BACKBONE_WEIGHTS_FILE} in {folder}; see {log_path}")
    return folder


def publish(model_folder: str, weights_path: str, record: dict) -> None:
    """Copies the weights to `weights_path` (aside, then renamed: an interrupted copy never
    looks finished) and writes the record beside them."""
    from components.trainer import source_task

    folder, name = os.path.split(os.path.abspath(weights_path))
    os.makedirs(folder, exist_ok=True)
    partial = os.path.join(folder, f".partial-{name}")  # same suffix: Keras reads the format by it
    shutil.copyfile(os.path.join(model_folder, source_task.BACKBONE_WEIGHTS_FILE), partial)
    os.replace(partial, weights_path)
    with open(weights_path + RECORD_SUFFIX, "w") as f:
        json.dump(record, f, indent=2)


def pretrain(config: PretrainConfig, out_dir: str, enable_cache: bool = True) -> dict:
    """Builds `<out_dir>/<weights file>` through the pretraining pipeline; returns its record.

    With the cache on, a run interrupted after ingestion or Transform resumes from there.
    """
    from components.trainer import source_task

    started = time.monotonic()
    pipeline = pipeline_config(config, out_dir, enable_cache)
    images = write_source_images(pipeline)
    log_dir = OutputLayout(os.path.abspath(out_dir)).logs_dir
    os.makedirs(log_dir, exist_ok=True)
    log_path = os.path.join(log_dir, time.strftime("pretrain-%Y%m%d-%H%M%S.log"))
    print(f"Full log: {log_path}", flush=True)
    model_folder = run_pipeline(pipeline, log_path)
    with open(os.path.join(model_folder, source_task.PRETRAINING_RECORD_FILE)) as f:
        trainer_record = json.load(f)
    weights_path = os.path.join(out_dir, weights_filename(config.backbone, config.backbone_alpha))
    record = {
        "weights": os.path.basename(weights_path),
        "config": asdict(config),
        "images": images,
        "source_classes": trainer_record["source_classes"],
        "source_train_accuracy": trainer_record["source_train_accuracy"],
        "source_heldout_accuracy": trainer_record["source_heldout_accuracy"],
        "trainer_model": model_folder,
        "seconds": round(time.monotonic() - started, 1),
    }
    publish(model_folder, weights_path, record)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Pretrain a backbone on generated source shapes (once; cached).",
    )
    add_settings(parser, PRETRAIN_SETTINGS, os.environ)
    add_setting(parser, "pretrained_dir", PRETRAINED_DIR, os.environ, DEFAULT_PRETRAINED_DIR)
    parser.add_argument(
        "--force", action="store_true", help="rebuild even if the file exists (no TFX cache)"
    )
    given = {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}
    out, force = given.pop("pretrained_dir"), given.pop("force")
    try:
        config = PretrainConfig(**given)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    path = os.path.join(out, weights_filename(config.backbone, config.backbone_alpha))
    if os.path.exists(path) and not force:
        print(f"Pretrained backbone up to date: {path}")
        return exit_codes.SUCCESS
    print(
        f"Pretraining {config.backbone} on {config.per_class} generated images of each of "
        f"{len(demo_data.SOURCE_CLASSES)} source shapes ({config.epochs} epochs, once), "
        "through a TFX pipeline ..."
    )
    try:
        record = pretrain(config, out, enable_cache=not force)
    except PretrainError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.STEP_FAILED
    print(
        f"Wrote {path} in {record['seconds']:.0f} s "
        f"(held-out source accuracy {record['source_heldout_accuracy']:.3f})"
    )
    return exit_codes.SUCCESS


if __name__ == "__main__":
    sys.exit(main())
