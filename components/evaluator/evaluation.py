"""The blessing policy (which metrics TFMA computes, what a candidate must clear), and its
results read back in our words for the run summary, the push record and the report."""

from __future__ import annotations

import json

import tensorflow_model_analysis as tfma

from components import features
from components.evaluator import tfma_metrics
from components.evaluator.blessing import GATE_METRICS, Gate

# Custom TFMA metrics by class name -> the module TFMA imports them from.
CUSTOM_METRIC_MODULES = {
    metric.__name__: tfma_metrics.__name__
    for metric in (tfma_metrics.MacroF1, tfma_metrics.OneVsRestAUC)
}


def threshold(gate: Gate) -> tfma.MetricThreshold:
    """The gate as TFMA's threshold: the floor (ceiling for loss) and the allowed change."""
    if gate.higher_is_better:
        value = tfma.GenericValueThreshold(lower_bound={"value": gate.floor})
        direction, allowed = tfma.MetricDirection.HIGHER_IS_BETTER, -gate.tolerance
    else:
        value = tfma.GenericValueThreshold(upper_bound={"value": gate.floor})
        direction, allowed = tfma.MetricDirection.LOWER_IS_BETTER, gate.tolerance
    return tfma.MetricThreshold(
        value_threshold=value,
        change_threshold=tfma.GenericChangeThreshold(
            direction=direction, absolute={"value": allowed}
        ),
    )


def _metric(class_name: str, gate: Gate) -> tfma.MetricConfig:
    """A metric's config, with the gate's threshold if the gate judges by it.

    The threshold holds on the overall slice only: a plain `threshold` would also apply to every
    per-class slice, and one weak class would then refuse a model that is better overall.
    """
    config = tfma.MetricConfig(
        class_name=class_name, module=CUSTOM_METRIC_MODULES.get(class_name, "")
    )
    if GATE_METRICS[gate.metric].class_name == class_name:
        config.per_slice_thresholds.add(
            slicing_specs=[tfma.SlicingSpec()], threshold=threshold(gate)
        )
    return config


def eval_config(gate: Gate) -> tfma.EvalConfig:
    """What TFMA computes on the eval split, and the gate as TFMA thresholds.

    On the whole eval split (per class through the confusion matrix and the one-vs-rest AUCs).
    The AUCs need the class count, which this config does not know: the Evaluator's executor
    fills it in once ExampleGen has found the classes (`for_classes`). With no baseline (first
    run) TFMA checks the floor alone.
    """
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                # Said, not inferred: left unset, TFMA loads every model once with Keras just to
                # find its type, then again to evaluate (10-15 s a load here). As a generic
                # SavedModel it is loaded once, by tf.saved_model.load, and called through the
                # signature below.
                model_type=tfma.TF_GENERIC,
                # The one clients call. Its input is named like the examples' image feature, so
                # TFMA feeds it the image bytes it has already parsed, batch by batch. (Fed
                # serialized examples instead, TFMA calls a signature positionally; TensorFlow
                # refuses, formatting the whole batch into the error, then retries: a third of
                # the time spent predicting, measured at 8,000 images.)
                signature_name=features.SERVING_SIGNATURE,
                label_key=features.LABEL_KEY,
                prediction_key=features.PROBABILITIES_KEY,
            )
        ],
        # The whole eval split only. Per-class recall, precision and F1 come from the confusion
        # matrix; a slice per true class (label = k) added only its accuracy, which is that
        # recall again, at the cost of every metric once more per class, AUCs included, which
        # one class alone cannot have (TFMA divided by zero for them).
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    _metric("SparseCategoricalAccuracy", gate),
                    _metric("SparseCategoricalCrossentropy", gate),
                    _metric("MacroF1", gate),
                    # Each class's AUC against the rest, and their mean (macro_auc).
                    _metric("OneVsRestAUC", gate),
                    # Argmax predictions against labels: per-class precision, recall, F1.
                    tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
                ]
            ),
        ],
    )


def for_classes(config: tfma.EvalConfig, num_classes: int) -> tfma.EvalConfig:
    """`config` with its one-vs-rest AUCs told the class count (classes 0..num_classes-1)."""
    completed = tfma.EvalConfig()
    completed.CopyFrom(config)
    for spec in completed.metrics_specs:
        for metric in spec.metrics:
            if metric.class_name == tfma_metrics.OneVsRestAUC.__name__:
                metric.config = json.dumps({"num_classes": num_classes})
    return completed


def gate_of(config: tfma.EvalConfig) -> Gate:
    """The gate an eval config enforces (the inverse of `eval_config`)."""
    for spec in config.metrics_specs:
        for metric in spec.metrics:
            if not metric.per_slice_thresholds:
                continue
            (rule,) = metric.per_slice_thresholds
            name = next(
                name
                for name, gated in GATE_METRICS.items()
                if gated.class_name == metric.class_name
            )
            value = rule.threshold.value_threshold
            floor = value.lower_bound if value.HasField("lower_bound") else value.upper_bound
            tolerance = abs(rule.threshold.change_threshold.absolute.value)
            return Gate(name, floor.value, tolerance)
    raise ValueError("the eval config has no threshold: nothing gates the model")


# Metric names in TFMA's output -> the short names the summary shows (overall slice).
SUMMARY_METRICS = {
    "sparse_categorical_accuracy": "accuracy",
    "sparse_categorical_crossentropy": "loss",
    "example_count": "examples",
    tfma_metrics.MACRO_F1_NAME: "macro_f1",
    tfma_metrics.MACRO_AUC_NAME: "macro_auc",
}
CANDIDATE = "candidate"
BASELINE = "baseline"


