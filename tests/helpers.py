"""Helpers the tests share: small real image files and a tamper check for folders."""

import hashlib
import io
import os

import numpy as np
from PIL import Image


def encode_image(mode: str = "RGB", size=(20, 16), fmt: str = "PNG", seed: int = 0) -> bytes:
    """Encoded bytes of a random image in the given PIL mode and format."""
    rng = np.random.default_rng(seed)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode if mode != "P" else "RGB"]
    pixels = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    image = Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels)
    if mode == "P":
        image = image.convert("P")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def tree_digest(root: str) -> dict[str, str]:
    """Path -> sha256 of every file under root, to prove a folder was not modified."""
    digests = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                digests[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return digests
