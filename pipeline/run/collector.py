"""Python's cyclic garbage collector and the stack's imports.

Importing the stack (TensorFlow, TFX, Beam, TFMA: about 8,400 modules) allocates over a million
objects, so the collector runs its full pass about nine times during the imports alone (1.3 s of
5 s on 2 cores), and every full pass later in the run walks the 670,000 objects the imports
leave behind (0.3-0.6 s each) although none of them ever becomes garbage. With the collector
off while they are made, one pass then frees the imports' own garbage, and `gc.freeze()` moves
the rest where no later pass looks.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def long_lived_imports() -> Iterator[None]:
    """Runs the block (the stack's imports) without the cyclic collector, then collects once
    and freezes every object still alive: later passes skip them. Meant for a process's start,
    when what is alive is the imports; the collector is back on (if it was on) when the block
    ends, also on an error."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.collect()  # the imports' own cycles, once: frozen garbage would never be freed
        gc.freeze()
        if was_enabled:
            gc.enable()
