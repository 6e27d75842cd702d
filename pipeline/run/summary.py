"""What a run did, read back from ML Metadata: components, timings, cache hits, metrics, the push.

The orchestrator records every execution in MLMD; reading the record (instead of scraping logs)
gives the same answer for a run that failed half-way, and works on any past run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.evaluator import evaluation as evaluation_results
from components.evaluator import evaluation_report
from components.example_gen.executor import INGESTION_REPORT_FILE
from components.registry import component as registry_component
from components.trainer import training_report
from pipeline.dag import sqlite_metadata

# Where TFX's Tuner writes the best values (tfx.components.tuner.executor).
BEST_HYPERPARAMETERS_FILE = "best_hyperparameters.txt"

_State = metadata_store_pb2.Execution.State
STATUS_NAMES = {
    _State.COMPLETE: "complete",
    _State.CACHED: "cached",
    _State.FAILED: "failed",
    _State.RUNNING: "running",
    _State.CANCELED: "canceled",
    _State.NEW: "new",
}
NOT_RUN = "not run"
SHOWN_METRICS = ("accuracy", "macro_f1", "macro_auc", "loss", "examples")


def _store(metadata_path: str) -> metadata_store.MetadataStore:
    return metadata_store.MetadataStore(sqlite_metadata(metadata_path))


def _latest_run_context(
    store: metadata_store.MetadataStore, since_ms: int
) -> metadata_store_pb2.Context | None:
    """This run's `pipeline_run` context: the newest one, if it was made after `since_ms`."""
    runs = [
        c
        for c in store.get_contexts_by_type("pipeline_run")
        if c.create_time_since_epoch >= since_ms
    ]
    return max(runs, key=lambda c: c.create_time_since_epoch, default=None)


def _node_id(store: metadata_store.MetadataStore, execution_id: int, pipeline_name: str) -> str:
    for context in store.get_contexts_by_execution(execution_id):
        if context.type == "node":
            return context.name.removeprefix(f"{pipeline_name}.")
    return f"execution-{execution_id}"


def _output_artifacts(
    store: metadata_store.MetadataStore, execution_id: int
) -> list[metadata_store_pb2.Artifact]:
    events = store.get_events_by_execution_ids([execution_id])
    ids = [e.artifact_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT]
    return store.get_artifacts_by_id(ids) if ids else []


def _custom(artifact: metadata_store_pb2.Artifact, key: str) -> Any:
    if key not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[key]
    return getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None


