"""The bundled demo dataset, generated deterministically: no download, same bytes every time.

Four shape classes (circle, square, triangle, star) drawn at random position, scale, rotation
and colour on textured backgrounds (gradients, stripes, checks, blotches) with clutter and
pixel noise, in PNG and JPEG of varying sizes. Hard enough that accuracy means something and
augmentation and regularization have something to do; easy enough to learn on a CPU.

    python -m pipeline.demo_data --out data/demo [--per-class 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import io
import math
import os
import shutil
import tempfile
from collections.abc import Iterable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

COMPLETE_MARKER = ".complete"
BACKGROUND_CONTRAST = 70  # max difference per channel between the two background colours
MIN_SHAPE_CONTRAST = 60  # min brightness difference between the shape and the background


def _random_colour(rng: np.random.Generator, low: int = 0, high: int = 256) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(low, high, size=3))


def textured_background(rng: np.random.Generator, size: int) -> Image.Image:
    """One of four textures in random colours, so the background carries no class signal."""
    kind = rng.integers(4)
    # Two nearby colours: texture strong enough to distract, too weak to hide the shape.
    a = np.array(_random_colour(rng))
    b = a + rng.integers(-BACKGROUND_CONTRAST, BACKGROUND_CONTRAST + 1, size=3)
    yy, xx = np.mgrid[0:size, 0:size] / size
    if kind == 0:  # linear gradient at a random angle
        angle = rng.uniform(0, 2 * math.pi)
        t = (np.cos(angle) * xx + np.sin(angle) * yy + 1) / 2
    elif kind == 1:  # stripes
        t = (np.sin((xx * np.cos(rng.uniform(0, math.pi)) + yy) * rng.uniform(8, 30)) + 1) / 2
    elif kind == 2:  # checks
        cells = rng.integers(3, 10)
        t = ((np.floor(xx * cells) + np.floor(yy * cells)) % 2).astype(float)
    else:  # smooth blotches
        small = rng.uniform(0, 1, size=(4, 4))
        t = (
            np.array(
                Image.fromarray((small * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC)
            )
            / 255
        )
    pixels = a * (1 - t[..., None]) + b * t[..., None]
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")


def _contrasting_colour(rng: np.random.Generator, background: Image.Image) -> tuple[int, int, int]:
    """A random colour whose brightness differs clearly from the background's mean."""
    background_luma = float(np.asarray(background.convert("L"), dtype=np.float32).mean())
    while True:
        colour = _random_colour(rng)
        luma = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
        if abs(luma - background_luma) >= MIN_SHAPE_CONTRAST:
            return colour


def _regular(n: int, radius: float, inner: float | None = None) -> list[tuple[float, float]]:
    """A regular n-gon, or an n-pointed star when `inner` gives the inner radius fraction."""
    if inner is None:
        return [
            (radius * math.cos(2 * math.pi * k / n), radius * math.sin(2 * math.pi * k / n))
            for k in range(n)
        ]
    return [
        (
            (radius if k % 2 == 0 else radius * inner) * math.cos(math.pi * k / n),
            (radius if k % 2 == 0 else radius * inner) * math.sin(math.pi * k / n),
        )
        for k in range(2 * n)
    ]


def _box(half_width: float, half_height: float) -> list[tuple[float, float]]:
    return [
        (-half_width, -half_height),
        (half_width, -half_height),
        (half_width, half_height),
        (-half_width, half_height),
    ]


# Outlines in shape-local coordinates, as functions of the radius; rotated and placed at random.
# The demo's classes, and the different shapes `make pretrain` learns its backbone on.
POLYGONS = {
    "square": lambda r: _box(r / math.sqrt(2), r / math.sqrt(2)),
    "triangle": lambda r: _regular(3, r),
    "star": lambda r: _regular(5, r, inner=0.45),
    "pentagon": lambda r: _regular(5, r),
    "hexagon": lambda r: _regular(6, r),
    "star6": lambda r: _regular(6, r, inner=0.55),
    "diamond": lambda r: [(r, 0.0), (0.0, r / 2), (-r, 0.0), (0.0, -r / 2)],
    "bar": lambda r: _box(r, r * 0.4),
}
CLASSES = ("circle", "square", "star", "triangle")
SOURCE_CLASSES = ("bar", "cross", "diamond", "half_disc", "hexagon", "pentagon", "ring", "star6")


