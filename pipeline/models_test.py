"""`make models` / `make rollback`: the listing and the rollback through the command line."""

import os

import pytest

from components.registry import registry
from pipeline import models
from pipeline.config import OutputLayout
from tests.helpers import save_tiny_model

pytestmark = pytest.mark.unit


@pytest.fixture
def serving(tmp_path):
    serving = str(tmp_path / "serving")
    for name, scale, accuracy, loss, baseline in [
        ("a", 1.0, 0.81, 0.52, None),
        ("b", 2.0, 0.84, 0.47, 1),
    ]:
        model = save_tiny_model(tmp_path / name, scale)
        record = {
            "model": {"fingerprint": registry.model_fingerprint(model)},
            "metrics": {"accuracy": accuracy, "loss": loss},
            "decision": {"baseline_version": baseline},
        }
        registry.publish(serving, model, record)
    return serving


def test_list_shows_each_version_its_metrics_and_which_is_served(serving, capsys):
    assert models.main(["--serving-dir", serving, "list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    first = next(line for line in lines if line.strip().startswith("1 "))
    second = next(line for line in lines if line.strip().startswith("* "))
    assert "0.8100" in first and "0.5200" in first and "first (no baseline)" in first
    assert "2" in second and "0.8400" in second and "beat version 1" in second
    assert "served (and the baseline of the next run): version 2" in out
    card = os.path.join(serving, "2", "model_card.md")
    assert f"Its model card: {card}" in out
    assert os.path.exists(card)


def test_list_of_an_empty_destination_says_so(tmp_path, capsys):
    assert models.main(["list"], environ={"SERVING_DIR": str(tmp_path)}) == 0
    assert "No model has been pushed yet." in capsys.readouterr().out


def test_rollback_serves_the_earlier_version_and_records_why(serving, capsys):
    code = models.main(["--serving-dir", serving, "rollback", "1", "--reason", "too slow"])

    assert code == 0
    assert "Version 1 is served again, as version 3" in capsys.readouterr().out
    served = registry.served_version(serving)
    assert served.number == 3
    assert served.record["decision"]["reason"] == "too slow"
    assert served.fingerprint == registry.get_version(serving, 1).fingerprint
    assert registry.model_fingerprint(served.path) == served.fingerprint


@pytest.mark.parametrize(
    ("version", "message"),
    [("9", "No version 9"), ("latest", "must be a version number"), ("2", "already the served")],
)
def test_a_bad_rollback_is_refused_by_name_and_changes_nothing(serving, version, message, capsys):
    assert models.main(["--serving-dir", serving, "rollback", version]) == 2
    assert message in capsys.readouterr().err
    assert [v.number for v in registry.list_versions(serving)] == [1, 2]


def test_the_listing_names_a_damaged_record_and_a_stray_folder(tmp_path, capsys):
    serving = tmp_path / "serving"
    version = registry.publish(str(serving), save_tiny_model(tmp_path / "m", 2.0), {})
    record = os.path.join(version.path, registry.RECORD_FILE)
    os.chmod(version.path, 0o755)
    os.chmod(record, 0o644)
    with open(record, "w") as f:
        f.write("{")
    (serving / "9").mkdir()

    assert models.main(["--serving-dir", str(serving), "list"], environ={}) == 0

    out = capsys.readouterr().out
    assert f"record unreadable: {record} is not a JSON record" in out
    assert "Not versions (numbered folders without a SavedModel, left as they are): 9" in out


def test_list_reads_the_registry_of_outputs_when_no_serving_dir_is_given(serving, tmp_path, capsys):
    outputs = tmp_path / "elsewhere"
    os.makedirs(outputs)
    os.symlink(serving, OutputLayout(str(outputs)).serving_dir)

    assert models.main(["list"], environ={"OUTPUTS": str(outputs)}) == 0

    out = capsys.readouterr().out
    assert out.startswith(f"Models in {OutputLayout(str(outputs)).serving_dir}:")
    assert "served (and the baseline of the next run): version 2" in out
