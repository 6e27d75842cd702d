"""`make local`: build the config from flags and environment, check inputs, run, summarize.

Every setting is a flag with an environment fallback (so `make local EPOCHS=3` works), e.g.
    python -m pipeline.local_runner --data /path/to/images --epochs 3
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

from components.trainer.training_config import TrainingConfig
from components.transform.augmentation_spec import AugmentationSpec
from pipeline import exit_codes
from pipeline.config import (
    CURATED_SCHEMA,
    DEFAULT_OUTPUTS,
    DEFAULT_PRETRAINED_DIR,
    OutputLayout,
    PipelineConfig,
    default_weights,
    file_digest,
    metadata_path_in,
)
from pipeline.run.collector import long_lived_imports
from pipeline.run.process_exit import exit_after_run
from pipeline.settings import (
    AUGMENTATION_SETTINGS,
    GATE_SETTINGS,
    OUTPUTS,
    PATH_SETTINGS,
    PIPELINE_SETTINGS,
    PRETRAINED_DIR,
    REQUIRE_PUSH,
    TRAINING_SETTINGS,
    add_setting,
    add_settings,
    gate_config,
    typed_settings,
)

ALL_SETTINGS = {
    **PIPELINE_SETTINGS,
    **TRAINING_SETTINGS,
    **AUGMENTATION_SETTINGS,
    **GATE_SETTINGS,
}


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Run the image-classification TFX pipeline locally (LocalDagRunner + Beam).",
    )
    add_settings(parser, ALL_SETTINGS, environ)
    add_setting(parser, "outputs", OUTPUTS, environ, DEFAULT_OUTPUTS)
    add_setting(parser, "pretrained_dir", PRETRAINED_DIR, environ, DEFAULT_PRETRAINED_DIR)
    add_setting(parser, "require_push", REQUIRE_PUSH, environ, False)
    parser.add_argument("--no-cache", action="store_true", help="re-run every component")
    return parser


def resolve_training(given: dict, pretrained_dir: str) -> TrainingConfig:
    settings = typed_settings(given, TRAINING_SETTINGS)
    if "weights" not in settings:
        defaults = TrainingConfig()
        settings["weights"] = default_weights(
            pretrained_dir,
            settings.get("backbone", defaults.backbone),
            settings.get("backbone_alpha", defaults.backbone_alpha),
        )
    if os.path.isfile(settings["weights"]):
        settings["weights"] = os.path.abspath(settings["weights"])
        settings["weights_digest"] = file_digest(settings["weights"])
    return TrainingConfig(**settings)


def config_from_args(args: argparse.Namespace) -> PipelineConfig:
    """The one config object. Relative paths become absolute: TFX stores them in metadata."""
    # Imported here, not at the top: they bring TensorFlow and TFX, which main imports first.
    from components.example_gen import ingest
    from components.snapshot.component import fingerprint
    from components.snapshot.snapshots import data_folder

    given = {k: v for k, v in vars(args).items() if v is not None}
    if "data_root" not in given:
        raise ingest.DataError(
            "No data folder: pass --data /path/to/images or DATA=/path/to/images."
        )
    outputs = OutputLayout(os.path.abspath(args.outputs))
    paths = {
        # The latest snapshot is taken now, as the run starts (on Kubeflow, by DataSnapshot).
        "data_root": data_folder(given["data_root"], given.pop("latest_snapshot", False)),
        "pipeline_root": given.get("pipeline_root", outputs.pipeline_root),
        "serving_dir": given.get("serving_dir", outputs.serving_dir),
    }
    paths = {name: os.path.abspath(path) for name, path in paths.items()}
    metadata_path = given.get("metadata_path", metadata_path_in(paths["pipeline_root"]))
    other_settings = {k: v for k, v in PIPELINE_SETTINGS.items() if k not in PATH_SETTINGS}
    input_format = ingest.detect_input_format(paths["data_root"])
    return PipelineConfig(
        **paths,
        metadata_path=os.path.abspath(metadata_path),
        schema_path=str(CURATED_SCHEMA),
        input_format=input_format,
        data_fingerprint=fingerprint(paths["data_root"], input_format),
        training=resolve_training(given, args.pretrained_dir),
        augmentation=AugmentationSpec(**typed_settings(given, AUGMENTATION_SETTINGS)),
        gate=gate_config(given),
        enable_cache=not args.no_cache,
        **typed_settings(given, other_settings),
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser(os.environ).parse_args(argv)
    # The stack (TensorFlow, TFX, Beam) is imported only once the flags parse (`--help` and a
    # mistyped flag answer at once), and as long-lived objects (collector.py says why).
    with long_lived_imports():
        from components.example_gen.ingest import DataError
        from pipeline.run import execute
    try:
        config = config_from_args(args)
    except (DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT

    return execute.run(
        config, outputs_dir=os.path.abspath(args.outputs), require_push=args.require_push
    )


if __name__ == "__main__":
    exit_after_run(main())