def _place(points, cx: float, cy: float, rotation: float) -> list[tuple[float, float]]:
    c, s = math.cos(rotation), math.sin(rotation)
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in points]


def _draw_shape(draw, shape: str, cx: float, cy: float, radius: float, colour, rng) -> None:
    if shape == "circle":
        squash = rng.uniform(0.85, 1.0)
        draw.ellipse(
            (cx - radius, cy - radius * squash, cx + radius, cy + radius * squash), fill=colour
        )
        return
    rotation = rng.uniform(0, 2 * math.pi)
    if shape in POLYGONS:
        draw.polygon(_place(POLYGONS[shape](radius), cx, cy, rotation), fill=colour)
    elif shape == "cross":
        for arm in (_box(radius, radius * 0.3), _box(radius * 0.3, radius)):
            draw.polygon(_place(arm, cx, cy, rotation), fill=colour)
    elif shape == "ring":
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        draw.ellipse(box, outline=colour, width=max(2, int(radius * 0.3)))
    elif shape == "half_disc":
        start = math.degrees(rotation)
        draw.pieslice(
            (cx - radius, cy - radius, cx + radius, cy + radius), start, start + 180, fill=colour
        )
    else:
        raise ValueError(f"Unknown shape {shape!r}")


def draw_example(shape: str, rng: np.random.Generator) -> Image.Image:
    """One image of `shape`, every nuisance factor drawn from `rng`."""
    size = int(rng.integers(64, 129))
    image = textured_background(rng, size)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(0, 4)):  # clutter: thin lines that belong to no class
        x0, y0, x1, y1 = (float(v) for v in rng.uniform(0, size, 4))
        draw.line((x0, y0, x1, y1), fill=_random_colour(rng), width=int(rng.integers(1, 3)))
    radius = size * rng.uniform(0.15, 0.38)
    cx, cy = (float(v) for v in rng.uniform(radius, size - radius, 2))
    _draw_shape(draw, shape, cx, cy, radius, _contrasting_colour(rng, image), rng)
    if rng.uniform() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    pixels = np.asarray(image, dtype=np.float32) + rng.normal(
        0, rng.uniform(2, 18), (size, size, 3)
    )
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")


def render(shape: str, class_index: int, n: int, seed: int) -> tuple[str, bytes]:
    """File name and encoded bytes of example `n` of a class: a PNG, or one time in four a JPEG."""
    rng = np.random.default_rng([seed, class_index, n])
    image = draw_example(shape, rng)
    buffer = io.BytesIO()
    if rng.uniform() < 0.25:
        image.save(buffer, format="JPEG", quality=int(rng.integers(70, 96)))
        return f"{shape}_{n:04d}.jpg", buffer.getvalue()
    image.save(buffer, format="PNG")
    return f"{shape}_{n:04d}.png", buffer.getvalue()


def write_image_folder(
    out_dir: str, files: Iterable[tuple[str, str, bytes]], marker: str | None = None
) -> dict[str, int]:
    """Writes (class, file name, bytes) as `out_dir/<class>/<file>`, all or nothing: into a
    hidden folder beside it, renamed into place once complete (with `marker` in it, if
    given). Replaces `out_dir`; returns the count per class."""
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}-", dir=parent)
    counts: dict[str, int] = {}
    try:
        for class_name, file_name, encoded in files:
            os.makedirs(os.path.join(staging, class_name), exist_ok=True)
            with open(os.path.join(staging, class_name, file_name), "wb") as f:
                f.write(encoded)
            counts[class_name] = counts.get(class_name, 0) + 1
        if marker:
            open(os.path.join(staging, marker), "w").close()
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.rename(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return counts


def generate(
    out_dir: str, per_class: int = 300, seed: int = 0, classes: tuple[str, ...] = CLASSES
) -> dict[str, int]:
    """Writes `out_dir/<class>/<name>.png|jpg`, all or nothing; returns the count per class."""
    files = (
        (shape, *render(shape, class_index, n, seed))
        for class_index, shape in enumerate(classes)
        for n in range(per_class)
    )
    write_image_folder(out_dir, files, COMPLETE_MARKER)
    return dict.fromkeys(classes, per_class)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", required=True, help="folder to write (replaced if it exists)")
    parser.add_argument("--per-class", type=int, default=300, help="images per class (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    counts = generate(args.out, args.per_class, args.seed)
    print(f"Wrote {sum(counts.values())} demo images in {len(counts)} classes to {args.out}")


if __name__ == "__main__":
    main()
