"""How long a ClamdScanner waits for clamd's signature version: 5 s, whatever clamd does.

The verdict cache asks for the version on every delivery, so a clamd that hangs must not
cost more than that. Waiting 5 s for real is too slow for a test: clamd.py's monotonic
clock is replaced by one that has moved on 5.5 s after the deadline was set (from then on
every reading is 5.5 s later), and a fake clamd (a Unix socket) would answer at once."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import qmvc.scanners.clamd
from qmvc.scanners.clamd import ClamdScanner
from qmvc.scanners.spec import ClamdAddress, ClamdSpec, Timeout


def _answer_version(listener: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection, _ = listener.accept()
        with connection:
            connection.recv(64)
            connection.sendall(b"ClamAV 1.0.7/27461/Tue Nov 25 09:00:00 2026\0")


def _clock_moving_on(seconds: float) -> SimpleNamespace:
    """monotonic(): the real clock at the first reading, `seconds` later at every other."""
    readings = 0

    def monotonic() -> float:
        nonlocal readings
        readings += 1
        return time.monotonic() + (0.0 if readings == 1 else seconds)

    return SimpleNamespace(monotonic=monotonic)


@pytest.mark.parametrize(("moved", "version"), [(4.5, "27461"), (5.5, None)])
def test_the_signature_version_is_given_up_on_after_five_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moved: float, version: str | None
) -> None:
    path = tmp_path / "clamd.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(1)
        listener.settimeout(0.3)
        server = threading.Thread(target=_answer_version, args=(listener,))
        server.start()
        monkeypatch.setattr(qmvc.scanners.clamd, "time", _clock_moving_on(moved))
        scanner = ClamdScanner(
            ClamdSpec("clamd", (ClamdAddress(socket_path=str(path)),), Timeout(30.0))
        )
        assert scanner.signature_version() == version
        server.join()
