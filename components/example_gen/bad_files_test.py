"""The catalogue of awkward files production sees, each through what ingestion checks and what
Transform does with what passes: decoded to RGB, or rejected with a reason (the scan names the
file). docs/reliability.md lists the outcomes."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from components.example_gen import ingest
from components.transform import preprocessing
from components.transform.preprocessing import decode_and_resize
from tests.helpers import encode_image, png_bomb

pytestmark = pytest.mark.unit


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def cmyk_jpeg() -> bytes:
    return encoded(Image.new("CMYK", (24, 16), (0, 255, 255, 0)), "JPEG")  # red


def sixteen_bit_png() -> bytes:
    pixels = np.linspace(0, 65535, 24 * 16).astype(np.uint16).reshape(16, 24)
    return encoded(Image.fromarray(pixels, mode="I;16"), "PNG")


def palette_png_with_transparency() -> bytes:
    image = Image.new("P", (24, 16), 1)
    image.putpalette([0, 0, 0, 0, 128, 255] + [0] * 762)
    return encoded(image, "PNG", transparency=0)


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (24, 16), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    return buffer.getvalue()


DECODED = {
    "CMYK JPEG": (cmyk_jpeg, (16, 24)),
    "16-bit PNG": (sixteen_bit_png, (16, 24)),
    "palette PNG with transparency": (palette_png_with_transparency, (16, 24)),
    "animated GIF (first frame)": (animated_gif, (16, 24)),
    "1x1 image": (lambda: encode_image("RGB", size=(1, 1)), (1, 1)),
    "8000x8000 image": (
        lambda: encoded(Image.new("RGB", (8000, 8000), (9, 99, 199)), "PNG"),
        (8000, 8000),
    ),
}
REJECTED = {
    "zero-byte file": (b"", "empty file"),
    "truncated JPEG": (encode_image("RGB", size=(64, 48), fmt="JPEG")[:200], "not a decodable"),
    "text file named .jpg": (b"just some notes, not a picture\n", "not a decodable"),
    "HTML error page saved as .png": (
        b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>",
        "not a decodable",
    ),
}


@pytest.mark.parametrize("case", sorted(DECODED))
def test_awkward_but_valid_images_decode_to_rgb_and_resize(case):
    make, (height, width) = DECODED[case]
    image_bytes = make()

    assert ingest.why_undecodable(image_bytes) is None
    image = preprocessing.decode_image(image_bytes).numpy()
    assert image.shape == (height, width, 3)
    assert image.dtype == np.uint8
    resized = decode_and_resize(np.array([image_bytes]), 32).numpy()
    assert resized.shape == (1, 32, 32, 3)
    assert resized.min() >= 0.0 and resized.max() <= 1.0


def test_the_decoded_colours_are_the_right_ones():
    # CMYK is inverted by some decoders; the first GIF frame must be the first frame.
    assert preprocessing.decode_image(cmyk_jpeg()).numpy()[8, 12].tolist() == pytest.approx(
        [255, 0, 0], abs=8
    )
    assert preprocessing.decode_image(animated_gif()).numpy()[8, 12].tolist() == [255, 0, 0]
    sixteen = preprocessing.decode_image(sixteen_bit_png()).numpy()
    assert sixteen[0, 0, 0] == 0 and sixteen[-1, -1, 0] == 255  # scaled, not truncated


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_undecodable_files_are_rejected_with_a_reason(case):
    image_bytes, reason = REJECTED[case]
    assert reason in ingest.why_undecodable(image_bytes)


def test_the_scan_names_each_rejected_file_and_keeps_the_rest(tmp_path):
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        for i in range(10):
            (tmp_path / name / f"{i}.png").write_bytes(encode_image(seed=i))
    bad = {"cat/empty.jpg": b"", "dog/page.png": REJECTED["HTML error page saved as .png"][0]}
    for path, data in bad.items():
        (tmp_path / path).write_bytes(data)

    scan = ingest.scan_image_folder(str(tmp_path), max_bad_file_fraction=0.1)

    assert {r.path for r in scan.rejected} == set(bad)
    assert len(scan.files) == 20


def test_an_image_above_the_pixel_cap_is_skipped_and_named_undecoded(tmp_path):
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        for i in range(10):
            (tmp_path / name / f"{i}.png").write_bytes(encode_image(seed=i))
    # 353 KB on disk, 81 megapixels (243 MB as RGB, about 1.2 GB as the floats Transform makes).
    (tmp_path / "dog" / "bomb.png").write_bytes(png_bomb(9000, 9000))

    scan = ingest.scan_image_folder(str(tmp_path), max_bad_file_fraction=0.1)

    [rejected] = scan.rejected
    assert rejected.path == "dog/bomb.png"
    assert rejected.reason == "9000x9000 pixels, above the cap of 64 megapixels"
    assert len(scan.files) == 20


def test_the_pixel_cap_is_a_setting_and_an_image_at_it_passes(tmp_path):
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "wide.png").write_bytes(encode_image(size=(40, 25)))  # 1000 pixels
        (tmp_path / name / "small.png").write_bytes(encode_image(size=(10, 10)))

    at_cap = ingest.scan_image_folder(str(tmp_path), max_megapixels=0.001)
    below = ingest.scan_image_folder(
        str(tmp_path), max_bad_file_fraction=1.0, max_megapixels=0.0009
    )

    assert len(at_cap.files) == 4 and not at_cap.rejected
    assert {r.path: r.reason for r in below.rejected} == {
        f"{name}/wide.png": "40x25 pixels, above the cap of 0.0009 megapixels"
        for name in ("cat", "dog")
    }


SCAN_AND_PRINT = """
import json, sys
from components.example_gen import ingest
scan = ingest.scan_image_folder(sys.argv[1], max_bad_file_fraction=0.5)
print(json.dumps({"files": len(scan.files), "rejected": {r.path: r.reason for r in scan.rejected}}))
"""


def test_a_fifo_and_a_dangling_link_are_skipped_and_named_without_waiting(tmp_path):
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        for i in range(5):
            (tmp_path / name / f"{i}.png").write_bytes(encode_image(seed=i))
    os.mkfifo(tmp_path / "cat" / "pipe.png")  # opening it to read would wait for a writer
    (tmp_path / "dog" / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")

    # In a process of its own, so that a scan stuck on the FIFO fails the test, not hangs it.
    done = subprocess.run(
        [sys.executable, "-c", SCAN_AND_PRINT, str(tmp_path)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    scan = json.loads(done.stdout.strip().splitlines()[-1])
    assert scan["rejected"]["cat/pipe.png"] == "not a regular file (a FIFO, socket or device)"
    assert scan["rejected"]["dog/gone.jpg"].startswith("cannot be read (No such file")
    assert scan["files"] == 10


def test_an_object_store_file_is_read_and_a_missing_one_named():
    # ram:// stands for gs:// and the other stores TensorFlow's file system reads.
    image = encode_image(seed=3)
    with tf.io.gfile.GFile("ram://images/cat/0.png", "wb") as f:
        f.write(image)

    assert ingest.read_image_file("ram://images/cat/0.png") == (image, None)
    data, reason = ingest.read_image_file("ram://images/cat/missing.png")
    assert data is None and reason.startswith("cannot be read (")
