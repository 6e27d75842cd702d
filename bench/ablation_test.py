"""The ablation compares what it claims to compare, and writes its table, numbers and chart."""

import dataclasses
import json

import numpy as np
import pytest

from bench import ablation
from components.trainer.model import build_backbone
from components.trainer.training_config import TrainingConfig
from components.transform.augmentation_spec import AugmentationSpec

pytestmark = pytest.mark.unit


def test_demo_split_holds_out_every_fifth_image_standardized_by_training_statistics():
    data = ablation.demo_split(per_class=10, image_size=32)

    classes = len(data.class_names)
    assert len(data.y_eval) == 2 * classes and len(data.y_train) == 8 * classes
    assert sorted(set(data.y_eval.tolist())) == list(range(classes))
    np.testing.assert_allclose(data.x_train.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(data.x_train.std(axis=(0, 1, 2)), 1.0, atol=1e-3)


def _differences(a: TrainingConfig, b: TrainingConfig) -> set[str]:
    return {f.name for f in dataclasses.fields(a) if getattr(a, f.name) != getattr(b, f.name)}


@pytest.mark.parametrize(
    ("variant", "changed"),
    [
        ("fine-tuning - dropout", {"dropout"}),
        ("fine-tuning - weight decay", {"weight_decay"}),
        ("fine-tuning - early stopping", {"early_stopping"}),
        ("fine-tuning - augmentation", set()),
        ("feature extraction", {"strategy"}),
        ("scratch", {"weights"}),  # with the Trainer's epoch budget from scratch
    ],
)
def test_each_variant_removes_exactly_one_thing_from_fine_tuning(variant, changed):
    base = TrainingConfig(weights="backbone.weights.h5")
    reference = ablation.variant_config(base, "fine-tuning", seed=1)

    assert _differences(reference, ablation.variant_config(base, variant, seed=1)) == changed
    expected = AugmentationSpec.off() if variant.endswith("augmentation") else AugmentationSpec()
    assert ablation.variant_augmentation(variant) == expected


def test_the_reference_is_the_trainer_with_every_default():
    base = TrainingConfig(weights="backbone.weights.h5")
    assert ablation.variant_config(base, "fine-tuning", seed=1) == dataclasses.replace(base, seed=1)
    assert ablation.variant_augmentation("fine-tuning") == AugmentationSpec()


def test_ablation_writes_the_table_the_numbers_and_the_chart(tmp_path):
    weights = tmp_path / "backbone.weights.h5"
    build_backbone(TrainingConfig(image_size=32)).save_weights(str(weights))
    out = tmp_path / "docs"

    ablation.main(
        [
            f"--weights={weights}",
            f"--out={out}",
            "--seeds=1",
            "--per-class=5",
            "--image-size=32",
            "--epochs=1",
            "--fine-tune-epochs=1",
            "--variants=scratch,fine-tuning - dropout",
        ]
    )

    report = (out / "ablation.md").read_text()
    assert "| scratch |" in report and "| fine-tuning - dropout |" in report
    numbers = json.loads((out / "ablation.json").read_text())
    assert [run["variant"] for run in numbers["runs"]] == ["scratch", "fine-tuning - dropout"]
    held_out = numbers["facts"]["eval_images"]
    for run in numbers["runs"]:
        # A share of the held-out images, rounded to 4 places: k of them right, for a whole k.
        right = run["val_accuracy"] * held_out
        assert right == pytest.approx(round(right), abs=held_out * 5e-5)
        assert run["gap"] == pytest.approx(run["train_accuracy"] - run["val_accuracy"], abs=2e-4)
    assert (out / "ablation.png").read_bytes().startswith(b"\x89PNG")


def test_unknown_variant_is_refused_by_name(tmp_path, capsys):
    with pytest.raises(SystemExit):
        ablation.main([f"--weights={tmp_path}", "--variants=scratch,no-such-thing"])
    assert "no-such-thing" in capsys.readouterr().err


def _row(variant, accuracy, gap, spread=0.0):
    return {
        "variant": variant,
        "val_accuracy": accuracy,
        "val_accuracy_min": accuracy - spread / 2,
        "val_accuracy_max": accuracy + spread / 2,
        "gap": gap,
    }


def test_findings_say_what_was_measured_including_where_a_regularizer_did_not_help():
    rows = [
        _row("scratch", 0.30, 0.60),
        _row("fine-tuning", 0.85, 0.05),
        _row("fine-tuning - dropout", 0.849, 0.05),  # one image: noise
        _row("fine-tuning - augmentation", 0.70, 0.25),  # augmentation helped
        _row("fine-tuning - weight decay", 0.90, 0.02),  # decay hurt
    ]

    text = "\n".join(ablation.findings(rows, eval_images=200))

    assert "fine-tuning vs scratch: validation accuracy +0.550: pretrained beats scratch" in text
    assert "dropout: with it, validation accuracy +0.001 (within noise, ±0.010)" in text
    assert "augmentation: with it, validation accuracy +0.150 (it helped)" in text
    assert "gap -0.200 (narrower with it)" in text
    assert "gap +0.030 (wider with it)" in text
    assert "weight decay: with it, validation accuracy -0.050 (it hurt)" in text
