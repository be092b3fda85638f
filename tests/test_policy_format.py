"""`qmvc fmt`: one canonical layout that never changes what a policy means (issue 13).

The round trip is a property: any valid policy, laid out any way with comments anywhere,
formats to text that compiles to the same decision tree (spans aside: lines and columns
move) and formats to itself again.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from qmvc.policy.format import format_policy, layout_parser
from qmvc.policy.policy import Policy
from qmvc.record import Record
from qmvc.span import Span
from tests.policy_strategies import SETTINGS, valid_policies

REPO_ROOT = Path(__file__).resolve().parent.parent
SEPARATORS = [" ", "   ", "\t", "\n", "\n\n\n    ", "  # a note\n", "\n# on its own line\n\n"]


def without_spans(value: Any) -> Any:
    """A compiled tree as plain data with every Span blanked: what the policy means."""
    if isinstance(value, Span):
        return None
    if isinstance(value, Record):
        return type(value).__name__, without_spans(value.__dict__)
    if isinstance(value, dict):
        return {key: without_spans(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [without_spans(item) for item in value]
    return value


def meaning(text: str, path: Path) -> Any:
    path.write_text(text, encoding="utf-8")
    return without_spans(Policy.load(path).compile())


def relaid(text: str, separators: list[str]) -> str:
    """The same tokens, with the white space between them (and comments) drawn anew."""
    tokens = list(layout_parser().parse(text).scan_values(lambda v: hasattr(v, "start_pos")))
    pieces = []
    for index, token in enumerate(tokens):
        pieces.append(separators[index % len(separators)] if index else "")
        pieces.append(text[token.start_pos : token.end_pos])
    return "".join(pieces) + "\n"


def comments(text: str) -> list[str]:
    """Generated policies hold no `#` in strings: every one starts a comment."""
    return [comment.rstrip() for comment in re.findall(r"#[^\n]*", text)]


@SETTINGS
@given(valid_policies(), st.lists(st.sampled_from(SEPARATORS), min_size=1, max_size=12))
def test_fmt_keeps_the_decision_tree_and_is_idempotent(text: str, separators: list[str]) -> None:
    scrambled = relaid(text, separators)
    formatted = format_policy(scrambled)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "policy.qmvc"  # one path: the tree names its files
        assert meaning(formatted, path) == meaning(scrambled, path) == meaning(text, path)
    assert format_policy(formatted) == formatted
    assert comments(formatted) == comments(scrambled)


UGLY = """\
# top


guard av "a@b" language de # trailing
profile p default {badmail x when (subject is "a" or
  # inside
    body contains "b") and not sender is empty  # after
  on clean {deliver;} on virus { keep "q" ;
   notify av ; }   # t2
  scan s unless   badmail


  # before close

}
scanner s clamd socket "/x" timeout 1s
list l = "a"
  "b"   # c
# end

"""

UGLY_FORMATTED = """\
# top

guard av "a@b" language de  # trailing
profile p default {
  badmail x when (subject is "a" or
                 # inside
                 body contains "b") and not sender is empty  # after
  on clean { deliver }
  on virus {
    keep "q"
    notify av
  }  # t2
  scan s unless badmail

  # before close
}
scanner s clamd socket "/x" timeout 1s
list l = "a"
         "b"  # c
# end
"""


def test_layout_is_canonical_and_comments_stay_where_they_were() -> None:
    assert format_policy(UGLY) == UGLY_FORMATTED


def qmvc(*arguments: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qmvc.cli", *arguments],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_shipped_policies_are_formatted() -> None:
    shipped = sorted(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "policies").glob("*.qmvc"))
    done = qmvc("fmt", "--check", *shipped)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(shipped)} file(s) formatted" in done.stdout


def test_check_names_the_unformatted_file_and_exits_1(tmp_path: Path) -> None:
    ugly = tmp_path / "ugly.qmvc"
    ugly.write_text(UGLY)
    done = qmvc("fmt", "--check", str(ugly))
    assert done.returncode == 1
    assert f"{ugly}: not formatted" in done.stdout
    assert ugly.read_text() == UGLY


def test_diff_shows_what_would_change_and_changes_nothing(tmp_path: Path) -> None:
    ugly = tmp_path / "ugly.qmvc"
    ugly.write_text(UGLY)
    done = qmvc("fmt", "--diff", str(ugly))
    assert done.returncode == 0
    assert '\n-  on clean {deliver;} on virus { keep "q" ;\n' in done.stdout
    assert "\n+  on clean { deliver }\n" in done.stdout
    assert done.stdout.startswith(f"--- {ugly} (original)\n+++ {ugly} (formatted)\n")
    assert ugly.read_text() == UGLY


def test_write_replaces_the_file_behind_a_symlink_keeping_its_mode(tmp_path: Path) -> None:
    real = tmp_path / "etc" / "policy.qmvc"
    real.parent.mkdir()
    real.write_text(UGLY)
    real.chmod(0o640)
    link = tmp_path / "policy.qmvc"
    link.symlink_to(real)
    done = qmvc("fmt", "-w", str(link))
    assert done.returncode == 0, done.stderr
    assert link.is_symlink()
    assert real.read_text() == UGLY_FORMATTED
    assert real.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in real.parent.iterdir()) == ["policy.qmvc"]  # no temporary left


def test_a_syntax_error_is_reported_and_the_file_left_alone(tmp_path: Path) -> None:
    broken = tmp_path / "broken.qmvc"
    broken.write_text('profile p default {\n  badmail x when subject iz "a"\n}\n')
    done = qmvc("fmt", "-w", str(broken))
    assert done.returncode == 1
    assert f"{broken}:2:" in done.stderr
    assert "Traceback" not in done.stderr
    assert broken.read_text().startswith("profile p default {\n  badmail x when subject iz")
