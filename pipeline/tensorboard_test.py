"""`make tensorboard`: which logs it opens, and a clear line when there are none."""

import json

import pytest

from pipeline import exit_codes, tensorboard

pytestmark = pytest.mark.unit


def write_summary(outputs, training) -> None:
    outputs.mkdir(exist_ok=True)
    summary = {"status": "succeeded", "training": training}
    (outputs / "last_run.json").write_text(json.dumps(summary))


def test_the_last_runs_trainer_folder_is_the_log_folder(tmp_path):
    model_run = tmp_path / "pipeline" / "Trainer" / "model_run" / "8"
    model_run.mkdir(parents=True)
    write_summary(tmp_path / "outputs", {"model_run": str(model_run)})

    assert tensorboard.last_run_logdir(str(tmp_path / "outputs")) == str(model_run)


@pytest.mark.parametrize(
    ("summary", "message"),
    [
        (None, "no run in {outputs} yet ({outputs}/last_run.json is missing): run make local"),
        ("{", "{outputs}/last_run.json is not valid JSON"),
        ({"training": None}, "the last run in {outputs} left no training logs"),
        ({"training": {"model_run": "/gone"}}, "the last run in {outputs} left no training logs"),
    ],
)
def test_no_logs_to_show_is_one_line_saying_why(tmp_path, capsys, summary, message):
    outputs = tmp_path / "outputs"
    if summary is not None:
        outputs.mkdir()
        text = summary if isinstance(summary, str) else json.dumps(summary)
        (outputs / "last_run.json").write_text(text)

    code = tensorboard.main(["--outputs", str(outputs)], {})

    assert code == exit_codes.BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("error: " + message.format(outputs=outputs))
    assert len(err.splitlines()) == 1
