"""`qmvc check-policy` as admins and CI run it: real processes, real files.

Whatever the input, a bad policy gives exit 1 and a diagnostic, never a traceback.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from tests.test_policy_golden import REPO_ROOT, run_check_policy

SHIPPED = sorted(p.relative_to(REPO_ROOT) for p in (REPO_ROOT / "policies").glob("*.qmvc"))
WARNED = "tests/policies/bad/warning-unused-list.qmvc"
"""A policy with one warning and no error."""
DIAGNOSTIC_LINE = re.compile(r"^\S+:\d+:\d+: error\[[a-z-]+\]: ", re.M)


def assert_refused_without_traceback(*paths: Path) -> str:
    """Exit 1, an error diagnostic per file, no Python traceback anywhere."""
    result = run_check_policy(*map(str, paths))
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr == ""
    assert result.returncode == 1
    for path in paths:
        assert re.search(rf"^{re.escape(str(path))}: [1-9]\d* error\(s\)", result.stdout, re.M), (
            path
        )
    assert len(DIAGNOSTIC_LINE.findall(result.stdout)) >= len(paths)
    return result.stdout


def test_shipped_policies_pass() -> None:
    result = run_check_policy(*map(str, SHIPPED))
    assert result.returncode == 0, result.stdout
    assert all(f"{path}: ok: " in result.stdout for path in SHIPPED)


def test_shipped_policies_pass_strict() -> None:
    assert run_check_policy("--strict", *map(str, SHIPPED)).returncode == 0


def test_summary_counts_profiles_rules_scanners_domains() -> None:
    result = run_check_policy("policies/strict.qmvc")
    assert result.stdout.strip() == (
        "policies/strict.qmvc: ok: 2 profiles, 14 rules, 2 scanners, 2 domains; 0 warning(s)"
    )


def test_json_lists_each_file_with_its_diagnostics() -> None:
    bad = ["tests/policies/bad/undefined-list.qmvc", "tests/policies/bad/warning-unused-list.qmvc"]
    result = run_check_policy("--format", "json", *map(str, SHIPPED), *bad)
    assert result.returncode == 1
    reports = json.loads(result.stdout)
    assert [r["file"] for r in reports] == [*map(str, SHIPPED), *bad]
    assert [r["ok"] for r in reports] == [True] * len(SHIPPED) + [False, True]
    diagnostics = [d for r in reports for d in r["diagnostics"]]
    assert {d["code"] for d in diagnostics} == {"undefined-list", "unused-list"}
    for diagnostic in diagnostics:
        assert {
            "file",
            "line",
            "column",
            "code",
            "hint",
            "severity",
            "message",
        } <= diagnostic.keys()
        assert diagnostic["file"].startswith("tests/policies/bad/")
        assert diagnostic["line"] >= 1 and diagnostic["column"] >= 1
        assert diagnostic["hint"]


def test_json_for_a_syntax_error_points_at_the_word() -> None:
    result = run_check_policy(
        "--format", "json", "tests/policies/bad/syntax-misspelled-keyword.qmvc"
    )
    [report] = json.loads(result.stdout)
    [diagnostic] = report["diagnostics"]
    assert (diagnostic["line"], diagnostic["column"], diagnostic["end_column"]) == (2, 1, 7)
    assert diagnostic["hint"] == "did you mean 'profile'?"


def test_strict_json_marks_warnings_as_failing() -> None:
    result = run_check_policy("--strict", "--format", "json", WARNED)
    assert result.returncode == 1
    assert json.loads(result.stdout)[0]["ok"] is False


def test_strict_last_line_says_failed_as_the_exit_code_does() -> None:
    result = run_check_policy("--strict", WARNED)
    assert result.returncode == 1
    assert (
        result.stdout.splitlines()[-1] == f"{WARNED}: failed (--strict): 0 error(s), 1 warning(s)"
    )
    assert ": ok:" not in result.stdout


def test_without_strict_a_warning_is_ok_in_text_json_and_exit_code() -> None:
    text = run_check_policy(WARNED)
    assert text.returncode == 0
    assert text.stdout.splitlines()[-1].startswith(f"{WARNED}: ok: ")
    as_json = run_check_policy("--format", "json", WARNED)
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout)[0]["ok"] is True


def test_strict_reports_each_file_by_its_own_result() -> None:
    result = run_check_policy("--strict", "policies/strict.qmvc", WARNED)
    assert result.returncode == 1
    assert "policies/strict.qmvc: ok: " in result.stdout
    assert f"{WARNED}: failed (--strict): " in result.stdout
    reports = json.loads(
        run_check_policy("--strict", "--format", "json", "policies/strict.qmvc", WARNED).stdout
    )
    assert [report["ok"] for report in reports] == [True, False]


def test_unknown_option_is_a_usage_error() -> None:
    assert run_check_policy("--no-such-option", "policies/default.qmvc").returncode == 2


def test_missing_file_is_reported_not_raised(tmp_path: Path) -> None:
    result = run_check_policy(str(tmp_path / "absent.qmvc"))
    assert result.returncode == 1
    assert "error[unreadable-file]" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_a_directory_is_reported_not_raised(tmp_path: Path) -> None:
    result = run_check_policy(str(tmp_path))
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr


def test_random_bytes_never_show_a_traceback(tmp_path: Path) -> None:
    generator = random.Random(20240602)
    paths = []
    for index in range(40):
        path = tmp_path / f"random-{index}.qmvc"
        path.write_bytes(generator.randbytes(generator.randrange(1, 3000)))
        paths.append(path)
    assert_refused_without_traceback(*paths)


def test_random_printable_text_never_shows_a_traceback(tmp_path: Path) -> None:
    generator = random.Random(7)
    alphabet = 'abcdefghijklmnopqrstuvwxyz{}()"/\\#*.,;=<>+-_ \n\t0123456789'
    paths = []
    for index in range(40):
        path = tmp_path / f"text-{index}.qmvc"
        path.write_text("".join(generator.choices(alphabet, k=generator.randrange(1, 2000))))
        paths.append(path)
    assert_refused_without_traceback(*paths)


def test_truncated_shipped_policies_never_show_a_traceback(tmp_path: Path) -> None:
    """Every cut point a few bytes apart: each copy is refused or accepted, never a crash."""
    paths = []
    for shipped in SHIPPED:
        data = (REPO_ROOT / shipped).read_bytes()
        (tmp_path / "lists").mkdir(exist_ok=True)
        for listed in (REPO_ROOT / "policies" / "lists").iterdir():
            (tmp_path / "lists" / listed.name).write_bytes(listed.read_bytes())
        (tmp_path / "default.qmvc").write_bytes((REPO_ROOT / "policies/default.qmvc").read_bytes())
        for cut in range(1, len(data), 7):
            path = tmp_path / f"{shipped.stem}-{cut}.qmvc"
            path.write_bytes(data[:cut])
            paths.append(path)
    result = run_check_policy(*map(str, paths))
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 1
    for path in paths:
        assert re.search(rf"^{re.escape(str(path))}: (ok|\d+ error)", result.stdout, re.M), path


def test_a_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "policy.qmvc"
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 40)
    assert "error[binary-file]" in assert_refused_without_traceback(path)


def test_a_10_mb_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.qmvc"
    rule = b'  badmail r when subject contains "x"\n'
    path.write_bytes(b"profile p default {\n" + rule * (10 * 1024 * 1024 // len(rule)) + b"}\n")
    assert "error[file-too-large]" in assert_refused_without_traceback(path)


@pytest.mark.parametrize(
    "condition",
    [
        "not " * 1000 + 'subject is "x"',
        "(" * 1000 + 'subject is "x"' + ")" * 1000,
        '(subject is "x" and ' * 1000 + 'body is "y"' + ")" * 1000,
        'subject is "x" or ' * 1000 + 'body is "y"',
    ],
    ids=["not", "parentheses", "and", "or-chain"],
)
def test_deep_conditions_are_refused_or_accepted_without_traceback(
    condition: str, tmp_path: Path
) -> None:
    path = tmp_path / "deep.qmvc"
    path.write_text(
        f"profile p default {{\n  badmail deep when {condition}\n  on badmail {{ deliver }}\n}}\n"
    )
    result = run_check_policy(str(path))
    assert "Traceback" not in result.stdout + result.stderr
    if condition.startswith(("not", "(")):
        assert result.returncode == 1
        assert "error[too-deep]" in result.stdout


def test_a_long_flat_or_chain_is_accepted(tmp_path: Path) -> None:
    """Width is not depth: 1,000 alternatives side by side are one level."""
    path = tmp_path / "wide.qmvc"
    alternatives = " or ".join(f'subject contains "w{i}"' for i in range(1000))
    path.write_text(
        f"profile p default {{\n  badmail wide when {alternatives}\n"
        "  on badmail { deliver }\n}\n"
    )
    assert run_check_policy(str(path)).returncode == 0
