"""One local run at a time per pipeline root and metadata store.

Two LocalDagRunner runs on one ML Metadata SQLite file would interleave their executions, and
SQLite settles concurrent writers by failing one of them mid-run ("database is locked"); two
runs with one pipeline root but separate stores would number their executions alike and write
into the same artifact folders. So a run holds an exclusive lock on both, and a second run fails
at once, naming the first. The lock is the kernel's (flock): it dies with its process, so a
killed run leaves nothing stale behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator

LOCK_FILE = ".run.lock"


class RunLockedError(RuntimeError):
    """Another run holds the pipeline root or the metadata store."""


def lock_paths(pipeline_root: str, metadata_path: str | None) -> list[str]:
    """The lock files guarding a run: one in the pipeline root, one beside the metadata."""
    paths = [os.path.join(pipeline_root, LOCK_FILE)]
    if metadata_path:
        paths.append(f"{metadata_path}.lock")
    return sorted(set(paths))


@contextlib.contextmanager
def exclusive_run(pipeline_root: str, metadata_path: str | None) -> Iterator[None]:
    """Holds the run's locks while the body runs; RunLockedError at once if another run has
    them."""
    with contextlib.ExitStack() as held:
        for path in lock_paths(pipeline_root, metadata_path):
            held.enter_context(_locked(path))
        yield


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise RunLockedError(
                f"Another run is using {os.path.dirname(path)} ({holder}): wait for it to "
                "finish, or give this run its own PIPELINE_ROOT and METADATA_PATH."
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
