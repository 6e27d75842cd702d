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


def test_folders_not_named_as_snapshots_are_ignored_and_named(tmp_path, caplog):
    # A name that would sort after the real latest by text: none of these is a snapshot.
    make_snapshots(tmp_path, ["2026-09-30", "2026-11-22", "old", "latest", "2026-9-30"])

    with caplog.at_level("WARNING"):
        assert latest_snapshot(str(tmp_path)) == str(tmp_path / "2026-11-22")

    assert "Not snapshots, ignored" in caplog.text
    assert "2026-9-30, latest, old" in caplog.text


def test_numbered_snapshots_are_taken_by_value_and_dated_ones_may_carry_a_time(tmp_path):
    make_snapshots(tmp_path / "numbers", ["9", "10", "0042"])
    make_snapshots(tmp_path / "times", ["2026-11-22T03-00", "2026-11-22T14-30", "2026-11-21"])

    assert latest_snapshot(str(tmp_path / "numbers")) == str(tmp_path / "numbers" / "0042")
    assert latest_snapshot(str(tmp_path / "times")) == str(tmp_path / "times" / "2026-11-22T14-30")


def test_dated_and_numbered_snapshots_mixed_are_refused(tmp_path):
    make_snapshots(tmp_path, ["2026-11-22", "7"])

    with pytest.raises(DataError, match="mixes dated snapshots .* numbered ones"):
        latest_snapshot(str(tmp_path))
