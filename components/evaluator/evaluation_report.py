"""The evaluation report a person reads: the decision and why, candidate against baseline, per
class, and the confusion matrices as a picture.

Written by the Evaluator's executor into its evaluation artifact (`report/`), so every run has
one on every orchestrator; `make local`'s summary links to it.
"""

from __future__ import annotations

import os
from typing import Any

import tensorflow as tf

from components.common import plots
from components.evaluator import evaluation

REPORT_DIR = "report"
REPORT_FILE = "report.md"
MATRIX_FILE = "confusion_matrix.png"
# Metrics in the table, in this order; higher is better for all but loss.
TABLE_METRICS = ("accuracy", "macro_f1", "macro_auc", "loss", "examples")
LOWER_IS_BETTER = ("loss",)
PER_CLASS_COLUMNS = ("precision", "recall", "f1", "auc")
# Beyond this many classes the matrix cells are too small to carry their counts.
MAX_ANNOTATED_CLASSES = 20
MISSING = "–"


def _number(value: float | None, metric: str = "") -> str:
    if value is None:
        return MISSING
    return f"{value:.0f}" if metric == "examples" else f"{value:.4f}"


def _change(metric: str, candidate: float | None, baseline: float | None) -> str:
    if candidate is None or baseline is None or metric == "examples":
        return MISSING
    change = candidate - baseline
    if change == 0:
        return "±0"
    better = (change > 0) != (metric in LOWER_IS_BETTER)
    return f"{change:+.4f} ({'better' if better else 'worse'})"


def decision_lines(
    gate: evaluation.Gate,
    blessed: bool,
    failures: list[str],
    baseline_version: int,
    class_change: str | None = None,
) -> list[str]:
    """The verdict, the rule, what it was compared with, and each failed threshold."""
    if blessed:
        verdict = (
            "**Decision: blessed.** The Pusher publishes it, unless the registry holds it already."
        )
    elif baseline_version:
        verdict = (
            f"**Decision: not blessed.** Nothing is pushed; version {baseline_version} stays"
            " served."
        )
    else:
        verdict = "**Decision: not blessed.** Nothing is pushed."
    if class_change:
        against = (
            f"Baseline: not compared. Version {baseline_version}, served when this run started, "
            f"answers with other classes ({class_change}); the change was accepted "
            "(ACCEPT_CLASS_CHANGE), so the floor alone decided."
        )
    elif baseline_version:
        against = f"Baseline: version {baseline_version}, the model served when this run started."
    else:
        against = "Baseline: none (no model served yet), so the floor alone decided."
    lines = [verdict, "", f"Gate: {gate.describe()}.", "", against]
    if failures:
        lines += ["", "Failed:", *(f"- {failure}" for failure in failures)]
    return lines


def metrics_table(candidate: dict, baseline: dict | None, gate_metric: str) -> list[str]:
    baseline = baseline or {}
    lines = ["| metric | candidate | baseline | change |", "|---|---:|---:|---|"]
    for metric in TABLE_METRICS:
        label = f"**{metric}** (gate)" if metric == gate_metric else metric
        ours, theirs = candidate.get(metric), baseline.get(metric)
        lines.append(
            f"| {label} | {_number(ours, metric)} | {_number(theirs, metric)} "
            f"| {_change(metric, ours, theirs)} |"
        )
    return lines


def per_class_table(
    class_names: list[str], candidate: dict[str, dict], baseline: dict[str, dict] | None
) -> list[str]:
    """Each class's support, precision, recall, F1 and AUC; the baseline's F1 and AUC beside."""
    header = "| class | support | precision | recall | F1 | AUC |"
    rule = "|---|---:|---:|---:|---:|---:|"
    if baseline:
        header += " F1 baseline | AUC baseline |"
        rule += "---:|---:|"
    lines = [header, rule]
    for name in class_names:
        ours = candidate.get(name, {})
        support = ours.get("support")
        row = f"| {name} | {MISSING if support is None else support} | " + " | ".join(
            _number(ours.get(column)) for column in PER_CLASS_COLUMNS
        )
        if baseline:
            theirs = baseline.get(name, {})
            row += f" | {_number(theirs.get('f1'))} | {_number(theirs.get('auc'))}"
        lines.append(row + " |")
    return lines


