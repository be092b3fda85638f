"""The shared store: Redis, for sites whose mail hosts must count and cache together.

Every operation that reads and then writes is one Lua script, which Redis runs without
interleaving any other client's command: that is what makes a count and the event it
decides, or the claim of an ended episode, atomic across hosts. Windows are sorted sets
scored by the caller's timestamps (one random member per event); the cache keeps the
caller's expiry beside the value (and a Redis expiry to clean up), so both honour the
caller's `now` exactly as the SQLite store does. The scripts name episode records they
build from their arguments, so the store expects one Redis server, not a cluster.

Importing redis-py is costly, so only this module does, and only a policy that names
Redis loads it. No command is retried, and once the server has failed to answer, every
later call in the process fails at once: a delivery waits for a dead or hung server at
most `SOCKET_TIMEOUT_SECONDS`, however many calls it makes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from qmvc.state.base import (
    RETENTION_SECONDS,
    Episode,
    StateUnavailable,
    stored_bytes,
    stored_text,
    window_start,
)

SOCKET_TIMEOUT_SECONDS = 1.0
DEFAULT_PREFIX = "qmvc:"
RETENTION_TTL = str(math.ceil(RETENTION_SECONDS))

# Each windowed script takes ARGV: now, window start, prune cutoff, key TTL, then its own.
RECORD = """
local counts = {}
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[3])
  redis.call('ZADD', key, ARGV[1], ARGV[4 + i])
  redis.call('EXPIRE', key, ARGV[4])
  counts[i] = redis.call('ZCOUNT', key, '(' .. ARGV[2], '+inf')
end
return counts
"""

ALLOW = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[2], '+inf') >= tonumber(ARGV[5]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS: the key's open-episode pointer, the index of episodes by last event, the id
# sequence. ARGV: episode record prefix, now, quiet, the key, TTL, prune cutoff (episodes
# unclaimed that long are dropped from the index; their records expire with the TTL).
EPISODE_EVENT = """
local now, quiet = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[6])
local id = redis.call('GET', KEYS[1])
if id then
  local episode = ARGV[1] .. id
  local last = redis.call('HGET', episode, 'last')
  if last and now - tonumber(last) <= quiet then
    if now > tonumber(last) then
      redis.call('HSET', episode, 'last', ARGV[2])
      redis.call('ZADD', KEYS[2], ARGV[2], id)
    end
    redis.call('EXPIRE', episode, ARGV[5])
    redis.call('EXPIRE', KEYS[1], ARGV[5])
    return {0, redis.call('HINCRBY', episode, 'count', 1)}
  end
