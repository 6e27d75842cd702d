"""The data sets `make quality` measures on, written as image folders at run time (none committed).

Each is of a different character, and all but the demo are real images nobody here made:

- `demo`: the bundled demo's generated shapes (what the pretrained backbone was built to suit);
- `photos`: real photographs and textures, scikit-image's bundled pictures (brick, grass,
  gravel, an astronaut, a cat, coffee, a rocket, the Hubble deep field), cut into tiles; the
  class is the picture a tile comes from: material and scene recognition, colour and grayscale;
- `digits`: scikit-learn's handwritten digits, 8x8 grayscale scans of 10 classes, with two
  broken files among them, as real folders have;
- `many_classes`: 20 classes of 15 small tiles each, from 20 of scikit-image's pictures
  (photographs, micrographs, a scanned page, text): many classes, few images of each.

Tiles never overlap, so no eval image shares pixels with a training image. Both packages ship
these pictures inside their wheels: nothing is downloaded.

    python -m bench.quality_data --out DIR [--only digits,photos]
"""

from __future__ import annotations

import argparse
import io
import os
from collections.abc import Callable, Iterator

import numpy as np
from PIL import Image

from pipeline import demo_data

# Pictures of scikit-image's data module (skimage.data.<name>) the tile sets cut from.
PHOTO_CLASSES = (
    "astronaut",
    "brick",
    "chelsea",
    "coffee",
    "grass",
    "gravel",
    "hubble_deep_field",
    "rocket",
)
MANY_CLASSES = (
    *PHOTO_CLASSES,
    "camera",
    "cell",
    "clock",
    "coins",
    "colorwheel",
    "immunohistochemistry",
    "logo",
    "moon",
    "page",
    "retina",
    "text",
    "microaneurysms",
)
PHOTO_TILE, PHOTO_TILES = 40, 60
MANY_TILE, MANY_TILES = 24, 15
DEMO_PER_CLASS = 300
BROKEN_DIGITS = 2  # truncated files among the digits, as in a real folder


def tiles(picture: np.ndarray, size: int, count: int) -> list[np.ndarray]:
    """`count` non-overlapping `size` px tiles spread evenly over the grid of all of them."""
    rows, columns = picture.shape[0] // size, picture.shape[1] // size
    grid = [(r, c) for r in range(rows) for c in range(columns)]
    if len(grid) < count:
        raise ValueError(
            f"a {picture.shape} picture holds {len(grid)} tiles of {size} px, not {count}"
        )
    chosen = np.linspace(0, len(grid) - 1, count).round().astype(int)
    return [
        picture[r * size : (r + 1) * size, c * size : (c + 1) * size]
        for r, c in (grid[i] for i in chosen)
    ]


def _skimage_picture(name: str) -> np.ndarray:
    from skimage import data

    picture = getattr(data, name)()
    if picture.dtype == bool:
        picture = picture.astype(np.uint8) * 255
    return picture[..., :3] if picture.ndim == 3 else picture  # RGBA logo -> RGB


def _encode(pixels: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def _tile_set(names: tuple[str, ...], size: int, count: int, fmt: str) -> Iterator:
    for name in names:
        for n, tile in enumerate(tiles(_skimage_picture(name), size, count)):
            yield name, f"{name}_{n:03d}.{fmt.lower().replace('jpeg', 'jpg')}", _encode(tile, fmt)


def photos() -> Iterator[tuple[str, str, bytes]]:
    yield from _tile_set(PHOTO_CLASSES, PHOTO_TILE, PHOTO_TILES, "JPEG")


def many_classes() -> Iterator[tuple[str, str, bytes]]:
    yield from _tile_set(MANY_CLASSES, MANY_TILE, MANY_TILES, "PNG")


def digits() -> Iterator[tuple[str, str, bytes]]:
    from sklearn.datasets import load_digits

    loaded = load_digits()
    for n, (image, label) in enumerate(zip(loaded.images, loaded.target, strict=True)):
        pixels = (image * (255 / 16)).round().astype(np.uint8)  # 17 grey levels, 0-16
        yield str(label), f"digit_{n:04d}.png", _encode(pixels, "PNG")
    for n in range(BROKEN_DIGITS):  # a PNG cut short, in two classes
        yield str(n), f"broken_{n}.png", _encode(np.zeros((8, 8), np.uint8), "PNG")[:20]


def demo() -> Iterator[tuple[str, str, bytes]]:
    for class_index, shape in enumerate(demo_data.CLASSES):
        for n in range(DEMO_PER_CLASS):
            yield (shape, *demo_data.render(shape, class_index, n, seed=0))


DATASETS: dict[str, tuple[str, Callable[[], Iterator[tuple[str, str, bytes]]]]] = {
    "demo": ("the demo's generated shapes, 4 classes", demo),
    "photos": ("tiles of 8 real photographs and textures, colour and grayscale", photos),
    "digits": ("handwritten digits, 8x8 grayscale scans, 10 classes, 2 broken files", digits),
    "many_classes": ("20 classes of 15 small tiles of real pictures", many_classes),
}


def write(name: str, out_dir: str) -> dict[str, int]:
    """Writes data set `name` as `out_dir/<class>/<file>`, all or nothing; files per class."""
    return demo_data.write_image_folder(out_dir, DATASETS[name][1]())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.quality_data", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--out", required=True, help="folder for one subfolder per data set")
    parser.add_argument("--only", default=",".join(DATASETS), help="comma-separated data sets")
    args = parser.parse_args(argv)
    for name in args.only.split(","):
        counts = write(name, os.path.join(args.out, name))
        print(f"{name}: {sum(counts.values())} files in {len(counts)} classes")


if __name__ == "__main__":
    main()
