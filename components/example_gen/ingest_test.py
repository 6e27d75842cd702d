"""Ingestion on a handful of real files: formats, corrupt files, and every bad folder shape."""

import pytest
import tensorflow as tf

from components import features
from components.example_gen import ingest
from components.transform import preprocessing
from tests.helpers import encode_image, tree_digest

pytestmark = pytest.mark.unit


def test_scan_reads_every_format_and_ignores_non_images(image_folder):
    scan = ingest.scan_image_folder(str(image_folder))

    assert scan.class_names == ("cat", "dog")
    assert dict(scan.files) == {
        "cat/gray.jpg": 0,
        "cat/rgb.png": 0,
        "cat/rgba.png": 0,
        "dog/bitmap.BMP": 1,
        "dog/palette.gif": 1,
        "dog/photo.JPEG": 1,
    }
    assert scan.ignored == ("dog/notes.txt",)
    assert scan.rejected == ()
    assert scan.class_counts == {"cat": 3, "dog": 3}


def test_scan_records_each_images_shape_as_stored(image_folder):
    (image_folder / "cat" / "tall.png").write_bytes(encode_image("RGB", size=(30, 70)))

    shapes = ingest.scan_image_folder(str(image_folder)).shapes

    # encode_image's default size is 20 wide, 16 high; channels are the file's own.
    assert shapes == {
        "cat/gray.jpg": (16, 20, 1),
        "cat/rgb.png": (16, 20, 3),
        "cat/rgba.png": (16, 20, 4),
        "cat/tall.png": (70, 30, 3),
        "dog/bitmap.BMP": (16, 20, 3),
        "dog/palette.gif": (16, 20, 3),
        "dog/photo.JPEG": (16, 20, 3),
    }


def test_corrupt_files_are_skipped_and_named_within_the_threshold(image_folder):
    good = encode_image("RGB", fmt="JPEG", seed=9)
    (image_folder / "cat" / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (image_folder / "dog" / "empty.png").write_bytes(b"")
    before = tree_digest(str(image_folder))

    scan = ingest.scan_image_folder(str(image_folder), max_bad_file_fraction=0.5)

    reasons = {r.path: r.reason for r in scan.rejected}
    assert set(reasons) == {"cat/truncated.jpg", "dog/empty.png"}
    assert reasons["dog/empty.png"] == "empty file"
    assert "not a decodable image" in reasons["cat/truncated.jpg"]
    assert "cat/truncated.jpg" not in dict(scan.files)
    assert tree_digest(str(image_folder)) == before, "ingestion must not modify the input"


def test_too_many_undecodable_files_fail_naming_each(image_folder):
    (image_folder / "cat" / "page.png").write_bytes(b"<html>404 Not Found</html>")

    with pytest.raises(ingest.DataError) as raised:
        ingest.scan_image_folder(str(image_folder), max_bad_file_fraction=0.01)

    message = str(raised.value)
    assert "1 of 7 image files" in message
    assert "cat/page.png" in message
    assert "1.0%" in message


def test_class_left_without_decodable_images_fails(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "ok.png").write_bytes(encode_image())
    (tmp_path / "b" / "bad.png").write_bytes(b"garbage")

    with pytest.raises(ingest.DataError, match="No decodable images left for class.*b"):
        ingest.scan_image_folder(str(tmp_path), max_bad_file_fraction=1.0)


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        (None, "does not exist"),
        ({}, "is empty"),
        ({"loose.png": "image"}, "no class subfolders.*loose.png"),
        ({"cat/a.png": "image", "dog/readme.txt": b"text"}, "no images.*dog"),
        ({"cat/a.png": "image", "cat/b.png": "image"}, "one class.*'cat'"),
    ],
    ids=["missing", "empty", "no-class-folders", "class-without-images", "one-class"],
)
def test_unusable_folders_get_a_clear_error(tmp_path, layout, expected):
    root = tmp_path / "data"
    if layout is not None:
        root.mkdir()
        for relative, content in layout.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(encode_image() if content == "image" else content)

    with pytest.raises(ingest.DataError, match=expected):
        ingest.list_image_files(str(root))


