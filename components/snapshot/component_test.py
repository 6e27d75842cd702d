"""DataSnapshot's outputs, which are ImageExampleGen's parameters: the folder, and options whose
fingerprint changes exactly when the files do (what Kubeflow's parameter-keyed cache needs)."""

import os

import pytest

from components.example_gen import executor
from components.example_gen.executor import FINGERPRINT_KEY
from components.snapshot.component import DataSnapshot, fingerprint

pytestmark = pytest.mark.component


def snapshot_of(data_root, latest=False, input_format="images") -> dict:
    return DataSnapshot.test_call(
        data_root=str(data_root),
        input_format=input_format,
        max_bad_file_fraction=0.05,
        max_megapixels=2.5,
        latest=latest,
    )


def example_gen_options(snapshot: dict) -> dict:
    return executor.unpack_custom_config({"custom_config": snapshot["example_gen_config"]})


def test_carries_the_ingestion_options_and_a_fingerprint(image_folder):
    snapshot = snapshot_of(image_folder)

    assert snapshot["data_folder"] == str(image_folder)
    options = example_gen_options(snapshot)
    assert options[executor.INPUT_FORMAT_KEY] == "images"
    assert options[executor.MAX_BAD_FILE_FRACTION_KEY] == 0.05
    assert options[executor.MAX_MEGAPIXELS_KEY] == 2.5
    assert "num_files:7" in options[FINGERPRINT_KEY]


def test_fingerprint_is_stable_on_unchanged_files_and_moves_with_any_change(image_folder):
    first = snapshot_of(image_folder)
    assert snapshot_of(image_folder) == first

    (image_folder / "cat" / "new.png").write_bytes((image_folder / "cat" / "rgb.png").read_bytes())
    added = snapshot_of(image_folder)
    assert added["example_gen_config"] != first["example_gen_config"]

    # Same name and size, new content: the modification time moves the fingerprint.
    photo = image_folder / "dog" / "photo.JPEG"
    stat = photo.stat()
    os.utime(photo, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert snapshot_of(image_folder)["example_gen_config"] != added["example_gen_config"]


def test_latest_reads_the_last_snapshot(tmp_path, image_folder):
    (tmp_path / "root").mkdir()
    image_folder.rename(tmp_path / "root" / "2026-11-22")

    snapshot = snapshot_of(tmp_path / "root", latest=True)

    assert snapshot["data_folder"] == str(tmp_path / "root" / "2026-11-22")


def test_a_file_moved_to_another_class_folder_moves_the_fingerprint(image_folder):
    before = fingerprint(str(image_folder), "images")
    # Same bytes, same modification time (a rename keeps both): only its label changes.
    (image_folder / "cat" / "rgb.png").rename(image_folder / "dog" / "rgb.png")

    after = fingerprint(str(image_folder), "images")

    assert after != before
    assert after.split(",paths:")[0] == before.split(",paths:")[0]  # what TFX alone sees
