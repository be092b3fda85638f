"""A real redis-server for the tests, on 127.0.0.1 at a free port, with nothing on disk.

`running_redis()` starts one for a block (a test that kills its server uses its own);
the session fixture `redis_server` shares one. A missing redis-server skips the Redis
tests with the reason, since the SQLite half of the same suite still runs; `tests/run.sh`
installs it. The fixture `store_spec` runs a test against each state store, SQLite and
this Redis, so the two cannot drift apart. (PYTEST_DONT_REWRITE: test modules import it
before pytest loads it as a plugin, and it has no asserts to rewrite.)
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pytest

from qmvc.state.base import StateStore

STARTUP_SECONDS = 10.0
NOT_INSTALLED = (
    "redis-server is not installed; run the tests through tests/run.sh, which installs it"
)


class RedisUnavailable(RuntimeError):
    """redis-server did not come up."""


@dataclass(frozen=True)
class RunningRedis:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def find_redis_server() -> str | None:
    return shutil.which("redis-server") or shutil.which("redis-server", path="/usr/sbin:/usr/bin")


def free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_redis(workdir: Path) -> Iterator[RunningRedis]:
    """Starts redis-server (no snapshots, no append-only file), waits for PONG, stops it."""
    executable = find_redis_server()
    if executable is None:
        pytest.skip(NOT_INSTALLED)
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_tcp_port()
    command = [
        executable,
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--save", "",
        "--appendonly", "no",
        "--dir", str(workdir),
        "--logfile", str(workdir / "redis.log"),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        _wait_for_pong(port, process, workdir / "redis.log")
        yield RunningRedis(port, process)
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_pong(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RedisUnavailable(f"redis-server exited with {process.returncode}: {_tail(log)}")
        if _answers_ping(port):
            return
        time.sleep(0.05)
    raise RedisUnavailable(f"no PONG from redis-server in {STARTUP_SECONDS:g}s: {_tail(log)}")


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16) == b"+PONG\r\n"
    except OSError:
        return False


def _tail(log: Path) -> str:
    return log.read_text(errors="replace").strip()[-1000:] if log.exists() else "(no log)"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRedis]:
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


class StoreSpec(NamedTuple):
    """What a worker process needs to open the same store as the test (it pickles)."""

    kind: str
    target: str
    prefix: str = ""


def open_spec(spec: StoreSpec) -> StateStore:
    if spec.kind == "redis":
        from qmvc.state.redis import RedisStore

        return RedisStore(spec.target, prefix=spec.prefix)
    from qmvc.state.sqlite import SqliteStore

    return SqliteStore(Path(spec.target))


@pytest.fixture(params=["sqlite", "redis"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSpec:
    """A fresh SQLite file, or a fresh key prefix on the shared redis-server."""
    if request.param == "redis":
        server: RunningRedis = request.getfixturevalue("redis_server")
        return StoreSpec("redis", server.url, f"qmvc-test-{uuid.uuid4().hex}:")
    return StoreSpec("sqlite", str(tmp_path / "state" / "qmvc.sqlite"))
