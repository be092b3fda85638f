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


class LazyStore:
    """The policy's store, opened on first use by one delivery (most messages never need
    it); a store that cannot be opened is None for the rest of the delivery, and
    `problem` says why, for the log line."""

    def __init__(self, kind: str, target: str, base_dir: Path) -> None:
        self.kind, self.target, self.base_dir = kind, target, base_dir
        self.problem = ""
        self._store: StateStore | None = None
        self._tried = False

    def __call__(self) -> StateStore | None:
        if not self._tried:
            self._tried = True
            try:
                self._store = open_store(self.kind, self.target, self.base_dir)
            except StateUnavailable as error:
                self.problem = f"state store unavailable: {error}"
        return self._store

    @property
    def opened(self) -> StateStore | None:
        """The store if this delivery has opened it already, without opening it."""
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
