"""The demo dataset is the same bytes every time and every file decodes."""

import pytest

from components.example_gen import ingest
from pipeline import demo_data
from tests.helpers import tree_digest

pytestmark = pytest.mark.unit


def test_generation_is_deterministic_and_complete(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    demo_data.generate(str(first), per_class=6, seed=3)
    demo_data.generate(str(second), per_class=6, seed=3)

    assert tree_digest(str(first)) == tree_digest(str(second))
    scan = ingest.scan_image_folder(str(first), max_bad_file_fraction=0.0)
    assert scan.class_names == tuple(sorted(demo_data.CLASSES))
    assert set(scan.class_counts.values()) == {6}
    assert (first / demo_data.COMPLETE_MARKER).exists()


def test_another_seed_gives_other_images(tmp_path):
    demo_data.generate(str(tmp_path / "a"), per_class=2, seed=0)
    demo_data.generate(str(tmp_path / "b"), per_class=2, seed=1)
    assert tree_digest(str(tmp_path / "a")) != tree_digest(str(tmp_path / "b"))


def test_a_failed_generation_leaves_no_partial_folder(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(demo_data, "draw_example", fail)
    with pytest.raises(OSError):
        demo_data.generate(str(tmp_path / "demo"), per_class=2)
    assert list(tmp_path.iterdir()) == []
