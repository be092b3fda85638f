"""Telling an engine run in another thread that its scan was given up on.

A parallel scan that already has its virus kills the engines still running, but an engine
thread may be between writing its parts and starting its process at that moment; killing
"what runs now" would miss it and let it run to its timeout. So each scan thread carries an
event: once set, a command engine that has not started yet does not start, and one that
starts in the same instant kills itself (see `qmvc.scanners.command.run_bounded`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

_current = threading.local()

T = TypeVar("T")


def run_abandonable(stop: threading.Event, work: Callable[[], T]) -> T:
    """Runs `work` in this thread with `stop` as its abandonment signal."""
    _current.stop = stop
    try:
        return work()
    finally:
        _current.stop = None


def abandoned() -> bool:
    """Whether the scan this thread works for was given up on."""
    stop: threading.Event | None = getattr(_current, "stop", None)
    return stop is not None and stop.is_set()