def render(
    found: dict[str, Any],
    class_names: list[str],
    gate: evaluation.Gate,
    blessed: bool,
    failures: list[str],
    baseline_version: int,
    class_change: str | None = None,
) -> str:
    """The report in Markdown; `found` is `evaluation.read_evaluation`'s result."""
    candidate = found[evaluation.CANDIDATE] or {"overall": {}, "per_class": {}}
    baseline = found[evaluation.BASELINE]
    lines = ["# Evaluation report", ""]
    lines += decision_lines(gate, blessed, failures, baseline_version, class_change)
    lines += ["", "## Metrics on the eval split", ""]
    lines += metrics_table(candidate["overall"], baseline and baseline["overall"], gate.metric)
    lines += ["", "## Per class", ""]
    lines += per_class_table(
        class_names, candidate["per_class"], baseline and baseline["per_class"]
    )
    lines += [
        "",
        "Precision, recall and F1 count argmax predictions; AUC is one class against the rest.",
    ]
    per_class = candidate["per_class"]
    absent = [name for name in class_names if per_class.get(name, {}).get("support") == 0]
    if absent:
        lines += [
            "",
            f"**No examples in the eval split: {', '.join(absent)}.** Their recall and AUC are"
            " undefined (–), and the macro AUC counts each of them as 0: add data, or read"
            " macro AUC with care.",
        ]
    if "confusion_matrix" in candidate:
        lines += [
            "",
            "## Confusion matrix",
            "",
            f"![Confusion matrix]({MATRIX_FILE})",
            "",
            "Rows are the true class, columns the predicted one; the colour is the share of the"
            " row (so the diagonal is each class's recall).",
        ]
    return "\n".join(lines) + "\n"


def plot_confusion_matrices(
    matrices: dict[str, list[list[int]]], class_names: list[str], path: str
) -> None:
    """One panel per model (candidate, then baseline), counts in the cells, row-normalized."""
    import numpy as np

    plt = plots.pyplot()

    side = max(4.0, 0.45 * len(class_names) + 2)
    figure, axes = plt.subplots(
        1, len(matrices), figsize=(side * len(matrices), side), constrained_layout=True
    )
    axes = np.atleast_1d(axes)
    for axis, (model, counts) in zip(axes, matrices.items(), strict=True):
        counts = np.asarray(counts, dtype=float)
        rows = counts.sum(axis=1, keepdims=True)
        shares = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
        axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        ticks = range(len(class_names))
        axis.set_xticks(ticks, class_names, rotation=45, ha="right")
        axis.set_yticks(ticks, class_names)
        axis.set(xlabel="predicted", ylabel="true", title=model)
        if len(class_names) <= MAX_ANNOTATED_CLASSES:
            for (row, column), count in np.ndenumerate(counts):
                colour = "white" if shares[row, column] > 0.5 else "black"
                axis.text(column, row, f"{count:.0f}", ha="center", va="center", color=colour)
    plots.save_png(figure, path)


def write(
    directory: str,
    *,
    evaluation_uri: str,
    class_names: list[str],
    gate: evaluation.Gate,
    blessed: bool,
    baseline_version: int,
    class_change: str | None = None,
) -> str:
    """Write report.md and confusion_matrix.png into `directory`; return the report's path."""
    found = evaluation.read_evaluation(evaluation_uri, class_names)
    failures = [] if blessed else evaluation.read_validation_failures(evaluation_uri)
    tf.io.gfile.makedirs(directory)
    matrices = {
        model: found[model]["confusion_matrix"]
        for model in (evaluation.CANDIDATE, evaluation.BASELINE)
        if found[model] and "confusion_matrix" in found[model]
    }
    if matrices:
        plot_confusion_matrices(matrices, class_names, os.path.join(directory, MATRIX_FILE))
    path = os.path.join(directory, REPORT_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(render(found, class_names, gate, blessed, failures, baseline_version, class_change))
    return path
