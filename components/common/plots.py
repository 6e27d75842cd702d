"""Plot files without a display: one place for matplotlib's headless set-up and for writing a
figure where TensorFlow can write (local folders and object stores alike)."""

from __future__ import annotations

from typing import Any

import tensorflow as tf


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend (imported on first use: it is slow)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(figure: Any, path: str) -> None:
    """Write `figure` as a PNG at `path` (any tf.io.gfile path) and free it."""
    with tf.io.gfile.GFile(path, "wb") as f:
        figure.savefig(f, format="png", dpi=100)
    pyplot().close(figure)
