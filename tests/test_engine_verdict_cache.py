"""The verdict cache (qmvc/engine/verdict_cache.py) on its own, with a real SQLite store.

The engine here is a small class with clamd's `signature_version` method and a version the
test can change: a real clamd cannot be made to report another signature version within a
test (its tiny EICAR database has none). The end-to-end cache, with real clamd, is in
tests/test_bombers.py and tests/test_deliver_in_process.py."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from qmvc.engine.verdict_cache import VerdictCache, cacheable
from qmvc.scanners.base import AttachmentParts, ScanPart, ScanResult, no_attachments
from qmvc.state.base import StateStore
from qmvc.state.factory import open_store

PAYLOAD = ScanPart("invoice.zip", b"PK\x03\x04 the bomb's payload", "invoice.zip")
OTHER = ScanPart("notes.txt", b"harmless", "notes.txt")
TEXT = ScanPart("", b"the message's own text")  # no location: known by its name


class VersionedEngine:
    """An engine with clamd's signature_version(); it is never asked to scan here."""

    name = "clamav"
    wants_parts = False

    def __init__(self, version: str | None = "ClamAV 1.4.6/27000") -> None:
        self.version = version

    def signature_version(self) -> str | None:
        return self.version

    def scan(
        self,
        message: bytes,
        parts: Sequence[ScanPart],
        attachments: AttachmentParts = no_attachments,
    ) -> ScanResult:
        raise AssertionError("a cache test never scans")


class CommandEngine:
    """Like a command-line engine: no signature version, so never cached."""

    name = "cmd"
    wants_parts = True


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return open_store("sqlite", "", tmp_path)


def infected(*located: tuple[str, str]) -> ScanResult:
    viruses = tuple(dict.fromkeys(virus for virus, _ in located))
    return ScanResult("infected", viruses, 0.4, "found", tuple(located))


def test_a_remembered_part_is_a_hit_for_the_same_content_under_any_name(
    store: StateStore,
) -> None:
    engine = VersionedEngine()
    cache = VerdictCache(lambda: store, 3600)
    cache.remember("clamav", engine, [PAYLOAD, OTHER], infected(("W32/Bomb", "invoice.zip")))
    renamed = ScanPart("rechnung.zip", PAYLOAD.content, "fwd.eml › rechnung.zip")
    hit = cache.lookup("clamav", engine, [OTHER, renamed])
    assert hit == ScanResult(
        "infected",
        ("W32/Bomb",),
        0.0,
        "verdict cache (signatures ClamAV 1.4.6/27000)",
        (("W32/Bomb", "fwd.eml › rechnung.zip"),),
        cached=True,
    )
    assert cache.lookup("clamav", engine, [OTHER]) is None  # the clean part was not kept
    assert cache.lookup("other-engine", engine, [renamed]) is None  # kept per engine


def test_every_cached_part_and_virus_is_reported_once_each(store: StateStore) -> None:
    engine = VersionedEngine()
    cache = VerdictCache(lambda: store, 3600)
    cache.remember(
        "clamav",
        engine,
        [PAYLOAD, OTHER, TEXT],
        infected(("W32/Bomb", "invoice.zip"), ("W32/Bomb", "notes.txt"), ("Js/Dropper", "")),
    )
    hit = cache.lookup("clamav", engine, [OTHER, TEXT, PAYLOAD])
    assert hit is not None
    assert hit.viruses == ("W32/Bomb", "Js/Dropper")
    assert hit.locations == (
        ("W32/Bomb", "notes.txt"),
        ("Js/Dropper", ""),
        ("W32/Bomb", "invoice.zip"),
    )


def test_a_signature_update_invalidates_the_cached_verdicts(store: StateStore) -> None:
    engine = VersionedEngine("ClamAV 1.4.6/27000")
    cache = VerdictCache(lambda: store, 3600)
    cache.remember("clamav", engine, [PAYLOAD], infected(("W32/Bomb", "invoice.zip")))
    engine.version = "ClamAV 1.4.6/27001"
    assert cache.lookup("clamav", engine, [PAYLOAD]) is None
    engine.version = None  # clamd cannot say its version now
    assert cache.lookup("clamav", engine, [PAYLOAD]) is None


def test_an_entry_lasts_its_time_to_live(store: StateStore) -> None:
    engine = VersionedEngine()
    cache = VerdictCache(lambda: store, 60)
    cache.remember("clamav", engine, [PAYLOAD], infected(("W32/Bomb", "invoice.zip")))
    import time

    assert cache.lookup("clamav", engine, [PAYLOAD], now=time.time() + 30) is not None
    assert cache.lookup("clamav", engine, [PAYLOAD], now=time.time() + 90) is None


def test_explain_reads_the_cache_and_keeps_nothing(store: StateStore) -> None:
    engine = VersionedEngine()
    VerdictCache(lambda: store, 3600, keep=False).remember(
        "clamav", engine, [PAYLOAD], infected(("W32/Bomb", "invoice.zip"))
    )
    assert VerdictCache(lambda: store, 3600).lookup("clamav", engine, [PAYLOAD]) is None
    assert VerdictCache(lambda: store, 3600).keep is True


@pytest.mark.parametrize(
    "result",
    [
        ScanResult("clean", (), 0.2, "clean"),
        ScanResult("infected", ("W32/Bomb",), 0.4, "found"),  # no known location
        ScanResult("infected", ("W32/Bomb",), 0.0, "", (("W32/Bomb", "invoice.zip"),), True),
        ScanResult("infected", ("W32/Bomb",), 0.4, "", (("W32/Bomb", "elsewhere.zip"),)),
    ],
    ids=["clean", "unlocated", "already-cached", "unknown-part"],
)
def test_only_a_fresh_infected_verdict_on_a_known_part_is_kept(
    store: StateStore, result: ScanResult
) -> None:
    engine = VersionedEngine()
    cache = VerdictCache(lambda: store, 3600)
    cache.remember("clamav", engine, [PAYLOAD], result)
    assert cache.lookup("clamav", engine, [PAYLOAD]) is None


def test_no_parts_no_store_opened(store: StateStore) -> None:
    opened: list[int] = []

    def opener() -> StateStore:
        opened.append(1)
        return store

    assert VerdictCache(opener, 3600).lookup("clamav", VersionedEngine(), []) is None
    assert opened == []


def test_a_store_that_fails_or_holds_garbage_is_a_miss(tmp_path: Path, store: StateStore) -> None:
    engine = VersionedEngine()
    cache = VerdictCache(lambda: store, 3600)
    cache.remember("clamav", engine, [PAYLOAD], infected(("W32/Bomb", "invoice.zip")))
    assert VerdictCache(lambda: None, 3600).lookup("clamav", engine, [PAYLOAD]) is None
    with sqlite3.connect(tmp_path / "state" / "qmvc.sqlite") as db:
        assert db.execute("UPDATE cache SET value = CAST('not json' AS BLOB)").rowcount == 1
    assert cache.lookup("clamav", engine, [PAYLOAD]) is None


def test_only_engines_with_a_signature_version_are_cacheable(store: StateStore) -> None:
    assert cacheable(VersionedEngine())  # type: ignore[arg-type]
    assert not cacheable(CommandEngine())  # type: ignore[arg-type]
    assert not cacheable(None)
    cache = VerdictCache(lambda: store, 3600)
    engine = CommandEngine()
    cache.remember("cmd", engine, [PAYLOAD], infected(("W32/Bomb", "invoice.zip")))  # type: ignore[arg-type]
    assert cache.lookup("cmd", engine, [PAYLOAD]) is None  # type: ignore[arg-type]
