"""Runs a PipelineConfig with LocalDagRunner: preflight checks, progress, summary, clear errors."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import sys
import time
import traceback
from collections.abc import Iterator

from components.common import progress
from components.example_gen import ingest, splits
from components.trainer import model
from components.trainer.training_config import TrainingConfig
from pipeline import exit_codes
from pipeline.config import OutputLayout, PipelineConfig
from pipeline.run import memory
from pipeline.run import summary as run_summary
from pipeline.run.lock import RunLockedError, exclusive_run

_STARTED = "Component %s is running."
_FINISHED = "Component %s is finished."


class PreflightError(RuntimeError):
    """Something outside the pipeline (input data, output folders) is not usable."""


# Room a run needs beyond its examples (about the data's size per run): two models (candidate
# and baseline copy) of the larger backbones, the pushed copy, statistics, logs.
RESERVE_BYTES = 512 * 2**20


def preflight(config: PipelineConfig, reserve_bytes: int = RESERVE_BYTES) -> None:
    """Fails in seconds, with a message naming the problem, instead of minutes into a run."""
    if config.input_format == "images":
        class_names, files, _ = ingest.list_image_files(config.data_root)
        print(
            f"Data: {len(files)} image files in {len(class_names)} classes under {config.data_root}"
        )
        warning = ingest.imbalance_warning(ingest.count_by_class(class_names, files))
        if warning:
            print(f"Warning: {warning}")
        splits.check_splits(
            class_names, files, splits.split_config(config.eval_percent).split_config
        )
    else:
        class_names = ingest.read_tfrecord_class_names(config.data_root)
        print(f"Data: TFRecord files with {len(class_names)} classes under {config.data_root}")
    _check_feature_layer(config.training)
    _check_weights(config.training)
    for folder in (config.pipeline_root, config.serving_dir, os.path.dirname(config.metadata_path)):
        try:
            os.makedirs(folder, exist_ok=True)
            probe = os.path.join(folder, ".write-test")
            with open(probe, "w") as f:
                f.write("ok")
            os.remove(probe)
        except OSError as e:
            raise PreflightError(f"Cannot write to {folder!r}: {e.strerror or e}") from e
    _check_free_space(config, reserve_bytes)


def _folder_bytes(root: str) -> int:
    return sum(
        os.path.getsize(os.path.join(folder, name))
        for folder, _, names in os.walk(root)
        for name in names
    )


def _check_free_space(config: PipelineConfig, reserve_bytes: int) -> None:
    """A full disk fails the run here, not in the middle of writing an artifact."""
    needed = 2 * _folder_bytes(config.data_root) + reserve_bytes
    for role, folder in (("pipeline root", config.pipeline_root), ("push", config.serving_dir)):
        free = shutil.disk_usage(folder).free
        if free < needed:
            raise PreflightError(
                f"Only {free / 2**20:,.0f} MB free for the {role} {folder!r}; a run needs about "
                f"{needed / 2**20:,.0f} MB (twice the data, plus {reserve_bytes / 2**20:,.0f} MB "
                "for models and logs). Free some space or point it elsewhere."
            )


def _check_feature_layer(training: TrainingConfig) -> None:
    """A FEATURE_LAYER that names no layer of the backbone fails here (an untrained backbone,
    built in a second), not in the Trainer after ingestion and Transform have run."""
    if training.feature_layer in (model.AUTO_LAYER, model.TOP_LAYER):
        return
    untrained = model.full_backbone(dataclasses.replace(training, weights="none"))
    try:
        model.cut_at(untrained, training.feature_layer)
    except ValueError as e:
        raise PreflightError(str(e)) from e


def _check_weights(training: TrainingConfig) -> None:
    """Loads a weights file into the backbone now (seconds), so a file of the wrong architecture
    fails here rather than in the Trainer after ingestion and Transform have run."""
    if training.weights == "none":
        weights = "random (from scratch)"
    elif training.weights == "imagenet":
        weights = "ImageNet (downloaded by the Trainer)"
    else:
        try:
            model.build_backbone(training)
        except model.WeightsUnavailableError as e:
            raise PreflightError(str(e)) from e
        weights = training.weights
    print(f"Model: {training.backbone} at {training.image_size} px, backbone weights: {weights}")


class ProgressHandler(logging.Handler):
    """Turns the runner's 'Component X is running/finished' log lines into a progress display,
    and shows the progress lines of long work inside a step."""

    def __init__(self, total: int):
        super().__init__(level=logging.INFO)
        self.total = total
        self.done = 0
        self.started_at: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(progress.PROGRESS_PREFIX):
            # Long work inside a step saying how far it got (components/common/progress.py).
            print(f"      {message.removeprefix(progress.PROGRESS_PREFIX)}", flush=True)
        elif record.msg == _STARTED:
            name = record.args[0]
            self.started_at[name] = time.monotonic()
            print(f"[{self.done + 1}/{self.total}] {name} ...", flush=True)
        elif record.msg == _FINISHED:
            name = record.args[0]
            self.done += 1
            seconds = time.monotonic() - self.started_at.get(name, time.monotonic())
            print(f"[{self.done}/{self.total}] {name} done in {seconds:.1f} s", flush=True)


# Warnings TFX 1.16 emits on every healthy run; they stay in the log file, off the console.
KNOWN_NOISE = (
    "ArtifactQuery.property_predicate is not supported",
    "is deprecated and will be removed in a future version",
    # Transform explaining that its analyzers need a full pass: they do, by design.
    "Not using the in-place Transform",
)


class DropKnownNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(noise in message for noise in KNOWN_NOISE)


@contextlib.contextmanager
def run_logging(log_path: str, total: int) -> Iterator[None]:
    """Full INFO logs go to a file; the console shows progress and real warnings only.

    Everything is put back on exit, so a caller (or a test) keeps its own logging set-up.
    """
    from absl import logging as absl_logging

    root = logging.getLogger()
    own_console = [] if root.handlers else [logging.StreamHandler()]
    consoles = root.handlers + own_console
    # TensorFlow's logger has a console handler of its own and also propagates to the root's:
    # silence its own so each TensorFlow warning is shown once, by the root's.
    tf_consoles = logging.getLogger("tensorflow").handlers
    saved = (
        root.level,
        [(h, h.level) for h in consoles + tf_consoles],
        absl_logging.get_verbosity(),
    )
    absl_logging.set_verbosity(absl_logging.INFO)
    root.setLevel(logging.INFO)
    noise = DropKnownNoise()
    for handler in consoles:
        handler.setLevel(logging.WARNING)
        handler.addFilter(noise)
    for handler in tf_consoles:
        handler.setLevel(logging.CRITICAL + 1)
    file_handler = logging.FileHandler(log_path)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    added = [*own_console, file_handler, ProgressHandler(total)]
    for handler in added:
        root.addHandler(handler)
    try:
        yield
    finally:
        for handler in added:
            root.removeHandler(handler)
            handler.close()
        level, handler_levels, verbosity = saved
        root.setLevel(level)
        for handler, handler_level in handler_levels:
            handler.setLevel(handler_level)
            handler.removeFilter(noise)
        absl_logging.set_verbosity(verbosity)


def _log_to_file_only(log_path: str, error: BaseException) -> None:
    """The full traceback belongs in the log file; the console gets the one-line reason."""
    with open(log_path, "a") as f:
        f.write("Pipeline run failed:\n")
        f.write("".join(traceback.format_exception(error)))


def run(config: PipelineConfig, outputs_dir: str, require_push: bool = False) -> int:
    """Runs the pipeline; prints and writes the summary; returns a process exit status
    (pipeline/exit_codes.py), saying why on standard error unless it is 0."""
    try:
        preflight(config)
    except (ingest.DataError, PreflightError) as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    try:
        with exclusive_run(config.pipeline_root, config.metadata_path):
            error, summary = _run_pipeline(config, outputs_dir)
    except RunLockedError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    status, why = exit_status(error, summary, require_push)
    if why:
        print(f"error: {why}", file=sys.stderr)
    return status


def _is_data_refusal(error: BaseException) -> bool:
    from components.validation.component import DataValidationError

    return isinstance(error, (ingest.DataError, DataValidationError))


def exit_status(
    error: BaseException | None, summary: dict, require_push: bool
) -> tuple[int, str | None]:
    """The run's exit status and, unless it is 0, one line saying why."""
    if error is not None:
        failed = [name for name, c in summary["components"].items() if c["status"] == "failed"]
        where = failed[0] if failed else "the pipeline"
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        if _is_data_refusal(error):
            return exit_codes.DATA_REFUSED, f"{where} refused the data: {reason}"
        return exit_codes.STEP_FAILED, f"{where} failed: {reason}"
    if require_push and not summary["pushed_model_dir"]:
        already = (summary.get("push") or {}).get("already_pushed_as")
        because = (
            f"the registry holds this model already, as version {already}"
            if already
            else "the candidate was not blessed"
        )
        return exit_codes.NOT_PUSHED, f"no model was pushed (REQUIRE_PUSH): {because}"
    return exit_codes.SUCCESS, None


