"""Formula-driven source images: fractal categories drawn by iterated function systems.

FractalDB's idea (Kataoka et al., "Pre-training without Natural Images", ACCV 2020): a category
is one iterated function system (a few affine maps); its images are the attractor the chaos
game draws, so labels come from a formula and no photograph is needed. The maps are sampled by
their singular values so that the attractor is neither a point nor a smear (the sigma-factor of
Anderson and Farrell, "Improving Fractal Pre-training", WACV 2022), which replaces FractalDB's
fill-rate search; a fill-rate floor still drops the rare degenerate one.

Each image of a category jitters its maps a little and sees it from a random view (rotation,
mirror, zoom from whole to close-up texture, shift), in random colours that contrast with one
of the demo's textured backgrounds, with blur, noise and grayscale as the demo has them.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageFilter

from pipeline import demo_data

MIN_FILL = 0.12  # share of a 48 px grid the attractor must cover to be a category
MAP_JITTER = 0.04  # relative noise on each map's parameters, per image
MIN_CONTRAST = 60  # brightness difference between the fractal's colours and the background


def _rotation(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def sample_system(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(maps (N, 2, 3), probabilities (N,)): 2 to 4 contractive affine maps whose sigma-factor,
    sum(s1 + 2 s2) over their singular values, lies in [(5 + N) / 2, (6 + N) / 2]."""
    n = int(rng.integers(2, 5))
    alpha = rng.uniform((5 + n) / 2, (6 + n) / 2)
    while True:
        s1 = rng.uniform(0.2, 1.0, n)
        s2 = rng.uniform(0.1, 1.0, n) * s1
        scale = alpha / (s1 + 2 * s2).sum()
        s1, s2 = s1 * scale, s2 * scale
        if s1.max() < 1.0:  # every map contracts
            break
    maps = np.zeros((n, 2, 3))
    for k in range(n):
        mirror = np.diag([1.0, rng.choice([-1.0, 1.0])])
        maps[k, :, :2] = (
            _rotation(rng.uniform(0, 2 * math.pi))
            @ np.diag([s1[k], s2[k]])
            @ _rotation(rng.uniform(0, 2 * math.pi))
            @ mirror
        )
        maps[k, :, 2] = rng.uniform(-1, 1, 2)
    weights = s1 * s2  # each map drawn in proportion to the area it covers
    return maps, weights / weights.sum()


def chaos_game(
    maps: np.ndarray,
    probabilities: np.ndarray,
    rng: np.random.Generator,
    chains: int = 1500,
    steps: int = 40,
    burn_in: int = 12,
) -> tuple[np.ndarray, np.ndarray]:
    """Points of the attractor, `chains` walks at once: (xy (M, 2), the map that placed each)."""
    xy = rng.uniform(-1, 1, (chains, 2))
    points, placed_by = [], []
    choices = rng.choice(len(probabilities), (steps, chains), p=probabilities)
    for step in range(steps):
        chosen = maps[choices[step]]
        xy = np.einsum("nij,nj->ni", chosen[:, :, :2], xy) + chosen[:, :, 2]
        if step >= burn_in:
            points.append(xy)
            placed_by.append(choices[step])
    return np.concatenate(points), np.concatenate(placed_by)


def fill_rate(maps: np.ndarray, probabilities: np.ndarray, rng, size: int = 48) -> float:
    """Share of a `size` grid the attractor covers, framed by its 1st-99th percentiles."""
    xy, _ = chaos_game(maps, probabilities, rng, chains=500, steps=30)
    low, high = np.percentile(xy, [1, 99], axis=0)
    span = np.maximum(high - low, 1e-6).max()
    cells = ((xy - low) / span * (size - 1)).astype(int)
    inside = (cells >= 0).all(1) & (cells < size).all(1)
    grid = np.zeros((size, size), bool)
    grid[cells[inside, 1], cells[inside, 0]] = True
    return float(grid.mean())


def sample_category(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One category: a system whose attractor covers at least MIN_FILL of its frame."""
    while True:
        maps, probabilities = sample_system(rng)
        if fill_rate(maps, probabilities, rng) >= MIN_FILL:
            return maps, probabilities


def _contrasting(rng: np.random.Generator, luma: float) -> np.ndarray:
    while True:
        colour = rng.uniform(0, 255, 3)
        if abs(0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2] - luma) >= MIN_CONTRAST:
            return colour


def render(
    maps: np.ndarray, probabilities: np.ndarray, rng: np.random.Generator, size: int = 96
) -> np.ndarray:
    """One image of a category, uint8 (size, size, 3): see the module's docstring."""
    maps = maps * (1 + rng.normal(0, MAP_JITTER, maps.shape))
    xy, placed_by = chaos_game(maps, probabilities, rng, chains=1000, steps=36)
    low, high = np.percentile(xy, [0.5, 99.5], axis=0)
    xy = (xy - (low + high) / 2) / max(np.max(high - low), 1e-6)
    xy = xy @ _rotation(rng.uniform(0, 2 * math.pi)).T
    if rng.uniform() < 0.5:
        xy[:, 0] = -xy[:, 0]
    zoom = rng.uniform(0.7, 2.0)  # above 1, a close-up: the fractal as a texture
    shift = rng.uniform(-0.15, 0.15, 2)
    cells = ((xy * zoom + shift + 0.5) * size).astype(int)
    inside = (cells >= 0).all(1) & (cells < size).all(1)
    background = np.asarray(demo_data.textured_background(rng, size), np.float32)
    if rng.uniform() < 0.3:
        background = np.full_like(background, rng.uniform(0, 255, 3))
    luma = background.mean()
    palette = np.array([_contrasting(rng, luma) for _ in range(len(probabilities))])
    if rng.uniform() < 0.3:  # one colour for the whole fractal
        palette[:] = palette[0]
    flat = cells[inside, 1] * size + cells[inside, 0]
    density = np.bincount(flat, minlength=size * size).reshape(size, size)
    colour = (
        np.stack(
            [
                np.bincount(flat, weights=palette[placed_by[inside], c], minlength=size * size)
                for c in range(3)
            ],
            -1,
        ).reshape(size, size, 3)
        / np.maximum(density, 1)[..., None]
    )
    top = np.log1p(np.percentile(density[density > 0], 75)) if density.any() else 1.0
    alpha = np.where(density > 0, 0.5 + 0.5 * np.clip(np.log1p(density) / top, 0, 1), 0)
    pixels = background * (1 - alpha[..., None]) + colour * alpha[..., None]
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
    if rng.uniform() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    noisy = np.asarray(image, np.float32) + rng.normal(0, rng.uniform(2, 15), (size, size, 3))
    if rng.uniform() < 0.2:
        noisy = np.repeat(noisy.mean(-1, keepdims=True), 3, -1)
    return noisy.clip(0, 255).astype(np.uint8)
