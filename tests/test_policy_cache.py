"""The compiled-policy cache: fresh entries load without the parser, edits are seen,
a broken edit keeps the last good tree, a corrupt entry is only a missing one."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from qmvc.policy.cache import (
    CACHE_FORMAT,
    RACY_WINDOW_NS,
    CacheEntry,
    PolicyUnavailable,
    _freshness,
    cache_file,
    load_tree,
)
from qmvc.policy.policy import Policy

REPO_ROOT = Path(__file__).resolve().parent.parent

MAIN = """include "common.qmvc"
list names from "names.txt"
profile standard default {
  badmail names when any attachment.name matches list names
  badmail worm when subject contains "ILOVEYOU"
  on badmail { keep "quarantine/badmail"; notify av }
}
"""
COMMON = 'guard av "virus-team@example.org"\n'
NAMES = "*.exe\n*.scr\n"


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    (tmp_path / "common.qmvc").write_text(COMMON)
    (tmp_path / "names.txt").write_text(NAMES)
    main = tmp_path / "policy.qmvc"
    main.write_text(MAIN)
    return main


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def rule_names(policy: Path, cache_dir: Path) -> list[str]:
    return [c.name for c in load_tree(policy, cache_dir).tree.profiles["standard"].criteria]


def labels_of(policy: Path, cache_dir: Path, rule: str) -> list[str]:
    profile = load_tree(policy, cache_dir).tree.profiles["standard"]
    test = next(c.test for c in profile.criteria if c.name == rule)
    return [item.label for item in test.items]  # type: ignore[union-attr]


def rewrite(path: Path, text: str) -> None:
    """Write and move the mtime, as an editor saving a second later would."""
    path.write_text(text)
    status = path.stat()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))


def test_first_load_compiles_and_writes_the_cache(policy: Path, cache_dir: Path) -> None:
    loaded = load_tree(policy, cache_dir)
    assert loaded.stale_reason == ""
    assert cache_file(policy, cache_dir).is_file()


def test_a_second_load_in_a_fresh_process_does_not_import_lark(
    policy: Path, cache_dir: Path
) -> None:
    load_tree(policy, cache_dir)
    script = (
        "import sys; from pathlib import Path; from qmvc.policy.cache import load_tree; "
        f"loaded = load_tree(Path({str(policy)!r}), Path({str(cache_dir)!r})); "
        "print(sorted(m for m in sys.modules if m == 'lark' or m.startswith('lark.')), "
        "loaded.stale_reason == '')"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=True,
    )
    assert result.stdout.strip() == "[] True"


def test_an_edited_policy_is_picked_up(policy: Path, cache_dir: Path) -> None:
    assert "worm" in rule_names(policy, cache_dir)
    rewrite(policy, MAIN.replace("badmail worm", "badmail worms"))
    assert "worms" in rule_names(policy, cache_dir)


def test_an_edit_of_the_same_size_in_the_same_second_is_picked_up(
    policy: Path, cache_dir: Path
) -> None:
    status = policy.stat()
    assert "worm" in rule_names(policy, cache_dir)
    policy.write_text(MAIN.replace("badmail worm", "badmail mrow"))
    os.utime(policy, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert "mrow" in rule_names(policy, cache_dir)


def test_an_edited_include_is_picked_up(policy: Path, cache_dir: Path) -> None:
    assert load_tree(policy, cache_dir).tree.guards["av"] == ("virus-team@example.org",)
    rewrite(policy.parent / "common.qmvc", 'guard av "soc@example.org"\n')
    assert load_tree(policy, cache_dir).tree.guards["av"] == ("soc@example.org",)


def test_an_edited_list_file_is_picked_up(policy: Path, cache_dir: Path) -> None:
    assert labels_of(policy, cache_dir, "names") == ['"*.exe"', '"*.scr"']
    rewrite(policy.parent / "names.txt", "*.exe\n*.scr\n*.pif\n")
    assert labels_of(policy, cache_dir, "names") == ['"*.exe"', '"*.scr"', '"*.pif"']


def test_a_broken_edit_keeps_the_last_good_tree_and_says_why(policy: Path, cache_dir: Path) -> None:
    good = rule_names(policy, cache_dir)
    rewrite(policy, MAIN.replace("badmail worm when", "badmail worm whn"))
    loaded = load_tree(policy, cache_dir)
    assert [c.name for c in loaded.tree.profiles["standard"].criteria] == good
    assert str(policy) in loaded.stale_reason and "whn" in loaded.stale_reason


def test_a_broken_include_keeps_the_last_good_tree(policy: Path, cache_dir: Path) -> None:
    good = load_tree(policy, cache_dir).tree
    rewrite(policy.parent / "common.qmvc", 'guard av "unterminated\n')
    loaded = load_tree(policy, cache_dir)
    assert "common.qmvc" in loaded.stale_reason
    assert loaded.tree == good
    assert loaded.tree.guards["av"] == ("virus-team@example.org",)


def test_a_deleted_list_file_keeps_the_last_good_tree(policy: Path, cache_dir: Path) -> None:
    good = load_tree(policy, cache_dir).tree
    (policy.parent / "names.txt").unlink()
    loaded = load_tree(policy, cache_dir)
    assert "names.txt" in loaded.stale_reason
    assert loaded.tree == good
    assert labels_of(policy, cache_dir, "names") == ['"*.exe"', '"*.scr"']


def test_a_fixed_policy_clears_the_stale_reason(policy: Path, cache_dir: Path) -> None:
    load_tree(policy, cache_dir)
    rewrite(policy, "garbage\n")
    assert load_tree(policy, cache_dir).stale_reason
    rewrite(policy, MAIN)
    assert load_tree(policy, cache_dir).stale_reason == ""


def test_a_broken_policy_without_cache_is_unavailable(policy: Path, cache_dir: Path) -> None:
    policy.write_text("profile {\n")
    with pytest.raises(PolicyUnavailable, match=str(policy)):
        load_tree(policy, cache_dir)


def test_a_missing_policy_without_cache_is_unavailable(tmp_path: Path, cache_dir: Path) -> None:
    with pytest.raises(PolicyUnavailable):
        load_tree(tmp_path / "absent.qmvc", cache_dir)


@pytest.mark.parametrize(
    "garbage",
    [b"", b"not a pickle", b"\x80\x05K\x01.", b"\x80\x05\x95"],
    ids=["empty", "text", "another-object", "truncated"],
)
def test_a_corrupt_cache_file_is_ignored_and_rewritten(
    policy: Path, cache_dir: Path, garbage: bytes
) -> None:
    load_tree(policy, cache_dir)
    entry = cache_file(policy, cache_dir)
    entry.write_bytes(garbage)
    loaded = load_tree(policy, cache_dir)
    assert loaded.stale_reason == "" and "worm" in rule_names(policy, cache_dir)
    assert entry.read_bytes() != garbage
    assert load_tree(policy, cache_dir).tree == loaded.tree


def test_an_unwritable_cache_directory_costs_speed_not_the_tree(
    policy: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    assert load_tree(policy, blocker / "cache").stale_reason == ""


# ---- deployment: files replaced by copies that carry their own mtime -----------------------
#
# `cp -p`, `rsync -t` and `tar x` give a file the mtime it had where it came from, older than
# the one it replaces or (a release tree whose files all carry one fixed mtime, as
# reproducible builds and Nix make them) the very same. The policy files here were written
# long ago, outside the cache's racy window, so only the stat decides whether to look closer.

LONG_AGO_NS = 1_600_000_000 * 1_000_000_000  # September 2020


def deployed_long_ago(policy: Path) -> None:
    for path in policy.parent.glob("*.*"):
        os.utime(path, ns=(LONG_AGO_NS, LONG_AGO_NS))


def copy_in_place(path: Path, text: str, mtime_ns: int) -> None:
    """Overwrite the same inode and set the mtime the copy came with, as `cp -p` does."""
    inode = path.stat().st_ino
    path.write_text(text)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    assert path.stat().st_ino == inode


def rename_over(path: Path, text: str, mtime_ns: int) -> None:
    """Write a new file beside it and rename it into place, as `rsync -t` and `tar x` do."""
    inode = path.stat().st_ino
    incoming = path.with_name(f".{path.name}.incoming")
    incoming.write_text(text)
    os.utime(incoming, ns=(mtime_ns, mtime_ns))
    os.replace(incoming, path)
    assert path.stat().st_ino != inode


WITHOUT_WORM = MAIN.replace('  badmail worm when subject contains "ILOVEYOU"\n', "")
WORM_RENAMED = MAIN.replace("badmail worm when", "badmail mrow when")


def test_a_shorter_copy_with_an_older_mtime_is_picked_up(policy: Path, cache_dir: Path) -> None:
    """Rolling back to yesterday's policy with `cp -p policy.qmvc.bak policy.qmvc`."""
    deployed_long_ago(policy)
    assert "worm" in rule_names(policy, cache_dir)
    copy_in_place(policy, WITHOUT_WORM, LONG_AGO_NS - 86_400 * 1_000_000_000)
    assert rule_names(policy, cache_dir) == ["names"]