def _run_pipeline(config: PipelineConfig, outputs_dir: str) -> tuple[BaseException | None, dict]:
    """The run itself, once nothing else runs on the same root and store: its error (None if
    it completed) and its summary."""

    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from pipeline.dag import compile_ir, create_pipeline

    pipeline = create_pipeline(config)
    outputs = OutputLayout(outputs_dir)
    log_dir = outputs.logs_dir
    os.makedirs(log_dir, exist_ok=True)
    log_path = os.path.join(log_dir, time.strftime("run-%Y%m%d-%H%M%S.log"))
    print(f"Running {len(pipeline.components)} components; full log: {log_path}")

    started_ms = int(time.time() * 1000)
    error = None
    with run_logging(log_path, total=len(pipeline.components)):
        try:
            LocalDagRunner().run_with_ir(compile_ir(pipeline))
        except Exception as e:  # reported below with the summary, not as a deep stack trace
            _log_to_file_only(log_path, e)
            error = e
    summary = run_summary.collect(
        pipeline_root=config.pipeline_root,
        metadata_path=config.metadata_path,
        pipeline_name=config.pipeline_name,
        node_ids=[component.id for component in pipeline.components],
        since_ms=started_ms,
        error=error,
        log_path=log_path,
        peak_memory_mb=memory.peak_rss_mb(),
    )
    run_summary.write_json(summary, outputs.summary_path)
    print(run_summary.format_table(summary))
    return error, summary
