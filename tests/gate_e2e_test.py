"""End to end, the gate: a better model replaces the served one, a crippled one does not.

Real LocalDagRunner runs on one tiny, easy data set (eight colour classes) and one registry.
Run 1 learns nothing (a backbone that sees nothing: every weight 0) and, with nothing
served yet, is judged by the floor alone and pushed as version 1. Run 2 trains properly, beats
version 1 measured again as its baseline, and is pushed as version 2 with its record; version 1
stays, byte for byte. Run 3 trains a crippled candidate (that backbone again): not blessed, nothing
pushed, version 2 still served. Run 4 brings the same classes as larger grayscale images: the
gate stops it before Transform as drift from version 2's training data.

The backbone is untrained with calibrated BatchNorm statistics (tests/helpers.py): quick to
make, and good enough for run 2 to learn colours. What this does not prove: anything about
model quality on real data.
"""

import os
import pathlib

import pytest
from PIL import Image

from components.evaluator.blessing import Gate
from components.registry import registry
from components.trainer.training_config import TrainingConfig
from components.transform.augmentation_spec import AugmentationSpec
from pipeline import exit_codes
from pipeline.config import CURATED_SCHEMA, PipelineConfig, file_digest
from tests.helpers import (
    COLOR_CLASSES,
    SMALL_DATA_EVAL_PERCENT,
    blind_backbone_weights,
    random_backbone_weights,
    run_and_read_summary,
    write_color_classes,
)

pytestmark = pytest.mark.e2e

IMAGE_SIZE = 32


def run(
    root, name: str, weights: str, data: str = "data", require_push: bool = False, **training
) -> tuple[int, dict]:
    config = PipelineConfig(
        data_root=str(root / data),
        pipeline_root=str(root / "pipeline"),
        serving_dir=str(root / "serving"),
        schema_path=str(CURATED_SCHEMA),
        metadata_path=str(root / "pipeline" / "metadata.sqlite"),
        gate=Gate(floor=0.0),  # the baseline decides here, not the floor
        eval_percent=SMALL_DATA_EVAL_PERCENT,
        augmentation=AugmentationSpec.off(),
        training=TrainingConfig(
            image_size=IMAGE_SIZE,
            batch_size=16,
            weights=weights,
            weights_digest=file_digest(weights),
            strategy="feature_extraction",
            early_stopping=False,
            **training,
        ),
    )
    return run_and_read_summary(config, root / f"outputs-{name}", require_push)


def drifted_copy(data: pathlib.Path) -> str:
    """The same classes and files, three times larger and in grayscale; returns its name."""
    for path in data.glob("*/*.png"):
        target = data.parent / "drifted" / path.relative_to(data)
        target.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:
            image.resize((image.width * 3, image.height * 3)).convert("L").save(target)
    return "drifted"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("gate")
    write_color_classes(str(root / "data"), per_class=12)
    weights = random_backbone_weights(
        str(root / "backbone.weights.h5"), str(root / "data"), IMAGE_SIZE
    )
    blind = blind_backbone_weights(str(root / "blind.weights.h5"), IMAGE_SIZE)
    # Version 1: untrained, blessed by the floor alone since nothing is served yet.
    weak = run(root, "weak", blind, epochs=1, learning_rate=1e-7)
    first = registry.served_version(str(root / "serving"))
    first_fingerprint = registry.model_fingerprint(first.path) if first else None
    good = run(root, "good", weights, epochs=30, learning_rate=0.01)
    served = registry.served_version(str(root / "serving"))
    served_fingerprint = registry.model_fingerprint(served.path) if served else None
    # Crippled like version 1, at another rate so that the Trainer runs again, not from cache.
    # With REQUIRE_PUSH, as a CI job that must deliver a model would run it.
    crippled = run(root, "crippled", blind, epochs=1, learning_rate=1e-8, require_push=True)
    drifted = run(root, "drifted", weights, data=drifted_copy(root / "data"), epochs=1)
    return {
        "root": root,
        "weak": weak,
        "good": good,
        "crippled": crippled,
        "drifted": drifted,
        "first_fingerprint": first_fingerprint,
        "served_after_good": served,
        "served_fingerprint": served_fingerprint,
    }


def test_the_first_run_is_blessed_by_the_floor_alone_and_pushed_as_version_1(runs):
    code, summary = runs["weak"]
    assert code == 0, summary["error"]
    assert summary["blessed"] is True
    assert summary["metrics"]["baseline"] is None
    assert summary["push"] == {"baseline_version": None, "version": 1, "already_pushed_as": None}
    assert summary["pushed_model_dir"] == os.path.join(runs["root"], "serving", "1")
    assert summary["components"]["BaselineModel"]["status"] == "complete"


def test_a_better_candidate_replaces_the_served_version_which_is_kept(runs):
    _, weak = runs["weak"]
    code, summary = runs["good"]
    serving = str(runs["root"] / "serving")

    assert code == 0, summary["error"]
    assert summary["blessed"] is True
    # Version 1 was measured again, on the same eval split, as the baseline.
    assert summary["metrics"]["baseline"] == weak["metrics"]["candidate"]
    assert summary["metrics"]["candidate"]["accuracy"] > weak["metrics"]["candidate"]["accuracy"]
    assert summary["push"] == {"baseline_version": 1, "version": 2, "already_pushed_as": None}
    assert summary["pushed_model_dir"] == os.path.join(serving, "2")
    assert runs["served_after_good"].number == 2
    # The old version stays, unchanged, for a rollback.
    [first] = [v for v in registry.list_versions(serving) if v.number == 1]
    assert registry.model_fingerprint(first.path) == runs["first_fingerprint"]


