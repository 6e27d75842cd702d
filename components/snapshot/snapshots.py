"""Which folder a run reads: DATA itself, or the latest of the snapshot folders under it.

Light (no TFX) so that the local runner can check the folder before the pipeline starts.
"""

from __future__ import annotations

import os
import re

import tensorflow as tf
from absl import logging

from components.example_gen.ingest import DataError, has_image_extension

# Snapshot folders are named by date or by number, and each run takes the latest: a date sorts
# by its text (zero-padded, so 2026-09-30 < 2026-11-22), a number by its value (9 < 10). Any
# other name ("old", "latest", "2026-9-30") is no snapshot: ignored, and named as ignored.
DATE_NAME = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T_]\d{2}-?\d{2}(?:-?\d{2})?)?")
NUMBER_NAME = re.compile(r"\d+")
SNAPSHOT_NAMES = "a date, 2026-11-22 (a time may follow: 2026-11-22T03-00), or a number, 42"


def _is_hidden(name: str) -> bool:
    """Hidden and underscore names are not even candidates: e.g. `_incoming/` while an upload
    runs."""
    return name.startswith((".", "_"))


def _holds_images(folder: str) -> bool:
    return any(has_image_extension(e) for e in tf.io.gfile.listdir(folder))


def latest_snapshot(data_root: str) -> str:
    """The latest snapshot folder under `data_root`, by date or by number (SNAPSHOT_NAMES);
    other folders are ignored and named in a warning."""
    if not tf.io.gfile.isdir(data_root):
        raise DataError(f"Data folder {data_root!r} does not exist or is not a folder.")
    folders = sorted(
        name
        for name in (e.rstrip("/") for e in tf.io.gfile.listdir(data_root))
        if not _is_hidden(name) and tf.io.gfile.isdir(os.path.join(data_root, name))
    )
    dated = [name for name in folders if DATE_NAME.fullmatch(name)]
    numbered = [name for name in folders if NUMBER_NAME.fullmatch(name)]
    ignored = [name for name in folders if name not in dated and name not in numbered]
    if dated and numbered:
        raise DataError(
            f"{data_root!r} mixes dated snapshots ({', '.join(dated)}) and numbered ones "
            f"({', '.join(numbered)}), which do not sort together: name them one way."
        )
    if not dated and not numbered:
        looks_like_images = any(_holds_images(os.path.join(data_root, n)) for n in ignored)
        hint = (
            f" Its folders ({', '.join(ignored)}) hold images, so {data_root!r} looks like an "
            "image folder (one subfolder per class): turn the latest snapshot setting off."
            if looks_like_images
            else ""
        )
        raise DataError(
            f"No snapshot folders in {data_root!r}: with the latest snapshot setting, DATA holds "
            f"one folder per snapshot, each named {SNAPSHOT_NAMES}, and each run takes the "
            f"latest.{hint}"
        )
    if ignored:
        logging.warning(
            "Not snapshots, ignored (a snapshot is named %s): %s",
            SNAPSHOT_NAMES,
            ", ".join(ignored),
        )
    chosen = os.path.join(data_root, dated[-1] if dated else max(numbered, key=int))
    if _holds_images(chosen):
        raise DataError(
            f"{chosen!r} holds images itself, so {data_root!r} looks like an image folder (one "
            "subfolder per class), not a root of snapshots: turn the latest snapshot setting "
            "off, or put each snapshot in its own folder."
        )
    return chosen


def data_folder(data_root: str, latest: bool) -> str:
    """The folder a run reads: `data_root` itself, or its latest snapshot."""
    return latest_snapshot(data_root) if latest else data_root
