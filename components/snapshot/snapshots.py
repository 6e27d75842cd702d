"""Which folder a run reads: DATA itself, or the latest of the snapshot folders under it.

Light (no TFX) so that the local runner can check the folder before the pipeline starts.
"""

from __future__ import annotations

import os

import tensorflow as tf

from components.example_gen.ingest import DataError, has_image_extension


def _is_snapshot_name(name: str) -> bool:
    """Hidden and underscore names are not snapshots: e.g. `_incoming/` while an upload runs."""
    return not name.startswith((".", "_"))


def latest_snapshot(data_root: str) -> str:
    """The last snapshot folder under `data_root` by name (name them so that they sort by time:
    ISO dates, or zero-padded numbers)."""
    if not tf.io.gfile.isdir(data_root):
        raise DataError(f"Data folder {data_root!r} does not exist or is not a folder.")
    entries = sorted(e.rstrip("/") for e in tf.io.gfile.listdir(data_root))
    snapshots = [
        e for e in entries if _is_snapshot_name(e) and tf.io.gfile.isdir(os.path.join(data_root, e))
    ]
    if not snapshots:
        raise DataError(
            f"No snapshot folders in {data_root!r}: with the latest snapshot setting, DATA holds "
            "one folder per snapshot (e.g. 2026-11-22/<class>/<image>), and each run takes the "
            "last by name."
        )
    chosen = os.path.join(data_root, snapshots[-1])
    loose_images = [e for e in tf.io.gfile.listdir(chosen) if has_image_extension(e)]
    if loose_images:
        raise DataError(
            f"{chosen!r} holds images itself, so {data_root!r} looks like an image folder (one "
            "subfolder per class), not a root of snapshots: turn the latest snapshot setting "
            "off, or put each snapshot in its own folder."
        )
    return chosen


def data_folder(data_root: str, latest: bool) -> str:
    """The folder a run reads: `data_root` itself, or its latest snapshot."""
    return latest_snapshot(data_root) if latest else data_root
