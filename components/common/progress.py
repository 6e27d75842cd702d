"""Progress of long work inside a step, as log lines the local runner shows on the console
(pipeline/run/execute.py) and Kubeflow keeps in the step's log."""

from __future__ import annotations

import time
from collections.abc import Callable

from absl import logging

# The local runner's console shows log lines that start with this, whatever their logger.
PROGRESS_PREFIX = "Progress: "
# Often enough to see that work moves, rarely enough not to drown the log.
EVERY_SECONDS = 10.0


class Progress:
    """Says '<what>: <done> of <total> <unit>[, <detail>]' at most every `every_seconds`."""

    def __init__(
        self,
        what: str,
        total: int,
        unit: str,
        every_seconds: float = EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.what, self.total, self.unit = what, total, unit
        self.every_seconds = every_seconds
        self.clock = clock
        self.last = clock()

    def update(self, done: int, detail: str = "") -> None:
        now = self.clock()
        if now - self.last < self.every_seconds:
            return
        self.last = now
        extra = f", {detail}" if detail else ""
        logging.info(
            "%s%s: %s of %s %s%s",
            PROGRESS_PREFIX,
            self.what,
            f"{done:,}",
            f"{self.total:,}",
            self.unit,
            extra,
        )
