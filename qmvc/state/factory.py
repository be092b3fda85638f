"""The store a policy names, opened for one delivery."""

from __future__ import annotations

from pathlib import Path

from qmvc.state.base import StateStore, StateUnavailable

STATE_DIR_NAME = "state"
DATABASE_NAME = "qmvc.sqlite"


def open_store(kind: str, target: str, base_dir: Path) -> StateStore:
    """kind "sqlite": the file `target` (relative to `base_dir`), by default
    `base_dir/state/qmvc.sqlite`; kind "redis": the server at the URL `target`.

    Raises StateUnavailable for anything that keeps the store from opening, a kind or
    target the policy got wrong included, so the caller degrades as for a store that is down.
    """
    if kind == "sqlite":
        from qmvc.state.sqlite import SqliteStore

        path = base_dir / (target or Path(STATE_DIR_NAME, DATABASE_NAME))
        return SqliteStore(path)
    if kind == "redis":
        if not target:
            raise StateUnavailable("a Redis state store needs a URL (redis://host:port/db)")
        try:
            from qmvc.state.redis import RedisStore
        except ImportError as error:
            raise StateUnavailable(f"Redis state store: {error}") from error
        return RedisStore(target)
    raise StateUnavailable(f"unknown state store {kind!r} (expected sqlite or redis)")
