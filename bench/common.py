"""Measuring helpers shared by the benchmark scripts (run as `python3 bench/NAME.py`)."""

from __future__ import annotations

import time
from collections.abc import Callable


def rate(work: Callable[[bytes], object], messages: list[bytes], seconds: float = 3.0) -> float:
    """Messages per second, repeating the set for about `seconds`."""
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for raw in messages:
            work(raw)
        done += len(messages)
    return done / (time.perf_counter() - started)