def test_a_copy_of_another_size_with_the_same_mtime_is_picked_up(
    policy: Path, cache_dir: Path
) -> None:
    deployed_long_ago(policy)
    assert labels_of(policy, cache_dir, "names") == ['"*.exe"', '"*.scr"']
    copy_in_place(policy.parent / "names.txt", "*.exe\n*.scr\n*.pif\n", LONG_AGO_NS)
    assert labels_of(policy, cache_dir, "names") == ['"*.exe"', '"*.scr"', '"*.pif"']


def test_a_copy_of_the_same_size_with_an_older_mtime_is_picked_up(
    policy: Path, cache_dir: Path
) -> None:
    deployed_long_ago(policy)
    assert "worm" in rule_names(policy, cache_dir)
    copy_in_place(policy, WORM_RENAMED, LONG_AGO_NS - 86_400 * 1_000_000_000)
    assert "mrow" in rule_names(policy, cache_dir)


def test_a_new_file_renamed_over_the_policy_is_picked_up(policy: Path, cache_dir: Path) -> None:
    """Same size, same mtime, another inode: only the inode tells the stat it is another file."""
    deployed_long_ago(policy)
    assert "worm" in rule_names(policy, cache_dir)
    rename_over(policy, WORM_RENAMED, LONG_AGO_NS)
    assert "mrow" in rule_names(policy, cache_dir)


