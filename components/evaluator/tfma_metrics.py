"""Custom TFMA metrics, named in the eval config by this module's import path.

TFMA has no argmax macro F1 that can carry a threshold: its F1Score binarizes each class at a
probability cut (0.5 by default), and top_k=1 cannot be macro-averaged over classes. This one is
derived from the same argmax confusion matrix that MultiClassConfusionMatrixPlot reports, so the
macro F1 that gates a model is the one the report shows.
"""

from __future__ import annotations

from tensorflow_model_analysis.metrics import (
    metric_types,
    metric_util,
    multi_class_confusion_matrix_metrics,
)

MACRO_F1_NAME = "macro_f1"


def macro_f1_from_matrix(counts: dict[tuple[int, int], float]) -> float:
    """Unweighted mean over classes of F1, from {(actual, predicted): count}.

    Classes are those that occur as actual or predicted ids (an id < 0 means "no prediction"
    and is not a class). A class never predicted or never present has F1 0, as in scikit-learn
    with zero_division=0.
    """
    classes = sorted({c for pair in counts for c in pair if c >= 0})
    if not classes:
        return 0.0
    f1s = []
    for k in classes:
        true_positives = counts.get((k, k), 0.0)
        support = sum(v for (actual, _), v in counts.items() if actual == k)
        predicted = sum(v for (_, pred), v in counts.items() if pred == k)
        denominator = support + predicted
        f1s.append(2 * true_positives / denominator if denominator else 0.0)
    return sum(f1s) / len(f1s)


class MacroF1(metric_types.Metric):
    """Macro-averaged F1 of argmax predictions (every class weighs the same)."""

    def __init__(self, name: str = MACRO_F1_NAME):
        # Called once per model (candidate, baseline) and output, as TFMA's own metrics are.
        super().__init__(metric_util.merge_per_key_computations(_macro_f1_computations), name=name)


def _macro_f1_computations(
    name: str = MACRO_F1_NAME,
    eval_config=None,
    model_name: str = "",
    output_name: str = "",
    example_weighted: bool = False,
) -> metric_types.MetricComputations:
    # Threshold 0.0: every example's top class counts as its prediction (argmax).
    computations = multi_class_confusion_matrix_metrics.multi_class_confusion_matrices(
        thresholds=[0.0],
        eval_config=eval_config,
        model_name=model_name,
        output_name=output_name,
        example_weighted=example_weighted,
    )
    matrices_key = computations[-1].keys[-1]
    key = metric_types.MetricKey(
        name=name,
        model_name=model_name,
        output_name=output_name,
        example_weighted=example_weighted,
    )

    def result(metrics):
        (entries,) = metrics[matrices_key].values()
        counts = {(e.actual_class_id, e.predicted_class_id): n for e, n in entries.items()}
        return {key: macro_f1_from_matrix(counts)}

    computations.append(metric_types.DerivedMetricComputation(keys=[key], result=result))
    return computations
