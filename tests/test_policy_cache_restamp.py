"""The policy cache's restamp: an entry that only its hashes could prove fresh is stored again
with today's stat, so the deliveries after it trust the stat instead of hashing every file
for ever; never while a file's mtime is too recent to trust, never for a file gone.

These look at the stored entry itself (its write time, each file's size, mtime and inode),
which the delivery tests see only as "no hashlib imported" (tests/mutation/NOTES.md)."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import pytest

import qmvc.policy.cache
from qmvc.policy.cache import RACY_WINDOW_NS, CacheEntry, _restamp, cache_file, load_tree

POLICY = """list names from "names.txt"
profile standard default {
  badmail names when any attachment.name matches list names
  on badmail { keep "quarantine/badmail" }
}
"""


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    (tmp_path / "names.txt").write_text("*.exe\n")
    main = tmp_path / "policy.qmvc"
    main.write_text(POLICY)
    return main


def stored(policy: Path, cache_dir: Path) -> CacheEntry:
    entry = pickle.loads(cache_file(policy, cache_dir).read_bytes())
    assert isinstance(entry, CacheEntry)
    return entry


def age(path: Path, seconds: float) -> None:
    """Set the mtime `seconds` back without changing the content (`touch -d`, `cp -p`)."""
    then = time.time_ns() - int(seconds * 1e9)
    os.utime(path, ns=(then, then))


def test_an_entry_proved_fresh_by_its_hashes_is_restamped_with_todays_stat(
    policy: Path, tmp_path: Path
) -> None:
    cache_dir = tmp_path / "cache"
    first = load_tree(policy, cache_dir).tree
    before = stored(policy, cache_dir)
    for path in (policy, tmp_path / "names.txt"):
        age(path, 60)  # the stat changes, the content does not: only the hashes can tell
    loaded_at = time.time_ns()
    assert load_tree(policy, cache_dir).tree == first
    after = stored(policy, cache_dir)
    assert after.written_ns >= loaded_at > before.written_ns
    assert (after.format, after.policy, after.tree) == (before.format, before.policy, first)
    assert [stamp.path for stamp in after.files] == [stamp.path for stamp in before.files]
    for stamp, old in zip(after.files, before.files, strict=True):
        status = os.stat(stamp.path)
        assert (stamp.size, stamp.mtime_ns, stamp.inode) == (
            status.st_size,
            status.st_mtime_ns,
            status.st_ino,
        )
        assert stamp.mtime_ns != old.mtime_ns and stamp.sha256 == old.sha256


def test_after_a_restamp_the_stat_is_trusted_and_nothing_is_hashed(
    policy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    load_tree(policy, cache_dir)
    for path in (policy, tmp_path / "names.txt"):
        age(path, 60)
    load_tree(policy, cache_dir)  # hashes, then restamps

    def no_hashing(path: str) -> str:
        raise AssertionError(f"{path} hashed although its stat matches the entry")

    monkeypatch.setattr(qmvc.policy.cache, "_sha256", no_hashing)
    written = stored(policy, cache_dir).written_ns
    assert load_tree(policy, cache_dir).stale_reason == ""
    assert stored(policy, cache_dir).written_ns == written  # trusted: not stored again


def test_no_restamp_while_a_files_mtime_is_too_recent_to_trust(
    policy: Path, tmp_path: Path
) -> None:
    """A file touched just now could still change within its mtime's granularity: the entry
    is used (the hashes match) but not restamped, so the next delivery hashes again."""
    cache_dir = tmp_path / "cache"
    load_tree(policy, cache_dir)
    age(policy, 60)
    age(tmp_path / "names.txt", 0)
    before = stored(policy, cache_dir)
    load_tree(policy, cache_dir)
    assert stored(policy, cache_dir) == before


def test_no_restamp_for_a_file_that_is_gone(policy: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    load_tree(policy, cache_dir)
    entry = stored(policy, cache_dir)
    (tmp_path / "names.txt").unlink()
    _restamp(cache_file(policy, cache_dir), entry)
    assert stored(policy, cache_dir) == entry


def test_the_window_is_racy_window_ns_back_from_now(policy: Path, tmp_path: Path) -> None:
    """An mtime half the window old is too recent; one and a half windows old is trusted."""
    cache_dir = tmp_path / "cache"
    load_tree(policy, cache_dir)
    window = RACY_WINDOW_NS / 1e9
    age(policy, 60)
    age(tmp_path / "names.txt", window / 2)
    before = stored(policy, cache_dir)
    load_tree(policy, cache_dir)
    assert stored(policy, cache_dir) == before
    age(tmp_path / "names.txt", window * 1.5)
    load_tree(policy, cache_dir)
    assert stored(policy, cache_dir).written_ns > before.written_ns