def test_a_file_given_as_data_folder_is_rejected(tmp_path):
    path = tmp_path / "one.png"
    path.write_bytes(encode_image())
    with pytest.raises(ingest.DataError, match="is a file"):
        ingest.list_image_files(str(path))


def test_a_checked_example_keeps_the_bytes_label_and_name(image_folder):
    example = ingest.checked_example(str(image_folder), "dog/photo.JPEG", 1)

    found = example.features.feature
    assert (
        found[features.IMAGE_KEY].bytes_list.value[0]
        == (image_folder / "dog" / "photo.JPEG").read_bytes()
    )
    assert list(found[features.LABEL_KEY].int64_list.value) == [1]
    assert found[features.FILENAME_KEY].bytes_list.value[0] == b"dog/photo.JPEG"


def shape_of(example: tf.train.Example) -> tuple[int, ...]:
    found = example.features.feature
    return tuple(
        found[key].int64_list.value[0] for key in features.IMAGE_SHAPE_KEYS if key in found
    )


def test_a_checked_example_records_the_shape_as_stored(image_folder):
    stored = tf.io.decode_image((image_folder / "cat" / "gray.jpg").read_bytes()).shape
    example = ingest.checked_example(str(image_folder), "cat/gray.jpg", 0)
    assert shape_of(example) == tuple(stored)
    assert stored[-1] == 1, "the grayscale file's one channel, not the decoder's RGB"
    assert shape_of(ingest.make_example(b"", 0, "cat/gray.jpg")) == ()


def test_a_file_that_cannot_be_used_is_a_reason_not_an_example(image_folder):
    (image_folder / "cat" / "broken.png").write_bytes(b"not an image")
    rejected = ingest.checked_example(str(image_folder), "cat/broken.png", 0)
    assert isinstance(rejected, ingest.RejectedFile)
    assert (rejected.path, rejected.reason[:22]) == ("cat/broken.png", "not a decodable image ")


def test_tfrecord_examples_get_their_images_shape_unless_they_have_one():
    example = ingest.make_example(encode_image("L", size=(9, 4)), 0, "gray.png")
    assert shape_of(ingest.with_image_shape(example)) == (4, 9, 1)
    assert shape_of(example) == (), "the input example is left as it was"

    given = ingest.make_example(encode_image(), 0, "x.png", (1, 2, 3))
    assert ingest.with_image_shape(given) == given


def test_a_tfrecord_image_that_does_not_decode_is_named_and_a_missing_one_passes():
    broken = ingest.make_example(b"<html>oops</html>", 0, "shard-3/17")
    with pytest.raises(ingest.DataError, match=r"'shard-3/17' has an image that cannot be used"):
        ingest.with_image_shape(broken)

    imageless = ingest.make_example(b"", 0, "y")
    del imageless.features.feature[features.IMAGE_KEY]
    assert ingest.with_image_shape(imageless) == imageless  # the schema's to report


@pytest.mark.parametrize("shape_recorded", [False, True], ids=["bare", "shape-recorded"])
def test_a_tfrecord_image_above_the_pixel_cap_is_named(shape_recorded):
    """Refused whether or not the example carries its shape already: Transform would refuse it."""
    image = encode_image(size=(40, 30))  # 1200 pixels
    shape = (30, 40, 3) if shape_recorded else None
    large = ingest.make_example(image, 0, "shard-1/4", shape)

    with pytest.raises(ingest.DataError, match=r"'shard-1/4' .* 40x30 pixels, above the cap of"):
        ingest.with_image_shape(large, max_megapixels=0.001)

    assert ingest.with_image_shape(large, max_megapixels=0.0012).features.feature[
        features.IMAGE_SHAPE_KEYS[0]
    ].int64_list.value == [30]


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P"])
def test_every_channel_layout_decodes_to_rgb(mode):
    image = preprocessing.decode_image(encode_image(mode, size=(7, 5), fmt="PNG"))
    assert image.shape == (5, 7, 3)
    assert image.dtype == tf.uint8


