"""The blessing policy (which metrics TFMA computes, what a candidate must clear), and its
results read back in our words for the run summary, the push record and the report."""

from __future__ import annotations

import tensorflow_model_analysis as tfma

from components import features

ACCURACY_METRIC = "sparse_categorical_accuracy"
LOSS_METRIC = "sparse_categorical_crossentropy"


def per_class_metrics_spec(num_classes: int) -> tfma.MetricsSpec:
    """One-vs-rest AUC of each class and their macro average.

    Needs the class count, which only ExampleGen knows: the Evaluator's executor adds this spec
    at run time (components/evaluator/executor.py).
    """
    class_ids = list(range(num_classes))
    return tfma.MetricsSpec(
        metrics=[tfma.MetricConfig(class_name="AUC")],
        binarize=tfma.BinarizationOptions(class_ids={"values": class_ids}),
        # Equal weights: the macro average is the plain mean over classes.
        aggregate=tfma.AggregationOptions(
            macro_average=True, class_weights=dict.fromkeys(class_ids, 1.0)
        ),
    )


def eval_config(accuracy_floor: float, regression_tolerance: float) -> tfma.EvalConfig:
    """Blessed only if accuracy >= floor and not below the baseline's by more than tolerance.

    With no baseline (first run) TFMA checks the floor alone.
    """
    accuracy_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": accuracy_floor}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -regression_tolerance},
        ),
    )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                # Said, not inferred: left unset, TFMA loads every model once with Keras just to
                # find its type, then again to evaluate (10-15 s a load here). As a generic
                # SavedModel it is loaded once, by tf.saved_model.load, and called through the
                # signature below.
                model_type=tfma.TF_GENERIC,
                signature_name=features.EXAMPLES_SIGNATURE,
                label_key=features.LABEL_KEY,
                prediction_key=features.PROBABILITIES_KEY,
            )
        ],
        # Overall, and per true class (accuracy on the slice label=k is class k's recall).
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[features.LABEL_KEY])],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(
                        class_name="SparseCategoricalAccuracy", threshold=accuracy_threshold
                    ),
                    tfma.MetricConfig(class_name="SparseCategoricalCrossentropy"),
                    # Argmax predictions against labels: per-class precision, recall, F1.
                    tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
                ]
            )
        ],
    )


# Metric names in TFMA's output -> the short names the summary shows (overall slice).
SUMMARY_METRICS = {
    "sparse_categorical_accuracy": "accuracy",
    "sparse_categorical_crossentropy": "loss",
    "example_count": "examples",
}
# Derived from TFMA's confusion matrix and per-class AUC (see read_evaluation).
MACRO_METRICS = ("macro_f1", "macro_auc")
CANDIDATE = "candidate"
BASELINE = "baseline"
AUC_METRIC = "auc"


def _model(key) -> str:
    return key.model_name or CANDIDATE


def _is_overall(slice_key) -> bool:
    return not slice_key.single_slice_keys


def _sliced_label(slice_key) -> int | None:
    for single in slice_key.single_slice_keys:
        if single.column == features.LABEL_KEY:
            return int(single.int64_value)
    return None


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


def per_class_from_matrix(counts: list[list[int]]) -> list[dict[str, float]]:
    """Precision, recall, F1 and support of each class from an argmax confusion matrix.

    A class never predicted has precision 0, one absent from the data recall 0 (and both F1
    0): the conventions scikit-learn uses with zero_division=0.
    """
    rows = []
    for k in range(len(counts)):
        true_positives = counts[k][k]
        support = sum(counts[k])
        predicted = sum(row[k] for row in counts)
        precision = true_positives / predicted if predicted else 0.0
        recall = true_positives / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"precision": precision, "recall": recall, "f1": f1, "support": support})
    return rows


def read_evaluation(evaluation_uri: str, class_names: list[str]) -> dict[str, dict | None]:
    """Everything the Evaluator measured, per model (candidate, baseline or None):
    `overall` (accuracy, loss, examples, macro_f1, macro_auc), `per_class` (name -> precision,
    recall, f1, auc, support, slice_accuracy) and `confusion_matrix` (rows actual, columns
    predicted, in class-name order)."""
    num_classes = len(class_names)
    models: dict[str, dict] = {}

    def model_entry(name: str) -> dict:
        return models.setdefault(name, {"overall": {}, "per_class": {c: {} for c in class_names}})

    for slice_metrics in tfma.load_metrics(evaluation_uri):
        label = _sliced_label(slice_metrics.slice_key)
        overall = _is_overall(slice_metrics.slice_key)
        for entry in slice_metrics.metric_keys_and_values:
            key = entry.key
            if key.is_diff or not entry.value.HasField("double_value"):
                continue
            value = entry.value.double_value.value
            model = model_entry(_model(key))
            if overall and key.name in SUMMARY_METRICS:
                model["overall"][SUMMARY_METRICS[key.name]] = value
            elif overall and key.name == AUC_METRIC:
                if key.aggregation_type.macro_average:
                    model["overall"]["macro_auc"] = value
                elif key.sub_key.HasField("class_id"):
                    class_id = key.sub_key.class_id.value
                    if class_id < num_classes:
                        model["per_class"][class_names[class_id]]["auc"] = value
            elif label is not None and 0 <= label < num_classes and key.name == ACCURACY_METRIC:
                model["per_class"][class_names[label]]["slice_accuracy"] = value
    for name, counts in confusion_matrices(evaluation_uri, num_classes).items():
        model = model_entry(name)
        model["confusion_matrix"] = counts
        rows = per_class_from_matrix(counts)
        for class_name, row in zip(class_names, rows, strict=True):
            model["per_class"][class_name].update(row)
        model["overall"]["macro_f1"] = sum(r["f1"] for r in rows) / max(num_classes, 1)
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
            name = SUMMARY_METRICS.get(failure.metric_key.name, failure.metric_key.name)
            value = failure.metric_value.double_value.value
            if failure.metric_key.is_diff:
                name, shown = f"{name} change vs baseline", f"{value:+.4f}"
            else:
                shown = f"{value:.4f}"
            failures.append(f"{name} {shown}: {_failure_reason(failure)}")
    return failures


def _failure_reason(failure) -> str:
    threshold = failure.metric_threshold
    if failure.metric_key.is_diff:
        allowed = abs(threshold.change_threshold.absolute.value)
        return f"worse than the baseline by more than the tolerance {allowed:g}"
    if threshold.value_threshold.HasField("lower_bound"):
        return f"below the floor {threshold.value_threshold.lower_bound.value:g}"
    return failure.message or "threshold not met"
