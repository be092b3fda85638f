"""The state stores' contract, run alike against SQLite and a real Redis.

Every behaviour test takes the `store` fixture, parametrised over both stores, so the two
cannot drift apart; what only one store does comes last.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmvc.state.base import (
    RETENTION_SECONDS,
    Episode,
    StateStore,
    StateUnavailable,
    stored_bytes,
    stored_text,
)
from qmvc.state.factory import open_store
from qmvc.state.sqlite import PRUNE_INTERVAL_SECONDS, SqliteStore
from tests.redis_support import RunningRedis, StoreSpec, open_spec

pytest_plugins = ["tests.redis_support"]

DAY = 86400.0


@pytest.fixture
def store(store_spec: StoreSpec) -> Iterator[StateStore]:
    opened = open_spec(store_spec)
    yield opened
    opened.close()


# Sliding windows


def test_record_counts_the_events_within_the_window(store: StateStore) -> None:
    counts = [store.record(["a@example.org"], now, 10.0)[0] for now in (0.0, 4.0, 9.0, 10.0)]
    assert counts == [1, 2, 3, 3]  # at 10 the event at 0 is out: the window is (now-10, now]
    assert store.count("a@example.org", 14.5, 10.0) == 2


def test_record_counts_each_key_apart(store: StateStore) -> None:
    store.record(["a@example.org"], 0.0, 60.0)
    assert store.record(["a@example.org", "example.org", "192.0.2.1"], 1.0, 60.0) == [2, 1, 1]


def test_count_records_nothing(store: StateStore) -> None:
    store.record(["k"], 0.0, 60.0)
    assert [store.count("k", 1.0, 60.0) for _ in range(3)] == [1, 1, 1]
    assert store.count("never-seen", 1.0, 60.0) == 0


def test_events_stamped_after_now_by_a_racing_delivery_are_counted(store: StateStore) -> None:
    store.record(["k"], 100.5, 60.0)
    assert store.count("k", 100.0, 60.0) == 1
    assert not store.allow("k", 1, 100.0, 60.0)


def test_a_window_longer_than_the_retention_counts_the_retention(store: StateStore) -> None:
    store.record(["k"], 0.0, DAY)
    store.record(["k"], 2 * DAY, DAY)
    assert store.count("k", 8 * DAY, 30 * DAY) == 1


def test_allow_lets_the_limit_through_per_window(store: StateStore) -> None:
    assert [store.allow("k", 2, now, 60.0) for now in (0.0, 1.0, 2.0, 59.0)] == [
        True,
        True,
        False,
        False,
    ]
    assert store.allow("k", 2, 60.0, 60.0)  # the event at 0 has left the window


def test_a_refused_event_is_not_recorded(store: StateStore) -> None:
    store.allow("k", 1, 0.0, 60.0)
    store.allow("k", 1, 1.0, 60.0)
    assert store.count("k", 1.0, 60.0) == 1


def test_allow_and_record_share_the_count(store: StateStore) -> None:
    store.record(["k"], 0.0, 60.0)
    assert not store.allow("k", 1, 1.0, 60.0)
    assert store.allow("k", 2, 1.0, 60.0)
    assert store.record(["k"], 2.0, 60.0) == [3]


# The TTL cache


def test_a_value_is_got_until_it_expires(store: StateStore) -> None:
    store.put("sha256:ab", '{"outcome": "clean"}', 100.0, 10.0)
    assert store.get("sha256:ab", 109.9) == '{"outcome": "clean"}'
    assert store.get("sha256:ab", 110.0) is None


def test_put_replaces_the_value_and_its_expiry(store: StateStore) -> None:
    store.put("k", "old", 0.0, 100.0)
    store.put("k", "new", 50.0, 10.0)
    assert store.get("k", 55.0) == "new"
    assert store.get("k", 61.0) is None


def test_a_key_never_put_is_not_found(store: StateStore) -> None:
    store.put("k", "value", 0.0, 10.0)
    assert store.get("other", 1.0) is None


def test_a_ttl_of_zero_keeps_nothing(store: StateStore) -> None:
    store.put("k", "value", 0.0, 10.0)
    store.put("k", "value", 1.0, 0.0)
    assert store.get("k", 1.0) is None


def test_the_cache_and_the_counters_do_not_share_keys(store: StateStore) -> None:
    store.put("k", "value", 0.0, 10.0)
    assert store.record(["k"], 0.0, 10.0) == [1]
    assert store.get("k", 1.0) == "value"


# Episodes


def test_the_first_event_starts_an_episode_and_the_next_count_in_it(store: StateStore) -> None:
    assert [store.episode_event("k", now, 10.0) for now in (0.0, 5.0, 15.0)] == [
        (True, 1),
        (False, 2),
        (False, 3),
    ]


def test_an_episode_ends_after_the_quiet_and_is_claimed_once(store: StateStore) -> None:
    store.episode_event("k", 0.0, 10.0)
    store.episode_event("k", 4.0, 10.0)
    assert store.end_episodes(14.0, 10.0) == []  # still open: the last event is 10 s old
    assert store.end_episodes(14.5, 10.0) == [Episode("k", 0.0, 4.0, 2)]
    assert store.end_episodes(14.5, 10.0) == []


def test_an_event_after_an_ended_episode_starts_a_new_one(store: StateStore) -> None:
    store.episode_event("k", 0.0, 10.0)
    store.end_episodes(20.0, 10.0)
    assert store.episode_event("k", 21.0, 10.0) == (True, 1)


def test_an_unclaimed_ended_episode_is_still_reported_after_a_new_one_starts(
    store: StateStore,
) -> None:
    store.episode_event("k", 0.0, 10.0)
    assert store.episode_event("k", 11.0, 10.0) == (True, 1)
    assert store.end_episodes(12.0, 10.0) == [Episode("k", 0.0, 0.0, 1)]
    assert store.end_episodes(30.0, 10.0) == [Episode("k", 11.0, 11.0, 1)]


def test_a_late_event_does_not_move_the_last_event_back(store: StateStore) -> None:
    store.episode_event("k", 10.0, 60.0)
    assert store.episode_event("k", 5.0, 60.0) == (False, 2)
    assert store.end_episodes(100.0, 60.0) == [Episode("k", 10.0, 10.0, 2)]


def test_episodes_end_oldest_first_each_with_its_own_key(store: StateStore) -> None:
    for now, key in ((3.0, "c"), (1.0, "a"), (2.0, "b"), (50.0, "open")):
        store.episode_event(key, now, 10.0)
    assert [episode.key for episode in store.end_episodes(20.0, 10.0)] == ["a", "b", "c"]


def test_an_episode_unclaimed_for_longer_than_the_retention_is_dropped(
    store: StateStore,
) -> None:
    store.episode_event("old", 0.0, 10.0)
    store.episode_event("new", 8 * DAY, 10.0)
    assert [episode.key for episode in store.end_episodes(8 * DAY + 100, 10.0)] == ["new"]


# Keys are data

HOSTILE_KEYS = {
    "quotes": "o'brien\"@example.org",
    "sql": "x'); DROP TABLE events; --",
    "crlf": "a@example.org\r\nRCPT TO:<b@example.org>",
    "resp": "*1\r\n$8\r\nFLUSHALL\r\n",
    "lua-and-glob": "]] .. redis.call('FLUSHALL') .. [[ *?[",
    "nul": "a\x00b",
    "10kb": "k" * 10240,
    "surrogate-escaped": b"caf\xe9@example.org".decode("utf-8", "surrogateescape"),
    "lone-surrogate": "\ud800x",
    "cyrillic": "пользователь@пример.рф",
    "empty": "",
}


@pytest.mark.parametrize("key", HOSTILE_KEYS.values(), ids=HOSTILE_KEYS.keys())
def test_any_key_round_trips_through_every_operation(store: StateStore, key: str) -> None:
    assert store.record([key], 100.0, 60.0) == [1]
    assert store.allow(key, 2, 101.0, 60.0)
    assert store.count(key, 101.0, 60.0) == 2
    store.put(key, key, 100.0, 60.0)
    assert store.get(key, 101.0) == key
    assert store.episode_event(key, 100.0, 10.0) == (True, 1)
    assert store.end_episodes(200.0, 10.0) == [Episode(key, 100.0, 100.0, 1)]


@pytest.mark.parametrize(
    ("key", "look_alike"),
    [
        ("a", "a\x00"),
        ("é", "\udcc3\udca9"),  # é's UTF-8 bytes, surrogate-escaped
        ("x", "x\n"),
        ("a:b", "a"),
    ],
)
def test_keys_that_look_alike_are_counted_apart(
    store: StateStore, key: str, look_alike: str
) -> None:
    store.record([key], 0.0, 60.0)
    store.put(key, "value", 0.0, 60.0)
    assert store.count(look_alike, 0.0, 60.0) == 0
    assert store.get(look_alike, 0.0) is None


any_text = st.text(
    st.one_of(
        st.characters(),
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=()),
    )
)


@given(any_text, any_text)
def test_stored_bytes_keep_every_text_apart_and_give_it_back(first: str, second: str) -> None:
    assert stored_text(stored_bytes(first)) == first
    assert (stored_bytes(first) == stored_bytes(second)) == (first == second)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=any_text, value=any_text)
def test_any_text_is_cached_as_it_was_put(store: StateStore, key: str, value: str) -> None:
    store.put(key, value, 0.0, 60.0)
    assert store.get(key, 1.0) == value


# What each store does beyond the contract


def test_open_store_puts_sqlite_under_the_state_directory(tmp_path: Path) -> None:
    store = open_store("sqlite", "", tmp_path)
    store.record(["k"], 0.0, 60.0)
    store.close()
    state_dir = tmp_path / "state"
    assert (state_dir / "qmvc.sqlite").is_file()
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700


def test_open_store_resolves_a_relative_sqlite_path_against_the_base(tmp_path: Path) -> None:
    open_store("sqlite", "elsewhere/counters.db", tmp_path).close()
    assert (tmp_path / "elsewhere" / "counters.db").is_file()


def test_open_store_refuses_what_it_cannot_open(tmp_path: Path) -> None:
    for kind, target in (("redis", ""), ("memcached", "x"), ("redis", "no-scheme://x")):
        with pytest.raises(StateUnavailable):
            open_store(kind, target, tmp_path)


def test_sqlite_uses_wal(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "s.sqlite").close()
    with sqlite3.connect(tmp_path / "s.sqlite") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_sqlite_prunes_rows_older_than_the_retention_as_it_goes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite")
    for day in range(10):
        store.record([f"{day}@example.org"], day * DAY, 60.0)
        store.put(f"cache{day}", "v", day * DAY, 60.0)
    store.close()
    with sqlite3.connect(tmp_path / "s.sqlite") as connection:
        assert connection.execute("SELECT count(*) FROM events").fetchone() == (7,)  # days 3-9
        assert connection.execute("SELECT count(*) FROM cache").fetchone() == (1,)


def test_sqlite_prunes_at_most_once_per_interval(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite")
    store.put("a", "v", 0.0, 1.0)
    store.put("b", "v", PRUNE_INTERVAL_SECONDS / 2, 1.0)  # a has expired, but no prune is due
    store.close()
    with sqlite3.connect(tmp_path / "s.sqlite") as connection:
        assert connection.execute("SELECT count(*) FROM cache").fetchone() == (2,)


def test_redis_keeps_a_week_of_events_and_lets_its_keys_expire(redis_server: RunningRedis) -> None:
    import redis

    from qmvc.state.redis import RedisStore

    prefix = f"qmvc-test-{uuid.uuid4().hex}:"
    store = RedisStore(redis_server.url, prefix=prefix)
    for day in range(10):
        store.record(["k"], day * DAY, 60.0)
    store.put("c", "v", 0.0, 30.0)
    store.close()
    client = redis.Redis.from_url(redis_server.url)
    window_key = f"{prefix}window:k".encode()
    assert client.zcard(window_key) == 7
    assert 0 < client.ttl(window_key) <= RETENTION_SECONDS
    assert 0 < client.pttl(f"{prefix}cache:c".encode()) <= 30_000
    client.close()


def test_redis_prefixes_keep_installations_apart(redis_server: RunningRedis) -> None:
    from qmvc.state.redis import RedisStore

    url = redis_server.url
    first = RedisStore(url, prefix=f"one-{os.getpid()}-{uuid.uuid4().hex}:")
    second = RedisStore(url, prefix=f"two-{os.getpid()}-{uuid.uuid4().hex}:")
    first.record(["k"], 0.0, 60.0)
    first.episode_event("k", 0.0, 10.0)
    assert second.count("k", 0.0, 60.0) == 0
    assert second.end_episodes(100.0, 10.0) == []
    first.close()
    second.close()
