"""A real clamd for the tests (and the benchmark), on sockets in a temporary directory.

Test modules load the fixtures with `pytest_plugins = ["tests.clamd_support"]`, so each
clamd starts once per session however many modules use it. A missing clamd is a
failure, not a skip: the scanner tests are the proof that qmvc works with ClamAV, and
`tests/run.sh` installs it. No network is ever used: the database is written here,
freshclam is never run. (PYTEST_DONT_REWRITE: test modules import it before pytest
loads it as a plugin, and it has no asserts to rewrite.)
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_HDB = "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n"
"""MD5, size and name of the 68-byte EICAR test file: a one-line ClamAV database."""

STARTUP_SECONDS = 30.0


class ClamdUnavailable(RuntimeError):
    """clamd is not installed or did not come up."""


@dataclass(frozen=True, slots=True)
class RunningClamd:
    socket_path: str
    db_dir: str
    log_path: str
    tcp_port: int | None = None


def write_eicar_db(db_dir: Path) -> Path:
    db_dir.mkdir(parents=True, exist_ok=True)
    (db_dir / "eicar.hdb").write_text(EICAR_HDB)
    return db_dir


def find_clamd() -> str:
    """clamd's path; it lives in /usr/sbin, which is not on every user's PATH."""
    found = shutil.which("clamd") or shutil.which("clamd", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise ClamdUnavailable(
            "clamd is not installed; run the tests through tests/run.sh, "
            "which installs clamav and clamav-daemon"
        )
    return found


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def clamd_config(
    workdir: Path, db_dir: Path, stream_max_length: str | None, tcp_port: int | None
) -> str:
    lines = [
        f"LocalSocket {workdir / 'clamd.sock'}",
        f"DatabaseDirectory {db_dir}",
        f"LogFile {workdir / 'clamd.log'}",
        f"TemporaryDirectory {workdir}",
        "Foreground yes",
    ]
    if os.geteuid() == 0:
        lines.append("User root")
    if stream_max_length is not None:
        lines.append(f"StreamMaxLength {stream_max_length}")
    if tcp_port is not None:
        lines += [f"TCPSocket {tcp_port}", "TCPAddr 127.0.0.1"]
    return "\n".join(lines) + "\n"


@contextmanager
def running_clamd(
    workdir: Path,
    db_dir: Path,
    *,
    stream_max_length: str | None = None,
    tcp: bool = False,
    startup_seconds: float = STARTUP_SECONDS,
) -> Iterator[RunningClamd]:
    """Starts clamd on a socket in `workdir`, waits for PONG, stops it afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    tcp_port = free_tcp_port() if tcp else None
    config = workdir / "clamd.conf"
    config.write_text(clamd_config(workdir, db_dir, stream_max_length, tcp_port))
    server = RunningClamd(
        str(workdir / "clamd.sock"), str(db_dir), str(workdir / "clamd.log"), tcp_port
    )
    with open(workdir / "clamd.out", "wb") as console:
        process = subprocess.Popen(
            [find_clamd(), "-c", str(config)], stdout=console, stderr=subprocess.STDOUT
        )
    try:
        _wait_for_pong(server, process, startup_seconds)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_pong(server: RunningClamd, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ClamdUnavailable(f"clamd exited with {process.returncode}: {_log(server)}")
        if _answers_ping(server.socket_path):
            return
        time.sleep(0.1)
    raise ClamdUnavailable(f"clamd did not answer PING within {seconds:g}s: {_log(server)}")


def _answers_ping(socket_path: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(1.0)
            connection.connect(socket_path)
            connection.sendall(b"zPING\0")
            return connection.recv(16) == b"PONG\0"
    except OSError:
        return False


def _log(server: RunningClamd) -> str:
    console = Path(server.log_path).with_name("clamd.out")
    texts = [path.read_text(errors="replace") for path in (Path(server.log_path), console)]
    return " | ".join(text.strip()[-1000:] for text in texts if text.strip())


@contextmanager
def _clamd_or_fail(
    workdir: Path, stream_max_length: str | None = None, tcp: bool = False
) -> Iterator[RunningClamd]:
    db_dir = write_eicar_db(workdir / "db")
    try:
        with running_clamd(workdir, db_dir, stream_max_length=stream_max_length, tcp=tcp) as server:
            yield server
    except ClamdUnavailable as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def clamd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningClamd]:
    """clamd with the EICAR database, default StreamMaxLength, on a unix socket and TCP."""
    with _clamd_or_fail(tmp_path_factory.mktemp("clamd"), tcp=True) as server:
        yield server


@pytest.fixture(scope="session")
def clamd_tiny_limit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningClamd]:
    """clamd accepting at most 1 KB per stream, to provoke `INSTREAM size limit exceeded`."""
    workdir = tmp_path_factory.mktemp("clamd-tiny")
    with _clamd_or_fail(workdir, stream_max_length="1K", tcp=True) as server:
        yield server
