"""What every state store offers, and the one error a caller has to handle.

Semantics both stores share, so a site can move from SQLite to Redis without a policy
noticing:
- Times are the caller's `now` (seconds, a float), never the store's clock, so the
  windows, expiries and episodes are the same whoever keeps them.
- A sliding window counts the events stamped after `now - window`, including those
  stamped later than `now` by a racing delivery whose clock read came a moment after
  ours (leaving them out would let concurrent `allow` calls pass the limit). Events are
  kept for `RETENTION_SECONDS`; a longer window counts only that much.
- Keys are data: any `str`, stored as the bytes `stored_bytes` makes of it, never
  spliced into SQL or a Redis command.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from qmvc.record import Record

RETENTION_SECONDS = 7 * 24 * 3600.0
"""How long events and unclaimed episodes are kept: the longest window a count covers."""


class StateUnavailable(Exception):
    """The store cannot be used (refused, locked past the timeout, corrupt, unreachable).

    Callers catch this and degrade: a delivery never fails because of its state store.
    """


class Episode(Record):
    """A run of events under one key with no gap longer than the caller's `quiet`."""

    key: str
    started: float
    last: float
    count: int


class StateStore(Protocol):
    def record(self, keys: Sequence[str], now: float, window: float) -> list[int]:
        """Add one event under each key; return, per key, the events in the window
        including this one. Atomic per key: concurrent callers never lose an event."""
        ...

    def count(self, key: str, now: float, window: float) -> int:
        """The events under `key` in the window, recording nothing."""
        ...

    def allow(self, key: str, limit: int, now: float, window: float) -> bool:
        """Record one event and return True only if fewer than `limit` are in the window;
        however many callers race, at most `limit` are let through per window."""
        ...

    def get(self, key: str, now: float) -> str | None:
        """The value `put` under `key`, unless it has expired by `now`."""
        ...

    def put(self, key: str, value: str, now: float, ttl: float) -> None:
        """Keep `value` under `key` until `now + ttl` (replacing any earlier value)."""
        ...

    def episode_event(self, key: str, now: float, quiet: float) -> tuple[bool, int]:
        """Note one event of an episode for `key`; return (started, count in episode).

        An episode is open while its last event is at most `quiet` seconds before `now`;
        when none is open a new one starts, and exactly one racing caller sees started.
        """
        ...

    def end_episodes(self, now: float, quiet: float) -> list[Episode]:
        """Claim and close the episodes whose last event is more than `quiet` before `now`;
        each ended episode is returned to exactly one caller, however many race."""
        ...

    def close(self) -> None: ...


def stored_bytes(text: str) -> bytes:
    """A key or value as the bytes a store keeps: UTF-8, with lone surrogates (an address
    read with surrogateescape, say) encoded as themselves, so distinct keys stay distinct
    and every key survives the trip back through `stored_text`."""
    return text.encode("utf-8", "surrogatepass")


def stored_text(data: bytes) -> str:
    return data.decode("utf-8", "surrogatepass")


def window_start(now: float, window: float) -> float:
    """Events stamped after this are in the window (it never reaches past the retention)."""
    return now - min(window, RETENTION_SECONDS)