def test_tfrecord_folder_needs_class_names(tmp_path):
    (tmp_path / "part-0.tfrecord").write_bytes(b"")
    assert ingest.detect_input_format(str(tmp_path)) == "tfrecord"
    with pytest.raises(ingest.DataError, match="class_names.txt"):
        ingest.read_tfrecord_class_names(str(tmp_path))

    (tmp_path / "class_names.txt").write_text("cat\ndog\n")
    assert ingest.read_tfrecord_class_names(str(tmp_path)) == ["cat", "dog"]


def test_imbalance_is_warned_from_ten_to_one_naming_each_rare_class():
    assert ingest.imbalance_warning({"a": 100, "b": 11, "c": 50}) is None
    warning = ingest.imbalance_warning({"a": 100, "b": 10, "c": 3, "d": 50})
    assert warning.startswith("Imbalanced classes: c 3, b 10 images, against 100 for a.")


def test_the_ingestion_report_carries_the_warning(tmp_path):
    for name, count in (("common", 10), ("rare", 1)):
        (tmp_path / name).mkdir()
        for i in range(count):
            (tmp_path / name / f"{i}.png").write_bytes(encode_image(seed=i))

    report = ingest.scan_image_folder(str(tmp_path)).to_report()

    assert report["class_counts"] == {"common": 10, "rare": 1}
    assert report["warnings"] == [ingest.imbalance_warning({"common": 10, "rare": 1})]


def labelled(label: int | None, filename: str = "x.png") -> tf.train.Example:
    example = ingest.make_example(encode_image(), 0, filename)
    if label is None:
        del example.features.feature[features.LABEL_KEY]
    else:
        example.features.feature[features.LABEL_KEY].int64_list.value[:] = [label]
    return example


def test_a_label_beyond_class_names_is_named_and_a_known_or_missing_one_passes():
    names = ["cat", "dog"]
    assert ingest.check_label(labelled(1), names) == labelled(1)
    assert ingest.check_label(labelled(None), names) == labelled(None)  # the schema's to report
    expected = r"'bird/7.png' has label 2, .* 2 classes \(ids 0-1\)"
    with pytest.raises(ingest.DataError, match=expected):
        ingest.check_label(labelled(2, "bird/7.png"), names)
    with pytest.raises(ingest.DataError, match="label -1"):
        ingest.check_label(labelled(-1), names)


def test_the_label_check_stops_a_beam_ingestion(tmp_path):
    import apache_beam as beam

    records = [labelled(0).SerializeToString(), labelled(5, "owl.png").SerializeToString()]
    # Beam wraps the error; its message stays.
    with pytest.raises(Exception, match="'owl.png' has label 5"), beam.Pipeline() as pipeline:  # noqa: PT011
        _ = (
            pipeline
            | beam.Create(records)
            | beam.Map(tf.train.Example.FromString)
            | beam.Map(ingest.check_label, ["cat", "dog"])
        )


def test_hidden_files_and_folders_are_skipped_without_a_word(image_folder):
    # What macOS and editors leave behind: never images to train on, never bad files to count.
    (image_folder / "cat" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (image_folder / "cat" / "._rgb.png").write_bytes(b"\0\5\26\7 AppleDouble")
    (image_folder / ".git").mkdir()
    (image_folder / ".git" / "x.png").write_bytes(b"not a class")

    scan = ingest.scan_image_folder(str(image_folder), max_bad_file_fraction=0.0)

    assert scan.class_names == ("cat", "dog")
    assert len(scan.files) == 6
    assert scan.rejected == () and scan.ignored == ("dog/notes.txt",)
