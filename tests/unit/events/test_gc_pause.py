"""The dry-run's pause of the cyclic garbage collector: off while any dry-run runs, back as it was after."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from worker.events.gc_pause import cyclic_gc_paused


@pytest.fixture(autouse=True)
def collector_running() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_off_inside_and_on_again_after() -> None:
    with cyclic_gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_back_on_after_an_error() -> None:
    with pytest.raises(RuntimeError), cyclic_gc_paused():
        raise RuntimeError("the replay failed")
    assert gc.isenabled()


def test_overlapping_pauses_resume_when_the_last_ends() -> None:
    """Two dry-runs in two threads overlap: the first to end does not restart the collector."""
    first, second = cyclic_gc_paused(), cyclic_gc_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with cyclic_gc_paused():
        pass
    assert not gc.isenabled()
