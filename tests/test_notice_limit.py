"""The notices limit: one SQLite file shared by concurrent deliveries (real processes)."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from qmvc.actions.notice_limit import allow, database_path


def _send_five(path: str, address: str) -> int:
    return sum(allow(Path(path), address, 30, 3600.0) for _ in range(5))


def test_concurrent_deliveries_never_exceed_the_limit(tmp_path: Path) -> None:
    path = database_path(tmp_path)
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        allowed = pool.starmap(_send_five, [(str(path), "bob@example.org")] * 20)
    assert sum(allowed) == 30  # 100 attempts, exactly the limit let through


def test_the_window_slides_and_addresses_are_counted_apart(tmp_path: Path) -> None:
    path = database_path(tmp_path)
    assert [allow(path, "a@x.example", 2, 60, now=t) for t in (0, 1, 2)] == [True, True, False]
    assert allow(path, "B@x.example", 2, 60, now=2)
    assert not allow(path, "b@X.EXAMPLE".lower(), 1, 60, now=3)  # case does not matter
    assert allow(path, "a@x.example", 2, 60, now=61)  # the first has left the window


def test_old_rows_are_pruned(tmp_path: Path) -> None:
    path = database_path(tmp_path)
    for day in range(10):
        allow(path, f"{day}@x.example", 5, 3600, now=day * 86400.0)
    with sqlite3.connect(path) as connection:
        (rows,) = connection.execute("SELECT count(*) FROM sent").fetchone()
    assert rows == 8  # older than the longest window (7 days) are gone


def test_an_unusable_store_raises_for_the_caller_to_log(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("a file where the directory should be")
    with pytest.raises((sqlite3.Error, OSError)):
        allow(database_path(tmp_path), "a@x.example", 1, 60)