def read_run(
    metadata_path: str, pipeline_name: str, node_ids: Iterable[str], since_ms: int = 0
) -> tuple[dict[str, dict], dict[str, list[metadata_store_pb2.Artifact]]]:
    """(components, outputs): status, seconds and cache hit per node; each node's outputs."""
    components = {node: {"status": NOT_RUN, "seconds": 0.0, "cached": False} for node in node_ids}
    outputs: dict[str, list[metadata_store_pb2.Artifact]] = {}
    if not os.path.exists(metadata_path):
        return components, outputs
    store = _store(metadata_path)
    run = _latest_run_context(store, since_ms)
    if run is None:
        return components, outputs
    types = {t.id: t.name for t in store.get_artifact_types()}
    for execution in store.get_executions_by_context(run.id):
        node = _node_id(store, execution.id, pipeline_name)
        state = execution.last_known_state
        components[node] = {
            "status": STATUS_NAMES.get(state, "unknown"),
            "seconds": round(
                (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000,
                1,
            ),
            "cached": state == _State.CACHED,
        }
        artifacts = _output_artifacts(store, execution.id)
        for artifact in artifacts:
            artifact.type = types.get(artifact.type_id, "")
        outputs[node] = artifacts
    return components, outputs


def _of_type(outputs: dict, type_name: str) -> metadata_store_pb2.Artifact | None:
    for artifacts in outputs.values():
        for artifact in artifacts:
            if artifact.type == type_name:
                return artifact
    return None


def _ingestion_report(examples: metadata_store_pb2.Artifact | None) -> dict | None:
    if examples is None:
        return None
    path = os.path.join(examples.uri, INGESTION_REPORT_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _tuned(hyperparameters: metadata_store_pb2.Artifact | None) -> dict[str, Any] | None:
    """The Tuner's best values (None when there was no Tuner stage)."""
    if hyperparameters is None:
        return None
    path = os.path.join(hyperparameters.uri, BEST_HYPERPARAMETERS_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)["values"]


def _training_files(model_run: metadata_store_pb2.Artifact | None) -> dict[str, str] | None:
    """Where the Trainer left its TensorBoard logs, learning curves and effective config."""
    if model_run is None:
        return None
    return {
        "model_run": model_run.uri,
        "learning_curves": os.path.join(model_run.uri, training_report.CURVES_FILE),
        "effective_config": os.path.join(model_run.uri, training_report.EFFECTIVE_CONFIG_FILE),
    }


def _evaluation_report(evaluation: metadata_store_pb2.Artifact | None) -> str | None:
    """Where the Evaluator wrote its human-readable report, if it did."""
    if evaluation is None:
        return None
    path = os.path.join(evaluation.uri, evaluation_report.REPORT_DIR, evaluation_report.REPORT_FILE)
    return path if os.path.exists(path) else None


def _push(
    pushed: metadata_store_pb2.Artifact | None, baseline: list[metadata_store_pb2.Artifact]
) -> dict[str, int | None]:
    """The registry versions involved: served before the run, pushed, or already holding it."""
    version = _custom(pushed, registry_component.PUSHED_VERSION_PROPERTY) if pushed else None
    return {
        "baseline_version": (
            _custom(baseline[0], registry_component.BASELINE_VERSION_PROPERTY) or None
            if baseline
            else None
        ),
        "version": int(version) if version else None,
        "already_pushed_as": (
            _custom(pushed, registry_component.ALREADY_PUSHED_PROPERTY) if pushed else None
        ),
    }


def collect(
    pipeline_root: str,
    metadata_path: str,
    pipeline_name: str,
    node_ids: Iterable[str],
    since_ms: int = 0,
    error: BaseException | None = None,
    log_path: str | None = None,
    peak_memory_mb: float | None = None,
) -> dict[str, Any]:
    """The run summary as a JSON-ready dict (the schema of `outputs/last_run.json`);
    `peak_memory_mb` is the running process's, when the run happened in it."""
    components, outputs = read_run(metadata_path, pipeline_name, node_ids, since_ms)
    blessing = _of_type(outputs, "ModelBlessing")
    evaluation = _of_type(outputs, "ModelEvaluation")
    pushed = _of_type(outputs, "PushedModel")
    report = _ingestion_report(_of_type(outputs, "Examples"))
    training_files = _training_files(_of_type(outputs, "ModelRun"))
    class_names = (report or {}).get("class_names")
    metrics = (
        evaluation_results.read_metrics(evaluation.uri, class_names)
        if evaluation and class_names
        else {"candidate": None, "baseline": None}
    )
    blessed = bool(blessing and _custom(blessing, "blessed"))
    failed = error is not None or any(c["status"] == "failed" for c in components.values())
    return {
        "status": "failed" if failed else "succeeded",
        "error": f"{type(error).__name__}: {error}" if error else None,
        "pipeline_root": pipeline_root,
        "metadata_path": metadata_path,
        "log_file": log_path,
        "components": components,
        "peak_memory_mb": round(peak_memory_mb) if peak_memory_mb is not None else None,
        "tuned_hyperparameters": _tuned(_of_type(outputs, "HyperParameters")),
        "training": training_files,
        "metrics": metrics,
        "evaluation_report": _evaluation_report(evaluation),
        "blessed": blessed,
        "not_blessed_because": (
            evaluation_results.read_validation_failures(evaluation.uri)
            if evaluation and not blessed
            else []
        ),
        "pushed_model_dir": (
            _custom(pushed, "pushed_destination") if pushed and _custom(pushed, "pushed") else None
        ),
        "push": _push(pushed, outputs.get(registry_component.BASELINE_NODE_ID, [])),
        "data": (
            {
                "class_names": report.get("class_names"),
                "class_counts": report.get("class_counts"),
                "skipped_files": report.get("rejected", []),
                "warnings": report.get("warnings", []),
            }
            if report
            else None
        ),
    }


def write_json(summary: dict[str, Any], path: str) -> None:
    """Written aside then renamed, so a reader never sees half a file."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    partial = f"{path}.partial"
    with open(partial, "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    os.replace(partial, path)


def _metric_cell(metrics: dict[str, float] | None, name: str) -> str:
    if not metrics or name not in metrics:
        return "-"
    value = metrics[name]
    return f"{value:.0f}" if name == "examples" else f"{value:.4f}"


def _push_line(summary: dict[str, Any]) -> str:
    push = summary.get("push") or {}
    if summary["pushed_model_dir"]:
        return f"Pushed: version {push.get('version')} at {summary['pushed_model_dir']}"
    if push.get("already_pushed_as"):
        return (
            f"Not pushed again: this model is already version {push['already_pushed_as']} "
            "(see make models)"
        )
    served = push.get("baseline_version")
    still = f"; version {served} stays served" if served else ""
    return f"Pushed: nothing{still}"


def format_table(summary: dict[str, Any]) -> str:
    """The end-of-run report people read: components, metrics, the blessing and the push."""
    lines = ["", f"{'component':<24}{'status':<12}{'seconds':>9}  cache"]
    lines.append("-" * len(lines[-1]))
    for name, c in summary["components"].items():
        cache = "hit" if c["cached"] else ""
        lines.append(f"{name:<24}{c['status']:<12}{c['seconds']:>9.1f}  {cache}".rstrip())
    total = sum(c["seconds"] for c in summary["components"].values())
    lines.append(f"{'total':<24}{'':<12}{total:>9.1f}")
    if summary.get("peak_memory_mb") is not None:
        lines.append(f"Peak memory: {summary['peak_memory_mb'] / 1024:.1f} GB")

    metrics = summary["metrics"]
    if metrics["candidate"]:
        lines += ["", f"{'metric':<12}{'candidate':>12}{'baseline':>12}"]
        for name in SHOWN_METRICS:
            lines.append(
                f"{name:<12}{_metric_cell(metrics['candidate'], name):>12}"
                f"{_metric_cell(metrics['baseline'], name):>12}"
            )
        served = (summary.get("push") or {}).get("baseline_version")
        if metrics["baseline"] is None and served:
            lines.append(f"(version {served} not compared: see the evaluation report)")
        elif metrics["baseline"] is None:
            lines.append("(no model served yet: the floor alone decides)")

    tuned = summary.get("tuned_hyperparameters")
    if tuned:
        values = ", ".join(f"{name}={value:.3g}" for name, value in sorted(tuned.items()))
        lines += ["", f"Tuner's best values (the Trainer used them): {values}"]
    training = summary.get("training")
    if training and os.path.exists(training["learning_curves"]):
        lines += ["", f"Learning curves: {training['learning_curves']}"]
    if summary.get("evaluation_report"):
        lines.append(f"Evaluation report: {summary['evaluation_report']}")

    data = summary.get("data")
    for warning in (data or {}).get("warnings", []):
        lines += ["", f"Warning: {warning}"]
    if data and data["skipped_files"]:
        lines += ["", f"Skipped {len(data['skipped_files'])} undecodable file(s):"]
        lines += [f"  {r['path']}: {r['reason']}" for r in data["skipped_files"][:20]]
        if len(data["skipped_files"]) > 20:
            lines.append("  ... (all of them are listed in last_run.json)")

    lines.append("")
    if summary["status"] == "failed":
        lines.append(f"Run FAILED: {summary['error'] or 'a component failed'}")
    elif summary["blessed"]:
        lines.append("Blessed: yes")
    else:
        lines.append("Blessed: no")
        lines += [f"  {reason}" for reason in summary["not_blessed_because"]]
    lines.append(_push_line(summary))
    if summary.get("log_file"):
        lines.append(f"Full log: {summary['log_file']}")
    return "\n".join(lines)
