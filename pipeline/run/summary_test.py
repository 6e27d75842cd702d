"""The end-of-run table says what happened, including what went wrong and what was skipped."""

import json

import pytest

from pipeline.run import summary as run_summary

pytestmark = pytest.mark.unit


def summary(**overrides):
    base = {
        "status": "succeeded",
        "error": None,
        "pipeline_root": "/p",
        "log_file": "/logs/run.log",
        "components": {
            "ImageExampleGen": {"status": "cached", "seconds": 0.0, "cached": True},
            "Trainer": {"status": "complete", "seconds": 61.25, "cached": False},
        },
        "peak_memory_mb": 2458,
        "metrics": {
            "candidate": {"accuracy": 0.41, "loss": 1.2, "examples": 226.0},
            "baseline": None,
        },
        "blessed": False,
        "not_blessed_because": ["accuracy 0.4100: below the floor 0.5"],
        "pushed_model_dir": None,
        "push": {"baseline_version": 3, "version": None, "already_pushed_as": None},
        "data": {"skipped_files": [{"path": "cats/bad.jpg", "reason": "empty file"}]},
    }
    return {**base, **overrides}


def test_with_nothing_served_the_table_says_the_floor_alone_decides():
    first_run = summary(push={"baseline_version": None, "version": None, "already_pushed_as": None})

    assert "(no model served yet: the floor alone decides)" in run_summary.format_table(first_run)


def test_table_shows_components_cache_metrics_and_why_not_blessed():
    table = run_summary.format_table(summary())

    assert "ImageExampleGen         cached            0.0  hit" in table
    assert "Trainer                 complete         61.2" in table
    assert "total                                    61.2" in table
    assert "Peak memory: 2.4 GB" in table
    assert "accuracy          0.4100           -" in table
    assert "examples             226           -" in table
    assert "(version 3 not compared: see the evaluation report)" in table
    assert "cats/bad.jpg: empty file" in table
    assert "Blessed: no\n  accuracy 0.4100: below the floor 0.5" in table
    assert "Pushed: nothing; version 3 stays served" in table


def test_table_leaves_out_a_peak_it_was_not_given():
    assert "Peak memory" not in run_summary.format_table(summary(peak_memory_mb=None))


def test_table_says_which_version_was_pushed_or_already_held():
    pushed = summary(
        blessed=True,
        pushed_model_dir="/serving/4",
        push={"baseline_version": 3, "version": 4, "already_pushed_as": None},
    )
    assert "Pushed: version 4 at /serving/4" in run_summary.format_table(pushed)
    again = summary(
        blessed=True, push={"baseline_version": 2, "version": None, "already_pushed_as": 2}
    )
    assert "Not pushed again: this model is already version 2" in run_summary.format_table(again)


def test_table_links_the_evaluation_report():
    table = run_summary.format_table(summary(evaluation_report="/p/Evaluator/7/report/report.md"))
    assert "Evaluation report: /p/Evaluator/7/report/report.md" in table


def test_table_of_a_failed_run_leads_with_the_error():
    table = run_summary.format_table(
        summary(status="failed", error="DataError: 3 of 9 image files cannot be decoded")
    )
    assert "Run FAILED: DataError: 3 of 9 image files cannot be decoded" in table


def test_json_is_written_whole(tmp_path):
    path = tmp_path / "out" / "last_run.json"
    run_summary.write_json(summary(), str(path))
    assert json.loads(path.read_text()) == summary()
    assert [p.name for p in path.parent.iterdir()] == ["last_run.json"]


def test_a_run_that_never_started_has_every_component_not_run(tmp_path):
    result = run_summary.collect(
        pipeline_root=str(tmp_path),
        metadata_path=str(tmp_path / "missing.sqlite"),
        pipeline_name="p",
        node_ids=["A", "B"],
    )
    assert {c["status"] for c in result["components"].values()} == {run_summary.NOT_RUN}
    assert result["blessed"] is False
    assert result["pushed_model_dir"] is None
    assert result["metrics"] == {"candidate": None, "baseline": None}


def test_table_shows_the_tuned_values_and_where_the_learning_curves_are(tmp_path):
    curves = tmp_path / "learning_curves.png"
    curves.write_bytes(b"png")
    table = run_summary.format_table(
        summary(
            tuned_hyperparameters={"dropout": 0.3, "learning_rate": 0.00123456},
            training={"learning_curves": str(curves), "effective_config": "unused"},
        )
    )
    assert "Tuner's best values (the Trainer used them): dropout=0.3, learning_rate=0.00123" in (
        table
    )
    assert f"Learning curves: {curves}" in table
    assert "Tuner" not in run_summary.format_table(summary())


def test_table_repeats_the_data_warnings():
    warning = "Imbalanced classes: rare 2 images, against 20 for common."
    table = run_summary.format_table(summary(data={"skipped_files": [], "warnings": [warning]}))

    assert f"Warning: {warning}" in table
