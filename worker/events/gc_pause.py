"""Pausing Python's cyclic garbage collector while a dry-run builds its large, acyclic working set.

A dry-run decodes up to `DRY_RUN_MAX_EVENTS` journal records and keeps every member's progress in memory:
hundreds of thousands of long-lived objects. While they are being made, each young-generation collection
promotes them and the full collections that follow walk all of them again; measured on 100,000 events,
that doubled the time to read and decode the journal. None of these objects forms a reference cycle
(they are freed by reference counting when the answer is built), so the collector has nothing to find
until the dry-run ends.

The pause is process-wide (gc.disable() is), so it is counted: when dry-runs overlap in the web app's
threads, the collector resumes when the last one ends, and only if it was running when the first began.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_pauses = 0
_resume = False


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """The cyclic collector off for the body (reference counting still frees memory as usual)."""
    global _pauses, _resume
    with _lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()