def test_an_entry_written_by_another_qmvc_version_is_recompiled_not_used(
    policy: Path, cache_dir: Path, tmp_path: Path
) -> None:
    """The entry is fresh in every other respect (same policy, today's stamps), and its tree
    is another policy's, so using it would show."""
    load_tree(policy, cache_dir)
    entry_path = cache_file(policy, cache_dir)
    current = pickle.loads(entry_path.read_bytes())
    other_policy = tmp_path / "other.qmvc"
    other_policy.write_text(
        'profile standard default {\n  badmail foreign when subject contains "x"\n'
        '  on badmail { keep "q" }\n}\n'
    )
    foreign = CacheEntry(
        "qmvc-tree-5-0.0.1",
        current.policy,
        time.time_ns(),
        current.files,
        Policy.load(other_policy).compile(),
    )
    entry_path.write_bytes(pickle.dumps(foreign))
    loaded = load_tree(policy, cache_dir)
    assert [c.name for c in loaded.tree.profiles["standard"].criteria] == ["worm", "names"]
    assert loaded.tree == current.tree
    assert pickle.loads(entry_path.read_bytes()).format == CACHE_FORMAT


def test_the_racy_window_includes_its_edge(policy: Path, cache_dir: Path) -> None:
    """A file whose mtime is RACY_WINDOW_NS or less before the entry's write time may have
    changed after the compiler read it without its stat showing it: its hash decides. One
    nanosecond further back, the stat is trusted (and a same-size copy with the same mtime
    into the same inode goes unseen: the reason for the window)."""
    deployed_long_ago(policy)
    assert "worm" in rule_names(policy, cache_dir)
    entry_path = cache_file(policy, cache_dir)
    entry = pickle.loads(entry_path.read_bytes())

    def written_at(written_ns: int) -> None:
        entry_path.write_bytes(
            pickle.dumps(
                CacheEntry(entry.format, entry.policy, written_ns, entry.files, entry.tree)
            )
        )

    copy_in_place(policy, WORM_RENAMED, LONG_AGO_NS)  # same size, mtime and inode
    written_at(LONG_AGO_NS + RACY_WINDOW_NS + 1)
    assert "worm" in rule_names(policy, cache_dir)
    written_at(LONG_AGO_NS + RACY_WINDOW_NS)
    assert "mrow" in rule_names(policy, cache_dir)


