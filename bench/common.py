"""Measuring helpers shared by the benchmark scripts (run as `python3 bench/NAME.py`)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path


def rate(work: Callable[[bytes], object], messages: list[bytes], seconds: float = 3.0) -> float:
    """Messages per second, repeating the set for about `seconds`."""
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for raw in messages:
            work(raw)
        done += len(messages)
    return done / (time.perf_counter() - started)


def qmail_environ(home: Path, qmvc_dir: Path, policy: Path) -> dict[str, str]:
    """What qmail-local gives `|qmvc deliver` for bob@example.com, and qmvc's own settings."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "USER": "bob",
        "SENDER": "alice@example.org",
        "NEWSENDER": "alice@example.org",
        "RECIPIENT": "bob@example.com",
        "HOST": "example.com",
        "LOCAL": "bob",
        "EXT": "",
        "DTLINE": "Delivered-To: bob@example.com\n",
        "RPLINE": "Return-Path: <alice@example.org>\n",
        "UFLINE": "From alice@example.org Thu Jan  1 00:00:00 2026\n",
        "QMVC_DIR": str(qmvc_dir),
        "QMVC_POLICY": str(policy),
    }