end
id = tostring(redis.call('INCR', KEYS[3]))
local episode = ARGV[1] .. id
redis.call('HSET', episode, 'key', ARGV[4], 'started', ARGV[2], 'last', ARGV[2], 'count', 1)
redis.call('EXPIRE', episode, ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[2], id)
redis.call('SET', KEYS[1], id, 'EX', ARGV[5])
return {1, 1}
"""

# KEYS: the index. ARGV: episode record prefix, pointer prefix, cutoff.
END_EPISODES = """
local ended = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])) do
  local episode = ARGV[1] .. id
  local fields = redis.call('HMGET', episode, 'key', 'started', 'last', 'count')
  redis.call('ZREM', KEYS[1], id)
  redis.call('DEL', episode)
  if fields[1] then
    local pointer = ARGV[2] .. fields[1]
    if redis.call('GET', pointer) == id then
      redis.call('DEL', pointer)
    end
    ended[#ended + 1] = fields
  end
end
return ended
"""


def _score(seconds: float) -> str:
    """A timestamp as Redis reads it back: repr is the shortest exact decimal."""
    return repr(float(seconds))


def _event_member() -> bytes:
    return os.urandom(12)


class RedisStore:
    """`StateStore` on one Redis server; `prefix` keeps several installations apart."""

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX) -> None:
        name = stored_bytes(prefix)
        self._window_prefix = name + b"window:"
        self._cache_prefix = name + b"cache:"
        self._episode_prefix = name + b"episode:"
        self._pointer_prefix = name + b"episode-of:"
        self._episode_index = name + b"episodes"
        self._episode_sequence = name + b"episode-sequence"
        self._unreachable: str | None = None
        try:
            self._client = redis.Redis.from_url(
                url,
                socket_timeout=SOCKET_TIMEOUT_SECONDS,
                socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
                retry=Retry(NoBackoff(), 0),
                health_check_interval=0,
            )
            self._record = self._client.register_script(RECORD)
            self._allow = self._client.register_script(ALLOW)
            self._episode_event = self._client.register_script(EPISODE_EVENT)
            self._end_episodes = self._client.register_script(END_EPISODES)
        except (redis.RedisError, ValueError) as error:  # ValueError: not a Redis URL
            raise StateUnavailable(f"Redis state store: {error}") from error

    @contextmanager
    def _talking(self) -> Iterator[None]:
        if self._unreachable is not None:
            raise StateUnavailable(self._unreachable)
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError, OSError) as error:
            self._unreachable = f"Redis state store unreachable: {error}"
            raise StateUnavailable(self._unreachable) from error
        except redis.RedisError as error:
            raise StateUnavailable(f"Redis state store: {error}") from error

    def _windowed_arguments(self, now: float, window: float) -> list[Any]:
        return [
            _score(now),
            _score(window_start(now, window)),
            _score(now - RETENTION_SECONDS),
            RETENTION_TTL,
        ]

    def record(self, keys: Sequence[str], now: float, window: float) -> list[int]:
        window_keys = [self._window_prefix + stored_bytes(key) for key in keys]
        members = [_event_member() for _ in window_keys]
        with self._talking():
            counts = self._record(window_keys, self._windowed_arguments(now, window) + members)
        return [int(count) for count in counts]

    def count(self, key: str, now: float, window: float) -> int:
        with self._talking():
            return int(
                self._client.zcount(
                    self._window_prefix + stored_bytes(key),
                    "(" + _score(window_start(now, window)),
                    "+inf",
                )
            )

    def allow(self, key: str, limit: int, now: float, window: float) -> bool:
        arguments = self._windowed_arguments(now, window) + [int(limit), _event_member()]
        with self._talking():
            allowed = self._allow([self._window_prefix + stored_bytes(key)], arguments)
        return bool(int(allowed))

    def get(self, key: str, now: float) -> str | None:
        with self._talking():
            stored = self._client.get(self._cache_prefix + stored_bytes(key))
        if not isinstance(stored, bytes):
            return None
        expires, _, value = stored.partition(b"\n")
        try:
            fresh = now < float(expires)
        except ValueError:  # not written by put: treat it as absent
            return None
        return stored_text(value) if fresh else None

    def put(self, key: str, value: str, now: float, ttl: float) -> None:
        cache_key = self._cache_prefix + stored_bytes(key)
        with self._talking():
            if ttl <= 0:
                self._client.delete(cache_key)
                return
            stored = _score(now + ttl).encode() + b"\n" + stored_bytes(value)
            self._client.set(cache_key, stored, px=max(1, math.ceil(ttl * 1000)))

    def episode_event(self, key: str, now: float, quiet: float) -> tuple[bool, int]:
        stored_key = stored_bytes(key)
        keys = [self._pointer_prefix + stored_key, self._episode_index, self._episode_sequence]
        arguments: list[bytes | str | int | float] = [
            self._episode_prefix,
            _score(now),
            _score(quiet),
            stored_key,
            RETENTION_TTL,
            _score(now - RETENTION_SECONDS),
        ]
        with self._talking():
            started, count = self._episode_event(keys, arguments)
        return bool(int(started)), int(count)

    def end_episodes(self, now: float, quiet: float) -> list[Episode]:
        arguments: list[bytes | str | int | float] = [
            self._episode_prefix,
            self._pointer_prefix,
            _score(now - quiet),
        ]
        with self._talking():
            ended = self._end_episodes([self._episode_index], arguments)
        return [
            Episode(stored_text(key), float(started), float(last), int(count))
            for key, started, last, count in ended
        ]

    def close(self) -> None:
        try:
            self._client.close()
        except (redis.RedisError, OSError) as error:
            raise StateUnavailable(f"Redis state store: {error}") from error
