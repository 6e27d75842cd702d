"""make backbone-sources: its sources hold what they say, and its report follows the numbers."""

import numpy as np
import pytest

from bench import backbone_sources, quality_data
from pipeline import demo_data

pytestmark = pytest.mark.unit


def test_a_mixed_source_numbers_fractal_categories_after_the_shapes():
    source = backbone_sources.Source(
        "tiny", shapes_per_class=2, fractal_classes=3, fractal_per_class=2
    )

    images, labels = backbone_sources.source_images(source, image_size=32)

    shapes = len(demo_data.SOURCE_CLASSES)
    assert images.shape == (2 * shapes + 3 * 2, 32, 32, 3) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [2] * (shapes + 3)


def test_the_random_control_is_not_pretrained(tmp_path):
    assert backbone_sources.backbone_weights("random", str(tmp_path), epochs=1) == (
        "none",
        {},
        False,
    )
    assert not list(tmp_path.iterdir())


def test_a_data_set_loads_as_ingestion_takes_it_broken_files_skipped_channels_standardized():
    files = list(quality_data.DATASETS["digits"][1]())

    images, labels = backbone_sources.load_images("digits", image_size=32)

    assert len(images) == len(labels) == len(files) - quality_data.BROKEN_DIGITS
    assert images.shape[1:] == (32, 32, 3)
    moments = images.astype(np.float64)  # its float32 moments drift by ~1e-3 here
    assert moments.mean((0, 1, 2)) == pytest.approx([0, 0, 0], abs=1e-3)
    assert moments.std((0, 1, 2)) == pytest.approx([1, 1, 1], abs=1e-3)
    assert sorted(set(labels.tolist())) == list(range(10))


def _row(source, scores, held=0.5):
    return {
        "source": source,
        "record": {"source_heldout_accuracy": held, "train_seconds": 10, "generate_seconds": 1},
        "probe": {
            name: {"block_3_expand_relu": 0.5, "top": score} for name, score in scores.items()
        },
    }


def test_the_report_names_the_best_source_per_data_set_and_whether_it_beats_the_noise():
    saved = {
        "facts": {
            "command": "make backbone-sources",
            "machine": "m",
            "date": "d",
            "minutes": 1,
            "epochs": 20,
        },
        "images": {"photos": 400, "digits": 1800},
        "sources": [
            _row("shapes", {"photos": 0.80, "digits": 0.90}),
            {**_row("fractals", {"photos": 0.90, "digits": 0.915}), "reused": True},
        ],
    }

    text = backbone_sources.markdown(saved)

    assert (
        "| fractals | 64 fractal categories, 100 images each | 0.500 | 11 | **0.900 (top)** |"
        in text
    )
    assert "Weights of fractals were pretrained by an earlier run and reused" in text
    assert "- photos: fractals 0.900 against shapes 0.800, +0.100 (noise 0.025: real)" in text
    assert (
        "- digits: fractals 0.915 against shapes 0.900, +0.015 (noise 0.010: within the noise)"
        in text
    )


def test_weights_made_with_the_same_epochs_are_reused_and_said_to_be(tmp_path):
    (tmp_path / "fractals.weights.h5").write_bytes(b"weights")
    (tmp_path / "fractals.weights.h5.json").write_text('{"epochs": 3, "train_seconds": 5}')

    path, record, reused = backbone_sources.backbone_weights("fractals", str(tmp_path), epochs=3)

    assert path == str(tmp_path / "fractals.weights.h5")
    assert record == {"epochs": 3, "train_seconds": 5} and reused
