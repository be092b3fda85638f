"""`qmvc test`: a policy's own test cases, run by real `qmvc` processes (issue 13)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((REPO_ROOT / "policies").glob("*.qmvc"))


def qmvc(*arguments: str, qmvc_dir: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "QMVC_DIR": str(qmvc_dir)}
    environment.pop("QMVC_POLICY", None)
    return subprocess.run(
        [sys.executable, "-m", "qmvc.cli", *arguments],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("policy", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_policy_passes_its_own_tests(policy: Path, tmp_path: Path) -> None:
    assert policy.with_name(f"{policy.stem}.tests.toml").is_file()
    done = qmvc("test", "--policy", str(policy), qmvc_dir=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith(" 0 failed")


def test_a_broken_policy_change_fails_the_named_case_with_the_deciding_rule(
    tmp_path: Path,
) -> None:
    shutil.copytree(REPO_ROOT / "policies", tmp_path / "policies")
    policy = tmp_path / "policies" / "default.qmvc"
    rule = "badmail filename when any attachment.name matches list dangerous_names"
    text = policy.read_text()
    line = text[: text.index(rule)].count("\n") + 1
    broken = 'badmail filename when any attachment.name matches "*.no"'
    policy.write_text(text.replace(rule, broken))
    done = qmvc("test", "--policy", str(policy), qmvc_dir=tmp_path / "qmvc")
    assert done.returncode == 1, done.stdout + done.stderr
    report = done.stdout
    assert "FAIL  a double extension is badmail" in report
    failed_case = report[report.index("FAIL  a double extension is badmail") :]
    assert "outcome: expected 'badmail', got 'clean'" in failed_case
    assert "badmail filename: expected to match, but no badmail rule matched" in failed_case
    assert f"false   badmail filename  [{policy}:{line}:3]" in failed_case
    assert f'{line:>4} | badmail filename when any attachment.name matches "*.no"' in failed_case
    assert 'false   any attachment.name matches "*.no": attachment.name: "invoice.pdf.exe"' in (
        failed_case
    )
    assert report.rstrip().endswith("12 passed, 1 failed")


POLICY = """\
scanner clamav clamd socket "{socket}" timeout 2s
profile p default {{
  badmail exe when any attachment.name matches "*.exe"
  badmail never when subject is "this subject never comes"
  scan clamav unless badmail
  on virus {{ keep "q/virus" }}
  on badmail {{ keep "q/badmail" }}
  on clean {{ deliver }}
  on failure {{ defer }}
}}
"""

CASES = """\
[[case]]
name = "a program is badmail"
sender = "a@example.org"
recipient = "b@example.org"
message = {{ body = "x", attachments = [{{ name = "setup.exe", content = "MZ" }}] }}
matches = ["exe"]
does_not_match = ["never"]
[[case]]
name = "an unreachable real scanner defers"
sender = "a@example.org"
recipient = "b@example.org"
scanners = {{ clamav = "real" }}
message = {{ body = "hello" }}
{expectation}
"""


def write_policy(tmp_path: Path, expectation: str = 'outcome = "scanner-failure"') -> Path:
    policy = tmp_path / "small.qmvc"
    policy.write_text(POLICY.format(socket=tmp_path / "no-clamd.sock"))
    policy.with_name("small.tests.toml").write_text(CASES.format(expectation=expectation))
    return policy


def test_coverage_reports_the_rules_no_case_exercised(tmp_path: Path) -> None:
    policy = write_policy(tmp_path)
    done = qmvc("test", "--policy", str(policy), "--coverage", qmvc_dir=tmp_path / "q")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "coverage: 3 rule(s) no case exercised:" in done.stdout
    assert f"  {policy}:4:3: badmail never (profile p)" in done.stdout
    assert f"  {policy}:6:14: on virus (profile p)" in done.stdout
    assert f"  {policy}:8:14: on clean (profile p)" in done.stdout
    as_json = qmvc(
        "test", "--policy", str(policy), "--coverage", "--format", "json", qmvc_dir=tmp_path / "q"
    )
    [result] = json.loads(as_json.stdout)
    assert [(r["kind"], r["name"]) for r in result["uncovered"]] == [
        ("badmail", "never"),
        ("on", "virus"),
        ("on", "clean"),
    ]
    assert (result["passed"], result["failed"]) == (2, 0)


def test_coverage_lists_a_bypass_that_applied_to_no_case(tmp_path: Path) -> None:
    policy = tmp_path / "bypass.qmvc"
    policy.write_text(
        'hostname "mx.example.com"\n'
        "profile p default {\n"
        "  bypass badmail when client.ip in 10.0.0.0/8\n"
        '  bypass scan when header "X-Never" exists and client.ip in 192.0.2.0/24\n'
        '  badmail exe when any attachment.name matches "*.exe"\n'
        '  on badmail { keep "q" }\n'
        "}\n"
    )
    received = "from x (10.1.2.3) by mx.example.com with SMTP; 26 Nov 2026 02:00:00 -0000"
    policy.with_name("bypass.tests.toml").write_text(
        f'[[case]]\nname = "ours"\nmessage = {{ headers = {{ Received = "{received}" }}, '
        'body = "x", attachments = [{ name = "a.exe", content = "MZ" }] }\noutcome = "clean"\n'
    )
    done = qmvc("test", "--policy", str(policy), "--coverage", qmvc_dir=tmp_path / "q")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "coverage: 3 rule(s) no case exercised:" in done.stdout
    assert f"  {policy}:4:3: bypass scan (profile p)" in done.stdout
    assert f"{policy}:3:3: bypass" not in done.stdout


def test_a_test_file_beside_its_policy_tests_that_policy(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, 'outcome = "clean"')
    done = qmvc("test", str(policy.with_name("small.tests.toml")), qmvc_dir=tmp_path / "q")
    assert done.returncode == 1
    assert "FAIL  an unreachable real scanner defers" in done.stdout
    assert "outcome: expected 'clean', got 'scanner-failure'" in done.stdout
    assert "error   scan clamav: failed in 0.000s (" in done.stdout
    assert f"no-clamd.sock unreachable (No such file or directory))  [{policy}:5:3]" in done.stdout


def test_a_misspelt_expectation_is_an_error_not_a_pass(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, 'outcom = "clean"')
    done = qmvc("test", "--policy", str(policy), qmvc_dir=tmp_path / "q")
    assert done.returncode == 2
    assert "case 'an unreachable real scanner defers': unknown key(s) outcom" in done.stderr
    assert done.stdout == ""


def test_a_header_with_a_line_break_is_an_error_and_a_list_gives_several(tmp_path: Path) -> None:
    """An inline header cannot carry CR or LF (no traceback: the case is refused with a
    hint); several lines of one name come from a list, and a rule sees each of them."""
    policy = write_policy(tmp_path)
    cases = policy.with_name("small.tests.toml")
    cases.write_text(
        "[[case]]\nname = 'forged'\nrecipient = 'b@example.org'\noutcome = 'badmail'\n"
        "message = { headers = { Subject = \"hi\\r\\nBcc: x@example.org\" }, body = 'x' }\n"
    )
    done = qmvc("test", "--policy", str(policy), str(cases), qmvc_dir=tmp_path / "q")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "case 'forged': header Subject: a value with CR or LF" in done.stderr
    assert "Traceback" not in done.stderr
    policy.write_text(
        policy.read_text().replace(
            'when subject is "this subject never comes"', 'when header "X-Tag" is "second"'
        )
    )
    cases.write_text(
        "[[case]]\nname = 'two tags'\nrecipient = 'b@example.org'\nmatches = ['never']\n"
        "message = { headers = { X-Tag = ['first', 'second'] }, body = 'x' }\n"
    )
    done = qmvc("test", "--policy", str(policy), str(cases), qmvc_dir=tmp_path / "q")
    assert done.returncode == 0, done.stdout + done.stderr
