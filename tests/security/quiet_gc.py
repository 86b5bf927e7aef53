"""No garbage-collection pause inside a timed window.

The server under test runs in a thread of the test process (tests/security/hostile.py), so it shares the test's
GIL: a full collection of the test process's heap (100-200 ms late in a suite) stalls both and shows up as a slow
answer that no request caused. Collect first, then freeze what exists, so nothing old is scanned in the window.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_gc_pause() -> Iterator[None]:
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
