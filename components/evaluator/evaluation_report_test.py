"""The evaluation report says the verdict and why, puts candidate and baseline side by side,
and draws the confusion matrices (the pipeline writes it for real in the gate e2e)."""

import pytest
from PIL import Image

from components.evaluator import evaluation, evaluation_report
from components.evaluator.blessing import Gate

pytestmark = pytest.mark.unit

CLASSES = ["cat", "dog"]


def model(accuracy: float, matrix: list[list[int]]) -> dict:
    per_class = {
        name: {**row, "auc": 0.9}
        for name, row in zip(CLASSES, evaluation.per_class_from_matrix(matrix), strict=True)
    }
    overall = {"accuracy": accuracy, "loss": 0.5, "examples": 10, "macro_f1": 0.6}
    return {"overall": overall, "per_class": per_class, "confusion_matrix": matrix}


def test_a_refused_candidate_is_shown_against_the_served_version():
    found = {
        evaluation.CANDIDATE: model(0.5, [[5, 0], [5, 0]]),
        evaluation.BASELINE: model(0.8, [[4, 1], [1, 4]]),
    }
    failure = "accuracy change vs baseline -0.3000: worse than the baseline by more than 0.02"

    text = evaluation_report.render(found, CLASSES, Gate(), False, [failure], 3)

    assert "**Decision: not blessed.** Nothing is pushed; version 3 stays served." in text
    assert "Gate: accuracy at least 0.5, and not below the baseline's by more than 0.02." in text
    assert f"- {failure}" in text
    assert "| **accuracy** (gate) | 0.5000 | 0.8000 | -0.3000 (worse) |" in text
    assert "| loss | 0.5000 | 0.5000 | ±0 |" in text
    assert "| macro_auc | – | – | – |" in text  # not measured: said, not invented
    # dog: never predicted, so precision and F1 are 0; its baseline F1 is 0.8.
    assert "| dog | 5 | 0.0000 | 0.0000 | 0.0000 | 0.9000 | 0.8000 | 0.9000 |" in text
    assert "![Confusion matrix](confusion_matrix.png)" in text


def test_the_first_run_says_the_floor_alone_decided_and_a_loss_gate_reads_as_a_ceiling():
    found = {evaluation.CANDIDATE: model(0.9, [[5, 0], [1, 4]]), evaluation.BASELINE: None}

    text = evaluation_report.render(found, CLASSES, Gate("loss", 1.2, 0.1), True, [], 0)

    assert "**Decision: blessed.**" in text
    assert "Baseline: none (no model served yet), so the floor alone decided." in text
    assert "loss at most 1.2, and not above the baseline's by more than 0.1" in text
    assert "F1 baseline" not in text


def test_the_confusion_matrices_are_drawn_side_by_side(tmp_path):
    matrices = {"candidate": [[5, 0], [5, 0]], "baseline": [[4, 1], [1, 4]]}
    evaluation_report.plot_confusion_matrices(matrices, CLASSES, str(tmp_path / "both.png"))
    only_candidate = {"candidate": matrices["candidate"]}
    evaluation_report.plot_confusion_matrices(only_candidate, CLASSES, str(tmp_path / "one.png"))

    with Image.open(tmp_path / "both.png") as both, Image.open(tmp_path / "one.png") as one:
        assert both.format == one.format == "PNG"
        assert both.width == pytest.approx(2 * one.width, rel=0.05)


def test_a_class_missing_from_the_eval_split_is_flagged_not_scored():
    found = {evaluation.CANDIDATE: model(1.0, [[10, 0], [0, 0]]), evaluation.BASELINE: None}
    found[evaluation.CANDIDATE]["per_class"]["dog"]["auc"] = None

    text = evaluation_report.render(found, CLASSES, Gate(), True, [], 0)

    assert "| dog | 0 | – | – | – | – |" in text
    assert "**No examples in the eval split: dog.**" in text


def test_an_accepted_class_change_says_the_served_version_was_not_compared():
    change = "added ['fox'] (served: ['cat', 'dog']; now: ['cat', 'dog', 'fox'])"
    lines = evaluation_report.decision_lines(Gate(), True, [], 3, class_change=change)

    against = next(line for line in lines if line.startswith("Baseline:"))
    assert against.startswith("Baseline: not compared. Version 3")
    assert change in against and "floor alone decided" in against
