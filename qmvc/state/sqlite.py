"""The embedded store: one SQLite file under QMVC_DIR shared by every delivery on a host.

Hundreds of deliveries may write at once, so the file is in WAL mode (readers never wait
for the writer), every change is one short IMMEDIATE transaction (the write lock is taken
before reading, so a count and the insert it decides cannot interleave with another
process's), and a writer waits up to `BUSY_TIMEOUT_SECONDS` for the lock before the store
counts as unavailable. Old rows are pruned inside an ordinary write at most once per
`PRUNE_INTERVAL_SECONDS`, so no delivery pays for a sweep of the whole file.

Within one delivery the connection is shared by threads: a parallel scan looks up and keeps
verdicts from each engine's thread, and the delivery's own thread counts bombers and
closes. So the connection is not bound to the thread that opened it, and a lock makes each
call (a whole transaction) one at a time.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from qmvc.state.base import (
    RETENTION_SECONDS,
    Episode,
    StateUnavailable,
    stored_bytes,
    stored_text,
    window_start,
)

BUSY_TIMEOUT_SECONDS = 5.0
PRUNE_INTERVAL_SECONDS = 600.0
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (key BLOB NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_key ON events (key, at);
CREATE INDEX IF NOT EXISTS events_by_time ON events (at);
CREATE TABLE IF NOT EXISTS cache (key BLOB PRIMARY KEY, value BLOB NOT NULL, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS cache_by_expiry ON cache (expires);
CREATE TABLE IF NOT EXISTS episodes (
    id INTEGER PRIMARY KEY, key BLOB NOT NULL, started REAL NOT NULL, last REAL NOT NULL,
    count INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS episodes_by_key ON episodes (key, last);
CREATE INDEX IF NOT EXISTS episodes_by_last ON episodes (last);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value REAL NOT NULL);
"""


@contextmanager
def _unavailable_on_failure() -> Iterator[None]:
    try:
        yield
    except (sqlite3.Error, OSError) as error:
        raise StateUnavailable(f"SQLite state store: {error}") from error


class SqliteStore:
    """`StateStore` in one SQLite file; the connection lives until `close`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        with _unavailable_on_failure():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._db = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
            )
            try:
                self._prepare()
            except BaseException:
                self._db.close()
                raise

    def _prepare(self) -> None:
        """WAL and the schema persist in the file, so only its first user writes them."""
        self._enter_wal()
        self._db.execute("PRAGMA synchronous=NORMAL")
        if self._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _enter_wal(self) -> None:
        """Switches a new file to WAL. SQLite answers "database is locked" at once, without
        its busy handler, when other connections hold the file meanwhile (as when many
        deliveries open a new store together), so this retries until BUSY_TIMEOUT_SECONDS."""
        deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
        pause = 0.005
        while self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.1)

    @contextmanager
    def _one_at_a_time(self) -> Iterator[None]:
        with self._lock, _unavailable_on_failure():
            yield

    @contextmanager
    def _writing(self, now: float) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction, pruning first when a prune is due."""
        with self._one_at_a_time():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._prune_if_due(now)
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _prune_if_due(self, now: float) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE name = 'pruned_at'").fetchone()
        if row is not None and abs(now - row[0]) < PRUNE_INTERVAL_SECONDS:
            return
        cutoff = now - RETENTION_SECONDS
        self._db.execute("DELETE FROM events WHERE at <= ?", (cutoff,))
        self._db.execute("DELETE FROM cache WHERE expires <= ?", (now,))
        self._db.execute("DELETE FROM episodes WHERE last <= ?", (cutoff,))
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('pruned_at', ?)", (now,))

    def _count(self, key: bytes, now: float, window: float) -> int:
        (count,) = self._db.execute(
            "SELECT count(*) FROM events WHERE key = ? AND at > ?", (key, window_start(now, window))
        ).fetchone()
        return int(count)

    def record(self, keys: Sequence[str], now: float, window: float) -> list[int]:
        counts = []
        with self._writing(now) as db:
            for key in map(stored_bytes, keys):
                db.execute("INSERT INTO events (key, at) VALUES (?, ?)", (key, now))
                counts.append(self._count(key, now, window))
        return counts

    def count(self, key: str, now: float, window: float) -> int:
        with self._one_at_a_time():
            return self._count(stored_bytes(key), now, window)

    def allow(self, key: str, limit: int, now: float, window: float) -> bool:
        stored_key = stored_bytes(key)
        with self._writing(now) as db:
            allowed = self._count(stored_key, now, window) < limit
            if allowed:
                db.execute("INSERT INTO events (key, at) VALUES (?, ?)", (stored_key, now))
        return allowed

    def get(self, key: str, now: float) -> str | None:
        with self._one_at_a_time():
            row = self._db.execute(
                "SELECT value FROM cache WHERE key = ? AND expires > ?", (stored_bytes(key), now)
            ).fetchone()
        return None if row is None else stored_text(row[0])

    def put(self, key: str, value: str, now: float, ttl: float) -> None:
        with self._writing(now) as db:
            db.execute(
                "INSERT INTO cache (key, value, expires) VALUES (?, ?, ?) ON CONFLICT (key)"
                " DO UPDATE SET value = excluded.value, expires = excluded.expires",
                (stored_bytes(key), stored_bytes(value), now + ttl),
            )

    def episode_event(self, key: str, now: float, quiet: float) -> tuple[bool, int]:
        stored_key = stored_bytes(key)
        with self._writing(now) as db:
            latest = db.execute(
                "SELECT id, last, count FROM episodes WHERE key = ? ORDER BY last DESC LIMIT 1",
                (stored_key,),
            ).fetchone()
            if latest is not None and now - latest[1] <= quiet:
                db.execute(
                    "UPDATE episodes SET last = max(last, ?), count = count + 1 WHERE id = ?",
                    (now, latest[0]),
                )
                return False, int(latest[2]) + 1
            db.execute(
                "INSERT INTO episodes (key, started, last, count) VALUES (?, ?, ?, 1)",
                (stored_key, now, now),
            )
            return True, 1

    def end_episodes(self, now: float, quiet: float) -> list[Episode]:
        cutoff = now - quiet
        with self._writing(now) as db:
            rows = db.execute(
                "SELECT key, started, last, count FROM episodes WHERE last < ? ORDER BY last",
                (cutoff,),
            ).fetchall()
            db.execute("DELETE FROM episodes WHERE last < ?", (cutoff,))
        return [Episode(stored_text(key), *numbers) for key, *numbers in rows]

    def close(self) -> None:
        with self._one_at_a_time():
            self._db.close()
