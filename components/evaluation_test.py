"""The blessing policy's config and the arithmetic that turns TFMA's confusion matrix into
per-class precision, recall and F1 (the pipeline's reading of TFMA output runs in the e2e)."""

import pytest
import tensorflow_model_analysis as tfma

from components import evaluation, features

pytestmark = pytest.mark.unit


def test_per_class_scores_from_a_confusion_matrix():
    # rows: actual a, b, c; columns: predicted a, b, c
    counts = [[3, 1, 0], [0, 2, 2], [0, 0, 0]]

    a, b, c = evaluation.per_class_from_matrix(counts)

    assert a == {"precision": 1.0, "recall": 0.75, "f1": pytest.approx(6 / 7), "support": 4}
    assert b["precision"] == pytest.approx(2 / 3)
    assert b["recall"] == 0.5
    assert b["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    # Predicted twice, never present: precision 0, recall 0 (no examples), F1 0.
    assert c == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_the_config_slices_by_true_class_and_gates_on_accuracy():
    config = evaluation.eval_config(accuracy_floor=0.6, regression_tolerance=0.05)

    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], [features.LABEL_KEY]]
    metrics = {m.class_name: m for m in config.metrics_specs[0].metrics}
    assert "MultiClassConfusionMatrixPlot" in metrics
    threshold = metrics["SparseCategoricalAccuracy"].threshold
    assert threshold.value_threshold.lower_bound.value == 0.6
    assert threshold.change_threshold.absolute.value == -0.05
    assert threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER


def test_per_class_auc_covers_every_class_and_their_macro_average():
    spec = evaluation.per_class_metrics_spec(num_classes=3)
    assert list(spec.binarize.class_ids.values) == [0, 1, 2]
    assert spec.aggregate.macro_average
    assert dict(spec.aggregate.class_weights) == {0: 1.0, 1: 1.0, 2: 1.0}
    assert [m.class_name for m in spec.metrics] == ["AUC"]
