"""Golden files: what `qmvc check-policy` prints for each broken policy under tests/policies/bad.

Each `NAME.qmvc` shows one problem; `NAME.expected` is the plain-text output, byte for
byte, of `qmvc check-policy tests/policies/bad/NAME.qmvc` run from the repository root.
Regenerate with `QMVC_UPDATE_GOLDEN=1 python3 -m pytest tests/test_policy_golden.py`,
then read every changed file: a golden file that shows a bad message is a bug in the
message code, not something to bless.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
BAD_DIR = Path("tests/policies/bad")
UPDATE = os.environ.get("QMVC_UPDATE_GOLDEN") == "1"
ROOT_PLACEHOLDER = "$QMVC_ROOT"


def _too_large_policy() -> bytes:
    line = b"# padding: a policy is text a person writes, never this long\n"
    return line * (5 * 1024 * 1024 // len(line))


# Cases too big to keep in git: written at the same relative path under a temporary root.
GENERATED: dict[str, Callable[[], bytes]] = {"file-too-large": _too_large_policy}

# Every code the issue asks check-policy to report, each needing at least one golden case.
REQUIRED_CODES = [
    "unexpected-token",
    "unexpected-end",
    "unexpected-character",
    "unterminated-string",
    "unterminated-regex",
    "bad-duration",
    "undefined-list",
    "undefined-scanner",
    "undefined-profile",
    "undefined-guard",
    "undefined-template",
    "duplicate-name",
    "invalid-regex",
    "domain-conflict",
    "include-cycle",
    "include-missing",
    "unknown-language",
    "unknown-field",
    "wrong-operator",
    "unknown-engine",
    "scanner-config",
    "no-profile",
    "several-defaults",
    "no-default-profile",
    "missing-action",
    "message-lost",
    "conflicting-actions",
    "too-deep",
    "binary-file",
    "invalid-encoding",
    "file-too-large",
    "invalid-setting",
    "shadowed-rule",
    "unused-scanner",
    "unused-profile",
    "unused-list",
    "sender-notice",
    "timeout-budget",
    "missing-template-language",
    "bad-address",
    "invalid-notices-limit",
    "template-error",
    "unclosed-brace",
    "bad-domain",
    "never-true",
    "always-true",
    "bad-network",
    "bad-selector",
    "selector-tie",
    "sender-only-bypass",
    "always-bypass",
    "unreachable-selector",
    "bypass-nothing",
]


def run_check_policy(*arguments: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    """`qmvc check-policy` as a real process, stdout piped (so plain text, never colour)."""
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    environment.pop("QMVC_POLICY", None)
    return subprocess.run(
        [sys.executable, "-m", "qmvc.cli", "check-policy", *arguments],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _case_names() -> list[str]:
    on_disk = {p.stem for p in (REPO_ROOT / BAD_DIR).glob("*.qmvc")}
    return sorted(on_disk | set(GENERATED))


def _normalised(output: str) -> str:
    return output.replace(str(REPO_ROOT), ROOT_PLACEHOLDER)


def _policy_root(name: str, tmp_path: Path) -> Path:
    """The directory to run from: the repository, or a temporary root for generated cases."""
    if name not in GENERATED:
        return REPO_ROOT
    generated = tmp_path / BAD_DIR / f"{name}.qmvc"
    generated.parent.mkdir(parents=True)
    generated.write_bytes(GENERATED[name]())
    return tmp_path


def _expected_path(name: str) -> Path:
    return REPO_ROOT / BAD_DIR / f"{name}.expected"


@pytest.mark.parametrize("name", _case_names())
def test_check_policy_prints_the_golden_diagnostics(name: str, tmp_path: Path) -> None:
    relative = str(BAD_DIR / f"{name}.qmvc")
    result = run_check_policy(relative, cwd=_policy_root(name, tmp_path))
    output = _normalised(result.stdout)
    if UPDATE:
        _expected_path(name).write_text(output, encoding="utf-8")
    assert result.stderr == ""
    assert output == _expected_path(name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", _case_names())
def test_errors_exit_1_and_warnings_exit_0_unless_strict(name: str, tmp_path: Path) -> None:
    relative = str(BAD_DIR / f"{name}.qmvc")
    root = _policy_root(name, tmp_path)
    has_errors = "error[" in _expected_path(name).read_text(encoding="utf-8")
    assert run_check_policy(relative, cwd=root).returncode == (1 if has_errors else 0)
    assert run_check_policy("--strict", relative, cwd=root).returncode == 1


def test_every_case_shows_a_diagnostic() -> None:
    for name in _case_names():
        text = _expected_path(name).read_text(encoding="utf-8")
        assert re.search(r"^\S+:\d+:\d+: (error|warning)\[[a-z-]+\]: ", text, re.M), name


def test_every_diagnostic_code_has_a_golden_case() -> None:
    shown = set()
    for name in _case_names():
        shown |= set(
            re.findall(
                r"(?:error|warning)\[([a-z-]+)\]", _expected_path(name).read_text(encoding="utf-8")
            )
        )
    assert sorted(set(REQUIRED_CODES) - shown) == []


def test_there_are_at_least_35_golden_cases() -> None:
    assert len(_case_names()) >= 35
