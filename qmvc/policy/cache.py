"""The compiled-policy cache: the delivery hot path loads a pickle, never the parser.

An entry is keyed by the policy's path and records every file the policy read (its
includes and list files) with size, mtime, inode and SHA-256, all taken as the compiler read
the file, so an edit saved during a compile is seen next time. It is fresh when every file's
size, mtime and inode match; when they differ, or when a file changed so recently that its
mtime cannot be trusted, the content hash decides. Entries are written to a temporary
file and renamed into place, so concurrent deliveries see the old entry or the new one.

Only a fresh entry is used silently. When the policy changed and no longer compiles,
the last good entry stays in force and the error is returned for the log.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import time
import zlib
from pathlib import Path
from typing import Literal

from qmvc import __version__
from qmvc.engine.tree import DecisionTree
from qmvc.policy.stamp import FileStamp
from qmvc.record import Record

CACHE_FORMAT = f"qmvc-tree-10-{__version__}"
RACY_WINDOW_NS = 2_000_000_000


class CacheEntry(Record):
    format: str
    policy: str
    written_ns: int
    files: tuple[FileStamp, ...]
    tree: DecisionTree


class PolicyUnavailable(Exception):
    """No compiled policy can be had: the caller defers the message (exit 111)."""


class LoadedTree(Record):
    tree: DecisionTree
    stale_reason: str = ""  # why the last good tree is used instead of the current policy


def cache_file(policy_path: Path, cache_dir: Path) -> Path:
    """One entry per policy path; a path needs no cryptographic hash, only a stable name."""
    key = format(zlib.crc32(os.fsencode(os.path.abspath(policy_path))), "08x")
    return cache_dir / f"policy-{key}.pickle"


def load_tree(policy_path: Path, cache_dir: Path) -> LoadedTree:
    """The decision tree for this policy: cached when fresh, else compiled and cached."""
    entry_path = cache_file(policy_path, cache_dir)
    entry = _read_entry(entry_path, os.path.abspath(policy_path))
    freshness = _freshness(entry) if entry is not None else "stale"
    if entry is not None and freshness != "stale":
        if freshness == "hashed":
            _restamp(entry_path, entry)
        return LoadedTree(entry.tree)
    from qmvc.policy.diagnostics import PolicyError
    from qmvc.policy.policy import Policy

    try:
        policy = Policy.load(policy_path)
        tree = policy.compile()
    except PolicyError as exc:
        reason = f"policy {policy_path} does not compile: {exc}"
        if entry is not None:
            return LoadedTree(entry.tree, reason)
        raise PolicyUnavailable(reason) from exc
    stamps = tuple(policy.stamps[path] for path in tree.sources)
    _store(
        entry_path,
        CacheEntry(CACHE_FORMAT, os.path.abspath(policy_path), time.time_ns(), stamps, tree),
    )
    return LoadedTree(tree)


def _read_entry(entry_path: Path, policy: str) -> CacheEntry | None:
    """The cached entry, or None when missing, corrupt, from another qmvc version or (a
    name collision) for another policy."""
    try:
        with entry_path.open("rb") as handle:
            entry = pickle.load(handle)
    except Exception:  # a corrupt cache is only a missing cache
        return None
    if not isinstance(entry, CacheEntry) or entry.format != CACHE_FORMAT or entry.policy != policy:
        return None
    return entry


def _freshness(entry: CacheEntry) -> Literal["stale", "trusted", "hashed"]:
    """stale: a file changed or is gone; trusted: every stat matches; hashed: fresh, but only
    the content hash could tell (a racy mtime, or a file touched without a change)."""
    hashed = False
    for stamp in entry.files:
        try:
            status = os.stat(stamp.path)
        except OSError:
            return "stale"
        same_stat = (
            status.st_size == stamp.size
            and status.st_mtime_ns == stamp.mtime_ns
            and status.st_ino == stamp.inode
        )
        racy = status.st_mtime_ns >= entry.written_ns - RACY_WINDOW_NS
        if not same_stat or racy:
            if _sha256(stamp.path) != stamp.sha256:
                return "stale"
            hashed = True
    return "hashed" if hashed else "trusted"


def _restamp(entry_path: Path, entry: CacheEntry) -> None:
    """Store a fresh entry, just verified by its hashes, with today's sizes, mtimes and write
    time, so that later deliveries trust the stat again instead of hashing every file for
    ever (an entry written within RACY_WINDOW_NS of an edit stays racy otherwise). Only when
    every mtime is older than the window: a file changed after it was hashed has a newer one."""
    now = time.time_ns()
    stamps = []
    for stamp in entry.files:
        try:
            status = os.stat(stamp.path)
        except OSError:
            return
        if status.st_mtime_ns >= now - RACY_WINDOW_NS:
            return
        stamps.append(
            FileStamp(stamp.path, status.st_size, status.st_mtime_ns, stamp.sha256, status.st_ino)
        )
    _store(entry_path, CacheEntry(entry.format, entry.policy, now, tuple(stamps), entry.tree))


def _sha256(path: str) -> str:
    import hashlib

    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return ""


def _store(entry_path: Path, entry: CacheEntry) -> None:
    import tempfile

    try:
        entry_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temporary = tempfile.mkstemp(dir=entry_path.parent, prefix=".policy-")
        with os.fdopen(handle, "wb") as stream:
            pickle.dump(entry, stream, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, entry_path)
    except OSError:
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(temporary)