def _model(key) -> str:
    return key.model_name or CANDIDATE


def _is_overall(slice_key) -> bool:
    return not slice_key.single_slice_keys


def confusion_matrices(evaluation_uri: str, num_classes: int) -> dict[str, list[list[int]]]:
    """Per model: counts[actual][predicted] of the eval split, from TFMA's argmax matrix."""
    matrices: dict[str, list[list[int]]] = {}
    for plots in tfma.load_plots(evaluation_uri):
        if not _is_overall(plots.slice_key):
            continue
        for entry in plots.plot_keys_and_values:
            data = entry.value.multi_class_confusion_matrix_at_thresholds
            if not data.matrices:
                continue
            counts = [[0] * num_classes for _ in range(num_classes)]
            for cell in data.matrices[0].entries:
                actual, predicted = cell.actual_class_id, cell.predicted_class_id
                if 0 <= actual < num_classes and 0 <= predicted < num_classes:
                    counts[actual][predicted] = round(cell.num_weighted_examples)
            matrices[_model(entry.key)] = counts
    return matrices


def per_class_from_matrix(counts: list[list[int]]) -> list[dict[str, float | None]]:
    """Precision, recall, F1 and support of each class from an argmax confusion matrix.

    A class never predicted has precision 0 and F1 0, as in scikit-learn with zero_division=0;
    one absent from the data has no recall (None) and F1 0 if predicted. A class neither
    present nor predicted has no scores at all (None); like scikit-learn's, the macro F1 leaves
    it out.
    """
    rows = []
    for k in range(len(counts)):
        true_positives = counts[k][k]
        support = sum(counts[k])
        predicted = sum(row[k] for row in counts)
        if not support and not predicted:
            rows.append({"precision": None, "recall": None, "f1": None, "support": 0})
            continue
        precision = true_positives / predicted if predicted else 0.0
        recall = true_positives / support if support else None
        # 2TP / (support + predicted): the harmonic mean, also where recall is undefined.
        f1 = 2 * true_positives / (support + predicted)
        rows.append({"precision": precision, "recall": recall, "f1": f1, "support": support})
    return rows


def read_evaluation(evaluation_uri: str, class_names: list[str]) -> dict[str, dict | None]:
    """Everything the Evaluator measured, per model (candidate, baseline or None):
    `overall` (accuracy, loss, examples, macro_f1, macro_auc), `per_class` (name -> precision,
    recall, f1, auc, support) and `confusion_matrix` (rows actual, columns
    predicted, in class-name order)."""
    num_classes = len(class_names)
    models: dict[str, dict] = {}

    def model_entry(name: str) -> dict:
        return models.setdefault(name, {"overall": {}, "per_class": {c: {} for c in class_names}})

    for slice_metrics in tfma.load_metrics(evaluation_uri):
        overall = _is_overall(slice_metrics.slice_key)
        for entry in slice_metrics.metric_keys_and_values:
            key = entry.key
            if key.is_diff or not entry.value.HasField("double_value"):
                continue
            value = entry.value.double_value.value
            model = model_entry(_model(key))
            if overall and key.name in SUMMARY_METRICS:
                model["overall"][SUMMARY_METRICS[key.name]] = value
            elif overall and key.name == tfma_metrics.CLASS_AUC_NAME:
                class_id = key.sub_key.class_id.value
                if class_id < num_classes:
                    model["per_class"][class_names[class_id]]["auc"] = value
    for name, counts in confusion_matrices(evaluation_uri, num_classes).items():
        model = model_entry(name)
        model["confusion_matrix"] = counts
        rows = per_class_from_matrix(counts)
        for class_name, row in zip(class_names, rows, strict=True):
            model["per_class"][class_name].update(row)
            if not row["support"]:
                # One-vs-rest AUC needs a positive example; TFMA writes 0 for it.
                model["per_class"][class_name]["auc"] = None
    return {CANDIDATE: models.get(CANDIDATE), BASELINE: models.get(BASELINE)}


def read_metrics(evaluation_uri: str, class_names: list[str]) -> dict[str, dict | None]:
    """The overall metrics of the candidate and (if there was one) the baseline, rounded."""
    evaluation = read_evaluation(evaluation_uri, class_names)
    return {
        model: {name: round(value, 4) for name, value in found["overall"].items()}
        if found
        else None
        for model, found in evaluation.items()
    }


def read_validation_failures(evaluation_uri: str) -> list[str]:
    """Why TFMA did not bless: one readable line per failed threshold."""
    try:
        result = tfma.load_validation_result(evaluation_uri)
    except Exception:  # no validations file: nothing to explain
        return []
    failures = []
    for per_slice in result.metric_validations_per_slice:
        for failure in per_slice.failures:
            name = _short_name(failure.metric_key)
            value = failure.metric_value.double_value.value
            if failure.metric_key.is_diff:
                name, shown = f"{name} change vs baseline", f"{value:+.4f}"
            else:
                shown = f"{value:.4f}"
            failures.append(f"{name} {shown}: {_failure_reason(failure)}")
    return failures


def _short_name(key) -> str:
    return SUMMARY_METRICS.get(key.name, key.name)


def _failure_reason(failure) -> str:
    threshold = failure.metric_threshold
    if failure.metric_key.is_diff:
        allowed = abs(threshold.change_threshold.absolute.value)
        return f"worse than the baseline by more than the tolerance {allowed:g}"
    if threshold.value_threshold.HasField("lower_bound"):
        return f"below the floor {threshold.value_threshold.lower_bound.value:g}"
    if threshold.value_threshold.HasField("upper_bound"):
        return f"above the ceiling {threshold.value_threshold.upper_bound.value:g}"
    return failure.message or "threshold not met"
