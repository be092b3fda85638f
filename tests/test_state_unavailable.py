"""A broken store raises StateUnavailable, and nothing else, within a bounded time.

Callers catch StateUnavailable and deliver anyway, so any other exception, or a wait
longer than the store's timeout, would cost mail. Each failure here is real: a file
where a directory should be, a file that is not a database, a lock held by another
connection, a port where nothing listens, a redis-server killed or stopped mid-test.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

import qmvc.state.sqlite
from qmvc.state.base import StateStore, StateUnavailable
from qmvc.state.factory import open_store
from qmvc.state.redis import SOCKET_TIMEOUT_SECONDS, RedisStore
from qmvc.state.sqlite import SqliteStore
from tests.redis_support import RunningRedis, free_tcp_port, running_redis

pytest_plugins = ["tests.redis_support"]

OPERATIONS: dict[str, Callable[[StateStore], object]] = {
    "record": lambda store: store.record(["a@example.org", "example.org"], 100.0, 60.0),
    "count": lambda store: store.count("a@example.org", 100.0, 60.0),
    "allow": lambda store: store.allow("a@example.org", 5, 100.0, 60.0),
    "get": lambda store: store.get("sha256:ab", 100.0),
    "put": lambda store: store.put("sha256:ab", "{}", 100.0, 60.0),
    "episode_event": lambda store: store.episode_event("a@example.org", 100.0, 10.0),
    "end_episodes": lambda store: store.end_episodes(100.0, 10.0),
}
WRITES = ("record", "allow", "put", "episode_event", "end_episodes")


def assert_unavailable_within(seconds: float, operation: Callable[[], object]) -> None:
    started = time.monotonic()
    with pytest.raises(StateUnavailable):
        operation()
    assert time.monotonic() - started < seconds


# SQLite


def test_a_sqlite_path_under_a_regular_file_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("a file where the directory should be")
    with pytest.raises(StateUnavailable):
        SqliteStore(tmp_path / "state" / "qmvc.sqlite")
    with pytest.raises(StateUnavailable):
        open_store("sqlite", "", tmp_path)


def test_a_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "qmvc.sqlite"
    path.write_bytes(b"not a database, " * 512)
    with pytest.raises(StateUnavailable):
        SqliteStore(path)


def test_a_database_damaged_after_opening_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "qmvc.sqlite"
    store = SqliteStore(path)
    with sqlite3.connect(path) as other:
        other.execute("DROP TABLE events")
    for name in ("record", "count", "allow"):
        with pytest.raises(StateUnavailable):
            OPERATIONS[name](store)
    store.close()


def test_a_lock_held_past_the_busy_timeout_fails_writes_but_not_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(qmvc.state.sqlite, "BUSY_TIMEOUT_SECONDS", 0.2)
    path = tmp_path / "qmvc.sqlite"
    store = SqliteStore(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    for name in WRITES:
        assert_unavailable_within(2.0, lambda: OPERATIONS[name](store))  # noqa: B023
    assert store.count("a@example.org", 100.0, 60.0) == 0  # WAL: readers never wait
    holder.execute("ROLLBACK")
    holder.close()
    assert store.record(["a@example.org"], 100.0, 60.0) == [1]  # and it recovers
    store.close()


# Redis


def _store_on(url: str) -> RedisStore:
    return RedisStore(url, prefix=f"qmvc-test-{uuid.uuid4().hex}:")


@pytest.mark.parametrize("name", OPERATIONS)
def test_redis_where_nothing_listens_is_unavailable_at_once(name: str) -> None:
    store = _store_on(f"redis://127.0.0.1:{free_tcp_port()}/0")
    assert_unavailable_within(SOCKET_TIMEOUT_SECONDS, lambda: OPERATIONS[name](store))
    store.close()


def test_a_redis_killed_mid_test_is_unavailable(tmp_path: Path) -> None:
    with running_redis(tmp_path) as server:
        store = _store_on(server.url)
        assert store.record(["a@example.org"], 100.0, 60.0) == [1]
        server.process.kill()
        server.process.wait()
        for operation in OPERATIONS.values():
            assert_unavailable_within(SOCKET_TIMEOUT_SECONDS, lambda: operation(store))  # noqa: B023
        store.close()


def test_a_hung_redis_costs_one_socket_timeout_and_then_fails_at_once(tmp_path: Path) -> None:
    with running_redis(tmp_path) as server:
        store = _store_on(server.url)
        store.put("sha256:ab", "{}", 100.0, 60.0)
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            assert_unavailable_within(
                SOCKET_TIMEOUT_SECONDS + 1.0, lambda: store.get("sha256:ab", 100.0)
            )
            for operation in OPERATIONS.values():
                assert_unavailable_within(0.1, lambda: operation(store))  # noqa: B023
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        store.close()


def test_a_redis_key_holding_foreign_data_is_unavailable(redis_server: RunningRedis) -> None:
    prefix = f"qmvc-test-{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(redis_server.url)
    client.set(f"{prefix}window:a@example.org", "not a sorted set")
    client.zadd(f"{prefix}cache:sha256:ab", {"not a string": 1})
    client.set(f"{prefix}cache:sha256:cd", "no expiry line")
    client.close()
    store = RedisStore(redis_server.url, prefix=prefix)
    for name in ("record", "count", "allow", "get"):
        with pytest.raises(StateUnavailable):
            OPERATIONS[name](store)
    assert store.get("sha256:cd", 100.0) is None
    assert store.allow("example.org", 1, 100.0, 60.0)  # a data error leaves the server usable
    store.close()
