"""The bundled demo dataset, generated deterministically: no download, same bytes every time.

Four shape classes (circle, square, triangle, star) drawn at random position, scale, rotation
and colour on textured backgrounds (gradients, stripes, checks, blotches) with clutter and
pixel noise, in PNG and JPEG of varying sizes. Hard enough that accuracy means something and
augmentation and regularization have something to do; easy enough to learn on a CPU.

    python -m pipeline.demo_data --out data/demo [--per-class 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASSES = ("circle", "square", "star", "triangle")
COMPLETE_MARKER = ".complete"


def _random_colour(rng: np.random.Generator, low: int = 0, high: int = 256) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(low, high, size=3))


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    """One of four textures in random colours, so the background carries no class signal."""
    kind = rng.integers(4)
    a, b = np.array(_random_colour(rng)), np.array(_random_colour(rng))
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
        t = np.array(Image.fromarray((small * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC)) / 255
    pixels = a * (1 - t[..., None]) + b * t[..., None]
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")


def _polygon(shape: str, cx: float, cy: float, radius: float, rotation: float) -> list[tuple[float, float]]:
    if shape == "square":
        angles = [rotation + math.pi / 4 + k * math.pi / 2 for k in range(4)]
        return [(cx + radius * math.cos(t), cy + radius * math.sin(t)) for t in angles]
    if shape == "triangle":
        angles = [rotation + k * 2 * math.pi / 3 for k in range(3)]
        return [(cx + radius * math.cos(t), cy + radius * math.sin(t)) for t in angles]
    if shape == "star":
        points = []
        for k in range(10):
            r = radius if k % 2 == 0 else radius * 0.45
            t = rotation + k * math.pi / 5
            points.append((cx + r * math.cos(t), cy + r * math.sin(t)))
        return points
    raise ValueError(shape)


def draw_example(shape: str, rng: np.random.Generator) -> Image.Image:
    """One image of `shape`, every nuisance factor drawn from `rng`."""
    size = int(rng.integers(64, 129))
    image = _background(rng, size)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(0, 4)):  # clutter: thin lines that belong to no class
        x0, y0, x1, y1 = (float(v) for v in rng.uniform(0, size, 4))
        draw.line((x0, y0, x1, y1), fill=_random_colour(rng), width=int(rng.integers(1, 3)))
    radius = size * rng.uniform(0.15, 0.38)
    cx, cy = (float(v) for v in rng.uniform(radius, size - radius, 2))
    colour = _random_colour(rng)
    if shape == "circle":
        squash = rng.uniform(0.85, 1.0)
        draw.ellipse((cx - radius, cy - radius * squash, cx + radius, cy + radius * squash), fill=colour)
    else:
        draw.polygon(_polygon(shape, cx, cy, radius, rng.uniform(0, 2 * math.pi)), fill=colour)
    if rng.uniform() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    pixels = np.asarray(image, dtype=np.float32) + rng.normal(0, rng.uniform(2, 18), (size, size, 3))
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")


def generate(out_dir: str, per_class: int = 300, seed: int = 0) -> dict[str, int]:
    """Writes `out_dir/<class>/<n>.png|jpg`, all or nothing; returns the count per class."""
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".demo-", dir=parent)
    try:
        for class_index, shape in enumerate(CLASSES):
            class_dir = os.path.join(staging, shape)
            os.makedirs(class_dir)
            for n in range(per_class):
                rng = np.random.default_rng([seed, class_index, n])
                image = draw_example(shape, rng)
                if rng.uniform() < 0.25:
                    image.save(os.path.join(class_dir, f"{shape}_{n:04d}.jpg"), quality=int(rng.integers(70, 96)))
                else:
                    image.save(os.path.join(class_dir, f"{shape}_{n:04d}.png"))
        open(os.path.join(staging, COMPLETE_MARKER), "w").close()
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.rename(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {shape: per_class for shape in CLASSES}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder to write (replaced if it exists)")
    parser.add_argument("--per-class", type=int, default=300, help="images per class (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    counts = generate(args.out, args.per_class, args.seed)
    print(f"Wrote {sum(counts.values())} demo images in {len(counts)} classes to {args.out}")


if __name__ == "__main__":
    main()
