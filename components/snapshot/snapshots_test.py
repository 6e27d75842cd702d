"""Which folder a run reads: the latest snapshot by name, and clear errors for wrong layouts."""

import pytest

from components.example_gen.ingest import DataError
from components.snapshot.snapshots import data_folder, latest_snapshot

pytestmark = pytest.mark.unit


def make_snapshots(root, names):
    for name in names:
        (root / name / "cat").mkdir(parents=True)
        (root / name / "cat" / "a.png").write_bytes(b"png")
    return root


def test_latest_is_the_last_by_name_skipping_uploads_in_progress_and_files(tmp_path):
    make_snapshots(tmp_path, ["2026-10-30", "2026-11-22", "2026-11-03", "_incoming", ".tmp"])
    (tmp_path / "zz-notes.txt").write_text("a file, not a snapshot")

    assert latest_snapshot(str(tmp_path)) == str(tmp_path / "2026-11-22")


def test_without_the_setting_the_folder_is_data_itself(tmp_path):
    make_snapshots(tmp_path, ["2026-11-22"])

    assert data_folder(str(tmp_path), latest=False) == str(tmp_path)
    assert data_folder(str(tmp_path), latest=True) == str(tmp_path / "2026-11-22")


def test_a_root_without_snapshots_is_named(tmp_path):
    make_snapshots(tmp_path, ["_incoming"])

    with pytest.raises(DataError, match=f"No snapshot folders in '{tmp_path}'"):
        latest_snapshot(str(tmp_path))


def test_an_image_folder_taken_for_snapshots_is_explained(tmp_path):
    # DATA is <class>/<image>: its last class folder is not a snapshot.
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "a.jpg").write_bytes(b"jpg")

    with pytest.raises(DataError, match="looks like an image folder"):
        latest_snapshot(str(tmp_path))


def test_a_missing_root_is_named(tmp_path):
    with pytest.raises(DataError, match="missing.*does not exist"):
        latest_snapshot(str(tmp_path / "missing"))
