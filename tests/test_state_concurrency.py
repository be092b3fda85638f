"""Concurrent deliveries against one key: real processes (spawn), released together.

Each race runs against SQLite and a real Redis alike (the `store_spec` fixture). The
worker processes start once per module with the stores imported, so a race measures the
stores rather than interpreter starts, and all of them are waiting when the start comes.
This module imports no more than the workers need: each of them imports it too.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from multiprocessing.pool import Pool
from pathlib import Path

import pytest

from tests.redis_support import StoreSpec, open_spec

pytest_plugins = ["tests.redis_support"]

WORKERS = 16
EVENTS_EACH = 60


def _wait_until(start_at: float) -> None:
    time.sleep(max(0.0, start_at - time.time()))


def _record_events(spec: StoreSpec, start_at: float, key: str, events: int) -> list[int]:
    store = open_spec(spec)
    _wait_until(start_at)
    counts = [store.record([key], time.time(), 3600.0)[0] for _ in range(events)]
    store.close()
    return counts


def _allow_attempts(spec: StoreSpec, start_at: float, key: str, attempts: int) -> int:
    store = open_spec(spec)
    _wait_until(start_at)
    allowed = sum(store.allow(key, 100, time.time(), 3600.0) for _ in range(attempts))
    store.close()
    return allowed


def _episode_event(spec: StoreSpec, start_at: float, key: str) -> tuple[bool, int]:
    store = open_spec(spec)
    _wait_until(start_at)
    result = store.episode_event(key, time.time(), 600.0)
    store.close()
    return result


def _end_episodes(spec: StoreSpec, start_at: float) -> list[str]:
    store = open_spec(spec)
    _wait_until(start_at)
    ended = store.end_episodes(1000.0, 10.0)
    store.close()
    return [episode.key for episode in ended]


def _import_the_stores(_: int) -> None:
    import qmvc.state.redis  # noqa: F401 -- imported before the race, not inside it
    import qmvc.state.sqlite  # noqa: F401


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    with multiprocessing.get_context("spawn").Pool(WORKERS) as workers:
        workers.map(_import_the_stores, range(WORKERS), chunksize=1)
        yield workers


def _soon() -> float:
    return time.time() + 0.5


def test_concurrent_records_lose_no_event(pool: Pool, store_spec: StoreSpec) -> None:
    counts = pool.starmap(
        _record_events, [(store_spec, _soon(), "bomb@example.org", EVENTS_EACH)] * WORKERS, 1
    )
    every_count = sorted(count for process in counts for count in process)
    assert every_count == list(range(1, WORKERS * EVENTS_EACH + 1))  # each saw its own place
    with closing(open_spec(store_spec)) as store:
        assert store.count("bomb@example.org", time.time(), 3600.0) == 960


def test_concurrent_allows_let_exactly_the_limit_through(pool: Pool, store_spec: StoreSpec) -> None:
    allowed = pool.starmap(
        _allow_attempts, [(store_spec, _soon(), "notice@example.org", 10)] * WORKERS, 1
    )
    assert sum(allowed) == 100  # 160 attempts, limit 100


def test_one_of_many_racing_events_starts_the_episode(pool: Pool, store_spec: StoreSpec) -> None:
    results = pool.starmap(_episode_event, [(store_spec, _soon(), "new@example.org")] * WORKERS, 1)
    assert Counter(started for started, _ in results) == {True: 1, False: WORKERS - 1}
    assert sorted(count for _, count in results) == list(range(1, WORKERS + 1))


def test_racing_end_episodes_claim_each_episode_once(pool: Pool, store_spec: StoreSpec) -> None:
    keys = [f"victim{number}@example.org" for number in range(40)]
    with closing(open_spec(store_spec)) as store:
        for number, key in enumerate(keys):
            store.episode_event(key, float(number), 10.0)
    claimed = pool.starmap(_end_episodes, [(store_spec, _soon())] * 8, 1)
    assert sorted(key for process in claimed for key in process) == sorted(keys)


def _open_and_record(spec: StoreSpec, start_at: float, path: str) -> int:
    _wait_until(start_at)
    store = open_spec(StoreSpec(spec.kind, path, spec.prefix))
    count = store.record(["first@example.org"], time.time(), 3600.0)[0]
    store.close()
    return count


def test_deliveries_opening_a_new_sqlite_file_together_all_get_it(
    pool: Pool, tmp_path: Path
) -> None:
    """The first deliveries after an install create the file, switch it to WAL and write the
    schema at the same instant; SQLite refuses the WAL switch without waiting while others
    hold the file, which once made deliveries see the store as unavailable. The race is
    narrow (about 1 opening in 150 failed here), hence 30 new files."""
    for attempt in range(30):
        path = str(tmp_path / f"new{attempt}" / "qmvc.sqlite")
        spec = StoreSpec("sqlite", path, "")
        counts = pool.starmap(_open_and_record, [(spec, time.time() + 0.2, path)] * WORKERS, 1)
        assert sorted(counts) == list(range(1, WORKERS + 1))


def test_one_store_shared_by_the_threads_of_a_parallel_scan(store_spec: StoreSpec) -> None:
    """One delivery's store, used at once by each engine's thread (verdict cache look-ups
    and entries) and by the delivery's own (counts): no call fails, no event is lost."""
    from concurrent.futures import ThreadPoolExecutor

    store = open_spec(store_spec)
    now = time.time()

    def engine_thread(number: int) -> int:
        for round_ in range(EVENTS_EACH):
            store.put(f"verdict:{number}:{round_}", "{}", now, 3600.0)
            assert store.get(f"verdict:{number}:{round_}", now) == "{}"
            store.record(["shared"], now, 3600.0)
        return number

    with ThreadPoolExecutor(8) as threads:
        assert sorted(threads.map(engine_thread, range(8))) == list(range(8))
    assert store.count("shared", now, 3600.0) == 8 * EVENTS_EACH
    store.close()
