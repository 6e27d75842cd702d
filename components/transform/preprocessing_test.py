"""preprocessing_fn run by tf.Transform on Beam, on a few real encoded images."""

import numpy as np
import pytest
import tensorflow as tf

from components import features
from components.transform import preprocessing
from tests.helpers import encode_image, png_bomb, transform_with_graph

pytestmark = pytest.mark.unit

IMAGE_SIZE = 8


def analyze_and_transform(
    images: list[bytes], labels: list[int], temp_dir: str, max_megapixels: float = 64.0
):
    return transform_with_graph(images, labels, temp_dir, IMAGE_SIZE, max_megapixels)[1]


def test_images_of_any_size_and_channels_come_out_normalized_per_channel(tmp_path):
    images = [
        encode_image("RGB", size=(31, 17), fmt="PNG", seed=1),
        encode_image("L", size=(10, 40), fmt="JPEG", seed=2),
        encode_image("RGBA", size=(8, 8), fmt="PNG", seed=3),
        encode_image("P", size=(64, 12), fmt="GIF", seed=4),
    ]
    transformed = analyze_and_transform(images, [0, 1, 1, 0], str(tmp_path))

    pixels = np.stack([row[features.TRANSFORMED_IMAGE_KEY] for row in transformed])
    assert pixels.shape == (4, IMAGE_SIZE, IMAGE_SIZE, 3)
    assert pixels.dtype == np.float32
    # Mean and std are the tf.Transform analyzers' full-pass values: exact over this data.
    np.testing.assert_allclose(pixels.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(pixels.std(axis=(0, 1, 2)), 1.0, atol=1e-3)
    assert [int(row[features.LABEL_KEY]) for row in transformed] == [0, 1, 1, 0]


def test_constant_channel_does_not_divide_by_zero(tmp_path):
    black = np.zeros((6, 6, 3), np.uint8)
    encoded = tf.io.encode_png(black).numpy()
    transformed = analyze_and_transform([encoded, encoded], [0, 1], str(tmp_path))

    pixels = np.stack([row[features.TRANSFORMED_IMAGE_KEY] for row in transformed])
    assert np.isfinite(pixels).all()
    np.testing.assert_array_equal(pixels, 0.0)


def test_statistics_are_the_whole_datas_not_each_images(tmp_path):
    # Two flat images: standardized each on its own, both would be all zeros; standardized by
    # the training data's statistics (mean 125/255, std 75/255), one is -1 and the other +1.
    dark, bright = (tf.io.encode_png(np.full((6, 6, 3), v, np.uint8)).numpy() for v in (50, 200))

    transformed = analyze_and_transform([dark, bright], [0, 1], str(tmp_path))

    pixels = [row[features.TRANSFORMED_IMAGE_KEY] for row in transformed]
    np.testing.assert_allclose(pixels[0], -1.0, atol=1e-3)
    np.testing.assert_allclose(pixels[1], 1.0, atol=1e-3)


def top_down_bmp() -> bytes:
    """A BMP stored top row first, which its header says with a negative height."""
    stored = bytearray(encode_image("RGB", size=(13, 7), fmt="BMP"))
    stored[22:26] = (-7).to_bytes(4, "little", signed=True)
    return bytes(stored)


def graph_size(image_bytes: bytes) -> list[int]:
    """[height, width] as the transform graph reads it, from a batch of one."""
    return preprocessing.encoded_image_sizes(tf.constant([image_bytes]))[0].numpy().tolist()


@pytest.mark.parametrize(
    "image_bytes",
    [
        pytest.param(encode_image(mode, size=(13, 7), fmt=fmt), id=f"{fmt}-{mode}")
        for fmt in ("PNG", "JPEG", "GIF", "BMP")
        for mode in ("L", "RGB")
    ]
    + [pytest.param(top_down_bmp(), id="BMP-top-down")],
)
def test_the_header_gives_the_size_the_decoder_makes(image_bytes):
    decoded = tf.io.decode_image(image_bytes, expand_animations=False)

    assert graph_size(image_bytes) == [7, 13]
    assert preprocessing.header_image_size(image_bytes) == (7, 13)
    assert decoded.shape[:2] == (7, 13)


@pytest.mark.parametrize("image_bytes", [b"", b"GIF", b"<html>not found</html>"])
def test_bytes_of_no_format_or_cut_short_read_as_no_pixels(image_bytes):
    """Left for the decoder to reject with its own message; the cap never mistakes them."""
    assert graph_size(image_bytes) == [0, 0]
    assert preprocessing.header_image_size(image_bytes) == (0, 0)


def test_both_header_readers_agree_on_sizes_no_small_test_image_has():
    """Wide fields (two bytes and more of each dimension) and a JPEG whose frame header is
    damaged: the graph's reader and ingestion's must still read the same."""
    wide_bmp = bytearray(encode_image("RGB", size=(13, 7), fmt="BMP"))
    wide_bmp[18:26] = (70000).to_bytes(4, "little") + (-300).to_bytes(4, "little", signed=True)
    for image_bytes, size in [(png_bomb(9000, 300), (300, 9000)), (bytes(wide_bmp), (300, 70000))]:
        assert graph_size(image_bytes) == list(size)
        assert preprocessing.header_image_size(image_bytes) == size

    damaged_jpeg = encode_image(size=(13, 7), fmt="JPEG")[:40]
    with pytest.raises(tf.errors.InvalidArgumentError):
        graph_size(damaged_jpeg)
    with pytest.raises(tf.errors.InvalidArgumentError):
        preprocessing.header_image_size(damaged_jpeg)


def test_a_batch_of_mixed_formats_reads_each_image_s_own_size():
    batch = [
        encode_image(size=(13, 7), fmt="PNG"),
        encode_image(size=(5, 3), fmt="JPEG"),
        b"not an image",
        encode_image(size=(9, 4), fmt="GIF"),
        encode_image(size=(2, 11), fmt="JPEG"),
        top_down_bmp(),
    ]

    sizes = preprocessing.encoded_image_sizes(tf.constant(batch)).numpy().tolist()

    assert sizes == [[7, 13], [3, 5], [0, 0], [4, 9], [11, 2], [7, 13]]
    assert sizes == [list(preprocessing.header_image_size(image)) for image in batch]


def test_a_batch_is_refused_naming_its_first_image_above_the_cap():
    batch = [encode_image(size=(10, 10)), encode_image(size=(40, 30)), encode_image(size=(50, 2))]

    with pytest.raises(tf.errors.InvalidArgumentError, match="Image of 40x30 pixels, above"):
        preprocessing.decode_and_resize(tf.constant(batch), IMAGE_SIZE, max_megapixels=0.001)
    assert preprocessing.decode_and_resize(tf.constant(batch[:1]), IMAGE_SIZE, 0.001).shape[0] == 1


def test_transform_refuses_an_image_above_the_cap_naming_its_size(tmp_path):
    images = [encode_image(size=(40, 30), seed=1), encode_image(size=(10, 10), seed=2)]

    with pytest.raises(Exception, match="Image of 40x30 pixels, above the cap of 0.001 megapixels"):
        analyze_and_transform(images, [0, 1], str(tmp_path / "capped"), max_megapixels=0.001)

    assert len(analyze_and_transform(images, [0, 1], str(tmp_path / "at-cap"), 0.0012)) == 2