def test_the_pushed_version_carries_its_record(runs):
    served = runs["served_after_good"]
    _, summary = runs["good"]
    _, weak = runs["weak"]
    record = served.record

    assert record["version"] == 2
    assert record["decision"]["action"] == "push"
    assert record["decision"]["baseline_version"] == 1
    assert record["decision"]["gate"] == {"metric": "accuracy", "floor": 0.0, "tolerance": 0.02}
    assert record["metrics"] == summary["metrics"]["candidate"]
    assert record["baseline_metrics"] == weak["metrics"]["candidate"]
    assert set(record["metrics"]) == {"accuracy", "loss", "examples", "macro_f1", "macro_auc"}
    assert record["class_names"] == sorted(COLOR_CLASSES)
    matrix = record["confusion_matrix"]
    assert sum(map(sum, matrix)) == record["metrics"]["examples"]
    correct = sum(matrix[k][k] for k in range(len(matrix)))
    accuracy = correct / record["metrics"]["examples"]
    assert accuracy == pytest.approx(record["metrics"]["accuracy"], abs=1e-4)  # rounded
    for name, scores in record["per_class"].items():
        # Every class has eval images: a run without them is refused (splits.py).
        row = matrix[record["class_names"].index(name)]
        assert scores["support"] == sum(row) > 0, name
        diagonal = row[record["class_names"].index(name)]
        assert scores["recall"] == pytest.approx(diagonal / scores["support"], abs=1e-4), name
        assert isinstance(scores["auc"], float), name
    # The gateable macro F1 (a TFMA metric of ours) agrees with the per-class table.
    f1s = [s["f1"] for s in record["per_class"].values() if s["f1"] is not None]
    assert record["metrics"]["macro_f1"] == pytest.approx(sum(f1s) / len(f1s), abs=1e-4)
    assert record["model"]["fingerprint"] == runs["served_fingerprint"]
    assert record["data"]["input_fingerprint"]
    assert sum(record["data"]["class_counts"].values()) == 8 * 12
    assert record["data"]["folder"] == str(runs["root"] / "data")
    assert record["config"]["pipeline"]["training"]["epochs"] == 30
    assert record["config"]["trainer"]["settings"]["learning_rate"] == 0.01
    assert record["code_version"].startswith("0.1.0")


def test_a_crippled_candidate_is_not_blessed_and_nothing_is_pushed(runs):
    _, good = runs["good"]
    code, summary = runs["crippled"]

    assert code == exit_codes.NOT_PUSHED, summary["error"]
    assert summary["components"]["Trainer"]["status"] == "complete"
    assert summary["blessed"] is False
    # The baseline is version 2, measured again on the same eval split.
    assert summary["push"]["baseline_version"] == 2
    assert summary["metrics"]["baseline"] == good["metrics"]["candidate"]
    assert summary["metrics"]["candidate"]["accuracy"] < good["metrics"]["candidate"]["accuracy"]
    assert any("worse than the baseline" in reason for reason in summary["not_blessed_because"])
    assert summary["pushed_model_dir"] is None
    assert summary["push"]["version"] is None


def test_each_run_writes_an_evaluation_report_the_summary_links(runs):
    _, weak = runs["weak"]
    _, crippled = runs["crippled"]
    first = pathlib.Path(weak["evaluation_report"]).read_text()
    second = pathlib.Path(crippled["evaluation_report"]).read_text()

    assert "**Decision: blessed.**" in first
    assert "Baseline: none (no model served yet), so the floor alone decided." in first
    assert "**Decision: not blessed.** Nothing is pushed; version 2 stays served." in second
    assert "accuracy change vs baseline" in second
    for name in COLOR_CLASSES:
        assert f"| {name} |" in second
    report_dir = os.path.dirname(crippled["evaluation_report"])
    with open(os.path.join(report_dir, "confusion_matrix.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_the_served_version_is_unchanged_after_the_rejected_run(runs):
    serving = str(runs["root"] / "serving")
    assert [v.number for v in registry.list_versions(serving)] == [1, 2]
    assert (
        registry.model_fingerprint(registry.served_version(serving).path)
        == (runs["served_fingerprint"])
    )
    assert not [name for name in os.listdir(serving) if name.startswith(registry.PARTIAL_PREFIX)]


def test_data_that_drifted_from_the_served_versions_stops_before_transform(runs):
    code, summary = runs["drifted"]

    assert code == exit_codes.DATA_REFUSED
    assert summary["components"]["ValidationGate"]["status"] == "failed"
    assert "drifted from what trained the served version 2" in summary["error"]
    for feature in ("image_height", "image_width"):
        assert f"'{feature}'" in summary["error"], feature
    assert "Now 72; in the served version's training data 24." in summary["error"]
    assert "Now 1; in the served version's training data 3." in summary["error"]
    for name in ["Transform", "Trainer", "Evaluator", "Pusher"]:
        assert summary["components"][name]["status"] == "not run", name
