"""The blessing policy (which metrics TFMA computes, what a candidate must clear), and its
results read back in our words for the run summary, the push record and the report."""

from __future__ import annotations

import tensorflow_model_analysis as tfma

from components import features

ACCURACY_METRIC = "sparse_categorical_accuracy"
LOSS_METRIC = "sparse_categorical_crossentropy"


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
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(
                        class_name="SparseCategoricalAccuracy", threshold=accuracy_threshold
                    ),
                    tfma.MetricConfig(class_name="SparseCategoricalCrossentropy"),
                ]
            )
        ],
    )


# Metric names in TFMA's output -> the short names the summary shows.
SUMMARY_METRICS = {
    "sparse_categorical_accuracy": "accuracy",
    "sparse_categorical_crossentropy": "loss",
    "example_count": "examples",
}
CANDIDATE = "candidate"
BASELINE = "baseline"


def read_metrics(evaluation_uri: str) -> dict[str, dict[str, float] | None]:
    """Overall-slice metrics of the candidate and (if there was one) the baseline model."""
    models: dict[str, dict[str, float]] = {}
    for slice_metrics in tfma.load_metrics(evaluation_uri):
        if slice_metrics.slice_key.single_slice_keys:
            continue
        for entry in slice_metrics.metric_keys_and_values:
            key = entry.key
            if key.name not in SUMMARY_METRICS or key.is_diff:
                continue
            model = key.model_name or CANDIDATE
            value = entry.value.double_value.value
            models.setdefault(model, {})[SUMMARY_METRICS[key.name]] = round(value, 4)
    return {"candidate": models.get(CANDIDATE), "baseline": models.get(BASELINE)}


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