def test_freshness_says_how_an_entry_is_known_fresh_or_that_it_is_stale(
    policy: Path, cache_dir: Path
) -> None:
    deployed_long_ago(policy)
    load_tree(policy, cache_dir)
    entry = pickle.loads(cache_file(policy, cache_dir).read_bytes())
    assert _freshness(entry) == "trusted"  # every stat matches: nothing hashed
    copy_in_place(policy, MAIN, LONG_AGO_NS - 1_000_000_000)  # the same text, another mtime
    assert _freshness(entry) == "hashed"
    copy_in_place(policy, WORM_RENAMED, LONG_AGO_NS - 2_000_000_000)
    assert _freshness(entry) == "stale"


def test_the_cache_directory_is_made_with_its_parents_for_its_owner_only(
    policy: Path, tmp_path: Path
) -> None:
    """Loading a pickle runs code: nobody else may write (or read) the compiled policies."""
    cache_dir = tmp_path / "var" / "qmvc" / "cache"
    old_umask = os.umask(0o022)
    try:
        load_tree(policy, cache_dir)
    finally:
        os.umask(old_umask)
    assert cache_file(policy, cache_dir).is_file()
    assert cache_dir.stat().st_mode & 0o777 == 0o700


def test_an_entry_is_written_beside_itself_whatever_the_temporary_directory(
    policy: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written to a temporary file in the cache directory and renamed: a rename from another
    file system (TMPDIR on a tmpfs) would fail, and the entry would never be stored."""
    elsewhere = Path("/dev/shm")
    if not elsewhere.is_dir() or elsewhere.stat().st_dev == policy.stat().st_dev:
        pytest.skip("needs a temporary directory on another file system")
    monkeypatch.setattr(tempfile, "tempdir", str(elsewhere))
    load_tree(policy, cache_dir)
    assert list(cache_dir.iterdir()) == [cache_file(policy, cache_dir)]


def test_two_policies_keep_an_entry_each_in_one_cache_directory(
    policy: Path, cache_dir: Path, tmp_path: Path
) -> None:
    """qmail-local runs deliveries for several policies (one a user, a domain) side by side:
    each finds its own entry, and neither recompiles because of the other."""
    other = tmp_path / "other.qmvc"
    other.write_text(
        'profile standard default {\n  badmail x when subject contains "x"\n'
        '  on badmail { keep "q" }\n}\n'
    )
    load_tree(policy, cache_dir)
    load_tree(other, cache_dir)
    entries = {
        path: pickle.loads(cache_file(path, cache_dir).read_bytes()) for path in (policy, other)
    }
    assert cache_file(policy, cache_dir) != cache_file(other, cache_dir)
    assert {entry.policy for entry in entries.values()} == {str(policy), str(other)}
    for path, entry in entries.items():
        load_tree(path, cache_dir)
        assert pickle.loads(cache_file(path, cache_dir).read_bytes()).written_ns == entry.written_ns
