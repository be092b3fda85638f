"""At most N notices to one address per window, counted across concurrent deliveries.

Every delivery is its own process, so the count lives in a small SQLite file under
QMVC_DIR (`state/notices.sqlite`): WAL mode, one short IMMEDIATE transaction per notice
(count the address's notices in the window, record this one when under the limit), and
rows older than the longest window are pruned as it goes. The caller treats any
sqlite3.Error as "the store is broken": the notice is sent and the problem logged, since a
broken counter must never cost mail or a guard's notice.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

STATE_DIR_NAME = "state"
DATABASE_NAME = "notices.sqlite"
BUSY_TIMEOUT_MS = 5000
MAX_WINDOW_SECONDS = 7 * 24 * 3600.0


def database_path(base_dir: Path) -> Path:
    return base_dir / STATE_DIR_NAME / DATABASE_NAME


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("CREATE TABLE IF NOT EXISTS sent (address TEXT NOT NULL, at REAL NOT NULL)")
    connection.execute("CREATE INDEX IF NOT EXISTS sent_by_address ON sent (address, at)")
    connection.execute("CREATE INDEX IF NOT EXISTS sent_by_time ON sent (at)")
    return connection


def allow(
    path: Path, address: str, limit: int, window_seconds: float, now: float | None = None
) -> bool:
    """Record one notice to `address` and return True, unless `limit` were already sent
    within `window_seconds`. Raises sqlite3.Error when the store cannot be used."""
    now = time.time() if now is None else now
    key = address.lower()
    connection = _connect(path)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("DELETE FROM sent WHERE at < ?", (now - MAX_WINDOW_SECONDS,))
        (count,) = connection.execute(
            "SELECT count(*) FROM sent WHERE address = ? AND at > ?",
            (key, now - window_seconds),
        ).fetchone()
        allowed = count < limit
        if allowed:
            connection.execute("INSERT INTO sent (address, at) VALUES (?, ?)", (key, now))
        connection.execute("COMMIT")
        return bool(allowed)
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    finally:
        connection.close()
