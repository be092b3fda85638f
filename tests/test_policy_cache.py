"""The compiled-policy cache: fresh entries load without the parser, edits are seen,
a broken edit keeps the last good tree, a corrupt entry is only a missing one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qmvc.policy.cache import PolicyUnavailable, cache_file, load_tree

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
    load_tree(policy, cache_dir)
    rewrite(policy.parent / "common.qmvc", 'guard av "unterminated\n')
    assert load_tree(policy, cache_dir).stale_reason != ""


def test_a_deleted_list_file_keeps_the_last_good_tree(policy: Path, cache_dir: Path) -> None:
    load_tree(policy, cache_dir)
    (policy.parent / "names.txt").unlink()
    assert "names.txt" in load_tree(policy, cache_dir).stale_reason


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
