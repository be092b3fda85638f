"""The verdict cache: a part an engine found infected is not scanned again while cached.

Bombs repeat one payload under ever-changing headers, so the key is the SHA-256 of each
attachment's decoded content, per engine; the value holds the viruses and the engine's
signature version at the time (clamd's `VERSION`), and a hit counts only while the engine
still reports that version: a signature update invalidates every cached verdict. Only
infected verdicts are kept: a clean answer vouches for the whole message, headers and text
included, and is cheap to get again; an infected one is what a bomb repeats.

Engines without a signature version (command-line engines) are not cached. A store that
fails is a miss (or a verdict not kept): the scan runs as if there were no cache.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable

from qmvc.scanners.base import Scanner, ScanPart, ScanResult
from qmvc.state.base import StateStore, StateUnavailable

StoreOpener = Callable[[], "StateStore | None"]


def _key(engine: str, part: ScanPart) -> str:
    return f"verdict:{engine}:{hashlib.sha256(part.content).hexdigest()}"


def _version(engine: Scanner) -> str | None:
    version = getattr(engine, "signature_version", None)
    return version() if callable(version) else None


def cacheable(engine: Scanner | None) -> bool:
    return engine is not None and callable(getattr(engine, "signature_version", None))


class VerdictCache:
    """Look-ups and entries for one delivery; the store is opened only when first needed."""

    def __init__(self, store: StoreOpener, ttl_seconds: float, keep: bool = True) -> None:
        self._open = store
        self.ttl_seconds = ttl_seconds
        self.keep = keep
        """False for explain: it reads the cache and writes nothing."""

    def lookup(
        self, name: str, engine: Scanner, parts: list[ScanPart], now: float | None = None
    ) -> ScanResult | None:
        """A cached infected verdict for any of `parts`, still valid for the engine's
        current signatures; None on a miss (then the engine scans)."""
        store = self._open() if parts else None
        if store is None:
            return None
        now = time.time() if now is None else now
        found: list[tuple[str, str, str]] = []
        try:
            for part in parts:
                text = store.get(_key(name, part), now)
                if text is None:
                    continue
                entry = json.loads(text)
                where = part.location or part.name
                found += [(virus, where, str(entry["version"])) for virus in entry["viruses"]]
        except (StateUnavailable, ValueError, KeyError, TypeError):
            return None
        if not found:
            return None
        current = _version(engine)
        valid = [(virus, where) for virus, where, version in found if version == current]
        if current is None or not valid:
            return None
        viruses = tuple(dict.fromkeys(virus for virus, _ in valid))
        detail = f"verdict cache (signatures {current})"
        return ScanResult("infected", viruses, 0.0, detail, tuple(valid), cached=True)

    def remember(
        self, name: str, engine: Scanner, parts: list[ScanPart], result: ScanResult
    ) -> None:
        """Keep each located infected part's verdict, with the engine's signature version."""
        if not self.keep or result.status != "infected" or result.cached or not result.locations:
            return
        by_location = {part.location or part.name: part for part in parts}
        located = [(virus, by_location.get(where)) for virus, where in result.locations]
        located_parts = [(virus, part) for virus, part in located if part is not None]
        store = self._open()
        version = _version(engine) if located_parts and store is not None else None
        if store is None or version is None:
            return
        viruses: dict[str, list[str]] = {}
        for virus, part in located_parts:
            viruses.setdefault(_key(name, part), []).append(virus)
        now = time.time()
        try:
            for key, names in viruses.items():
                entry = json.dumps({"viruses": names, "version": version})
                store.put(key, entry, now, self.ttl_seconds)
        except StateUnavailable:
            return
