"""Runs a PipelineConfig with LocalDagRunner: preflight checks, progress, summary, clear errors."""

from __future__ import annotations

import logging
import os
import time

from components.image_example_gen import ingest
from pipeline import run_summary
from pipeline.config import PipelineConfig

_STARTED = "Component %s is running."
_FINISHED = "Component %s is finished."


class PreflightError(RuntimeError):
    """Something outside the pipeline (input data, output folders) is not usable."""


def preflight(config: PipelineConfig) -> None:
    """Fails in seconds, with a message naming the problem, instead of minutes into a run."""
    if config.input_format == "images":
        class_names, files, _ = ingest.list_image_files(config.data_root)
        print(f"Data: {len(files)} image files in {len(class_names)} classes under {config.data_root}")
    else:
        class_names = ingest.read_tfrecord_class_names(config.data_root)
        print(f"Data: TFRecord files with {len(class_names)} classes under {config.data_root}")
    for folder in (config.pipeline_root, config.serving_dir, os.path.dirname(config.metadata_path)):
        try:
            os.makedirs(folder, exist_ok=True)
            probe = os.path.join(folder, ".write-test")
            with open(probe, "w") as f:
                f.write("ok")
            os.remove(probe)
        except OSError as e:
            raise PreflightError(f"Cannot write to {folder!r}: {e.strerror or e}") from e


class ProgressHandler(logging.Handler):
    """Turns the runner's 'Component X is running/finished' log lines into a progress display."""

    def __init__(self, total: int):
        super().__init__(level=logging.INFO)
        self.total = total
        self.done = 0
        self.started_at: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == _STARTED:
            name = record.args[0]
            self.started_at[name] = time.monotonic()
            print(f"[{self.done + 1}/{self.total}] {name} ...", flush=True)
        elif record.msg == _FINISHED:
            name = record.args[0]
            self.done += 1
            seconds = time.monotonic() - self.started_at.get(name, time.monotonic())
            print(f"[{self.done}/{self.total}] {name} done in {seconds:.1f} s", flush=True)


def _configure_logging(log_path: str, total: int) -> None:
    """Full INFO logs go to a file; the console shows progress and warnings only."""
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO)
    root = logging.getLogger()
    for handler in root.handlers:
        handler.setLevel(logging.WARNING)
    file_handler = logging.FileHandler(log_path)
    file_handler.setLevel(logging.INFO)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(file_handler)
    root.addHandler(ProgressHandler(total))


def run(config: PipelineConfig, outputs_dir: str) -> int:
    """Runs the pipeline; prints and writes the summary; returns a process exit code."""
    try:
        preflight(config)
    except (ingest.DataError, PreflightError) as e:
        print(f"error: {e}")
        return 2

    from tfx import v1 as tfx

    from pipeline.pipeline import create_pipeline

    pipeline = create_pipeline(config)
    log_dir = os.path.join(outputs_dir, "logs")
    os.makedirs(log_dir, exist_ok=True)
    log_path = os.path.join(log_dir, time.strftime("run-%Y%m%d-%H%M%S.log"))
    _configure_logging(log_path, total=len(pipeline.components))
    print(f"Running {len(pipeline.components)} components; full log: {log_path}")

    error = None
    try:
        tfx.orchestration.LocalDagRunner().run(pipeline)
    except Exception as e:  # reported below with the summary, not as a deep stack trace
        logging.exception("Pipeline run failed")
        error = e
    summary = run_summary.collect(config, error=error, log_path=log_path)
    run_summary.write_json(summary, os.path.join(outputs_dir, "last_run.json"))
    print(run_summary.format_table(summary))
    return 1 if error else 0
