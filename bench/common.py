"""Measuring helpers shared by the benchmark scripts (run as `python3 bench/NAME.py`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


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


def fresh_venv(directory: Path, source: Path = PROJECT) -> Path:
    """A venv with qmvc installed from `source` (this checkout), not editable; its interpreter.

    The shared measuring notes ask for this: this machine's own python3 runs `.pth` start-up
    hooks (an editable install's finder among them) that a user's installation does not.
    """
    subprocess.run([sys.executable, "-m", "venv", str(directory)], check=True)
    python = directory / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(source)],
        check=True,
    )
    return python


def venv_with_qmvc(directory: Path, source: Path = PROJECT) -> Path:
    """`directory`'s interpreter, after making the venv and installing qmvc if it has no qmvc."""
    if not (directory / "bin" / "qmvc").exists():
        print(f"installing qmvc from {source} into a fresh venv at {directory} ...", flush=True)
        return fresh_venv(directory, source)
    return directory / "bin" / "python"


def committed_tree(directory: Path) -> Path:
    """The last commit of this checkout exported to `directory` (others may be editing the
    work tree): to install what is committed, not what is half-way through an edit."""
    directory.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(PROJECT), "archive", "HEAD"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive, check=True)
    return directory
