"""model_card.md: written with every version, from the record beside it."""

import os

import pytest

from components.registry import model_card, registry
from tests.helpers import save_tiny_model

pytestmark = pytest.mark.unit


def pushed_record(fingerprint: str) -> dict:
    """A push record as the Pusher writes one (components/registry/component.build_record)."""
    return {
        "decision": {
            "action": "push",
            "blessed": True,
            "baseline_version": 1,
            "gate": {"metric": "accuracy", "floor": 0.5, "tolerance": 0.02},
        },
        "model": {"fingerprint": fingerprint},
        "metrics": {"accuracy": 0.9125, "loss": 0.31, "macro_f1": 0.88, "examples": 80},
        "baseline_metrics": {"accuracy": 0.85, "loss": 0.42, "macro_f1": 0.8, "examples": 80},
        "class_names": ["cat", "dog", "owl"],
        "per_class": {
            "cat": {"precision": 0.95, "recall": 0.97, "f1": 0.96, "auc": 0.99, "support": 60},
            "dog": {"precision": 0.8, "recall": 0.85, "f1": 0.82, "auc": 0.95, "support": 14},
            "owl": {"precision": 0.6, "recall": 0.5, "f1": 0.55, "auc": 0.9, "support": 6},
        },
        "data": {
            "folder": "/data/animals/2026-12-01",
            "input_fingerprint": "split:single_split,num_files:400",
            "examples_uri": "/runs/ExampleGen/examples/7",
            "class_counts": {"cat": 300, "dog": 70, "owl": 30},
        },
        "config": {
            "trainer": {
                "kept": "partial",
                "kept_because": "fine-tuning beat the head",
                "train_examples": 320,
                "epochs_run": 12,
                "best_epoch": 9,
                "regularizers": {"dropout": 0.2, "l2_on_head": 0.0001, "augmentation": {}},
                "settings": {
                    "backbone": "mobilenet_v2",
                    "backbone_alpha": 0.35,
                    "image_size": 96,
                    "weights": "imagenet",
                },
            }
        },
        "code_version": "0.1.0+abc123",
    }


@pytest.fixture
def serving(tmp_path):
    serving = str(tmp_path / "serving")
    for scale in (1.0, 2.0):
        model = save_tiny_model(tmp_path / f"m{scale}", scale)
        registry.publish(serving, model, pushed_record(registry.model_fingerprint(model)))
    return serving


def card_of(version: registry.Version) -> str:
    with open(os.path.join(version.path, model_card.MODEL_CARD_FILE)) as f:
        return f.read()


def test_each_pushed_version_has_a_card_telling_what_its_record_says(serving):
    version = registry.served_version(serving)

    card = card_of(version)

    assert card.startswith("# Model card: version 2\n")
    assert f"Pushed {version.record['pushed_at']} by code `0.1.0+abc123`" in card
    assert "Images into 3 classes: `cat`, `dog`, `owl`." in card
    assert "- Folder: `/data/animals/2026-12-01`" in card
    assert "| owl | 30 |" in card
    assert "| metric | this version | version 1, served before |" in card
    assert "| accuracy | 0.9125 | 0.8500 |" in card
    assert "| dog | 0.8000 | 0.8500 | 0.8200 | 0.9500 | 14 |" in card
    blessed = "Blessed: `accuracy` at least 0.5, and not worse than version 1's by more than 0.02."
    assert blessed in card
    assert "- `mobilenet_v2` (width 0.35) at 96 px, from weights `imagenet`" in card
    assert "- Strategy: partial (fine-tuning beat the head)" in card


def test_the_known_limits_name_the_few_the_imbalanced_and_the_weakest(serving):
    card = card_of(registry.served_version(serving))
    limits = card.split("## Known limits\n")[1]

    assert "Fewer than 10 eval images for owl:" in limits
    assert "dog" not in limits.split("Imbalanced")[0]  # 14 eval images are enough
    assert "Imbalanced classes: cat has 300 images, owl 30;" in limits
    assert "Weakest class: owl, recall 0.50 on the eval split." in limits


def test_the_card_is_not_part_of_the_model(serving):
    """A card rewritten (or a rollback's own) never makes the same model look new."""
    first, second = registry.list_versions(serving)
    assert model_card.MODEL_CARD_FILE in os.listdir(first.path)
    assert registry.model_fingerprint(first.path) == first.record["model"]["fingerprint"]


def test_a_rollbacks_card_says_so_and_keeps_the_models_scores(serving):
    restored = registry.rollback(serving, 1, reason="v2 confuses owls")

    card = card_of(restored)

    assert card.startswith("# Model card: version 3\n")
    assert (
        "A rollback: the model of version 1, served again in place of version 2: "
        "v2 confuses owls." in card
    )
    assert "| owl | 0.6000 | 0.5000 | 0.5500 | 0.9000 | 6 |" in card
    assert "| metric | this version | version 2, served before |" in card
    assert "## The gate's decision" not in card


def test_a_record_without_its_parts_still_gets_a_card():
    card = model_card.render({"version": 4})

    assert card.startswith("# Model card: version 4\n")
    assert "## Scores on the eval split\n\nNot recorded." in card
    assert "## Training\n\nNot recorded." in card


def test_a_card_that_cannot_be_written_never_stops_the_push(tmp_path):
    model = save_tiny_model(tmp_path / "m", 1.0)
    record = pushed_record(registry.model_fingerprint(model))
    record["per_class"] = ["not", "a", "mapping"]  # hand-edited, or from an older version

    version = registry.publish(str(tmp_path / "serving"), model, record)

    assert version.number == 1
    assert registry.served_version(str(tmp_path / "serving")).record["per_class"] == [
        "not",
        "a",
        "mapping",
    ]
    assert model_card.MODEL_CARD_FILE not in os.listdir(version.path)
