"""`qmvc explain` as an admin runs it: a real subprocess reading files, stdin, mboxes and
Maildirs, answering with the exit codes of DESIGN.md (0 done, 1 bad policy, 2 usage)."""

from __future__ import annotations

import json
import mailbox
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
DEFAULT_POLICY = "policies/default.qmvc"
VERDICT_KEYS = ["outcome", "profile", "exit_code", "criteria", "scanners", "actions", "trace"]
BOX_MESSAGES = ["clean-plain-ascii", "exe-declared-as-pdf", "double-ext-rfc2231-name"]


def explain(
    *arguments: str | Path, stdin: bytes = b"", policy: str | None = DEFAULT_POLICY
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "qmvc.cli", "explain", "--no-scan"]
    if policy is not None:
        command += ["--policy", policy]
    environment = {key: value for key, value in os.environ.items() if not key.startswith("QMVC_")}
    return subprocess.run(
        [*command, *map(str, arguments)],
        cwd=ROOT,
        input=stdin.decode("latin-1"),
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=environment,
        timeout=60,
    )


def corpus(name: str) -> bytes:
    return (CORPUS / f"{name}.eml").read_bytes()


@pytest.fixture
def mbox_path(tmp_path: Path) -> Path:
    path = tmp_path / "inbox.mbox"
    box = mailbox.mbox(path)
    for name in BOX_MESSAGES:
        box.add(corpus(name))
    box.flush()
    box.close()
    return path


@pytest.fixture
def maildir_path(tmp_path: Path) -> Path:
    path = tmp_path / "Maildir"
    box = mailbox.Maildir(path, create=True)
    for name in BOX_MESSAGES:
        box.add(corpus(name))
    return path


def test_reads_the_message_from_stdin_given_a_dash() -> None:
    from_stdin = explain("--format", "json", "-", stdin=corpus("exe-declared-as-pdf"))
    from_file = explain("--format", "json", CORPUS / "exe-declared-as-pdf.eml")
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert json.loads(from_stdin.stdout)["outcome"] == "badmail"
    assert from_stdin.stdout == from_file.stdout


def test_each_over_an_mbox_prints_a_summary_table(mbox_path: Path) -> None:
    result = explain("--each", mbox_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["message", "outcome", "profile", "exit", "reason"]
    assert [line.split() for line in lines[1:4]] == [
        ["0", "clean", "standard", "0"],
        ["1", "badmail", "standard", "99", "filetype"],
        ["2", "badmail", "standard", "99", "filename"],
    ]
    assert lines[4] == "3 message(s): 2 badmail, 1 clean"


def test_each_over_a_maildir_prints_a_summary_table(maildir_path: Path) -> None:
    result = explain("--each", maildir_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 5
    assert sorted(line.split()[1] for line in lines[1:4]) == ["badmail", "badmail", "clean"]
    assert lines[4] == "3 message(s): 2 badmail, 1 clean"


def test_each_in_json_gives_one_verdict_per_message(mbox_path: Path) -> None:
    result = explain("--each", "--format", "json", mbox_path)
    entries = json.loads(result.stdout)
    assert [(e["message"], e["verdict"]["outcome"]) for e in entries] == [
        ("0", "clean"),
        ("1", "badmail"),
        ("2", "badmail"),
    ]
    assert all(list(e["verdict"]) == VERDICT_KEYS for e in entries)


def test_json_has_exactly_the_documented_verdict_keys() -> None:
    result = explain("--format", "json", CORPUS / "sample-exe-attachment.eml")
    verdict = json.loads(result.stdout)
    assert list(verdict) == VERDICT_KEYS
    assert list(verdict["criteria"][0]) == ["name", "evidence", "span"]
    assert list(verdict["scanners"][0]) == [
        "name",
        "status",
        "viruses",
        "seconds",
        "reason",
        "locations",
    ]
    assert list(verdict["trace"][0]) == ["node", "span", "result", "detail", "depth"]
    assert verdict["criteria"][0]["span"] == {
        "file": "policies/default.qmvc",
        "line": verdict["criteria"][0]["span"]["line"],
        "column": 3,
        "end_line": verdict["criteria"][0]["span"]["line"],
        "end_column": verdict["criteria"][0]["span"]["end_column"],
    }


def test_a_clean_message_exits_zero_and_says_what_qmail_would_get() -> None:
    result = explain(CORPUS / "clean-plain-ascii.eml")
    assert result.returncode == 0
    assert result.stdout.startswith("verdict: clean   profile: standard   qmail exit: 0\n")


def test_a_badmail_still_exits_zero_the_finding_is_in_the_output() -> None:
    result = explain(CORPUS / "exe-declared-as-pdf.eml")
    assert result.returncode == 0
    assert result.stdout.startswith("verdict: badmail")


def test_a_bad_policy_exits_one_with_diagnostics_on_stderr(tmp_path: Path) -> None:
    policy = tmp_path / "bad.qmvc"
    policy.write_text(
        "profile p default {\n  badmail x when subject matches list nowhere\n"
        '  on badmail { keep "q" }\n}\n'
    )
    result = explain(CORPUS / "clean-plain-ascii.eml", policy=str(policy))
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"{policy}:2:" in result.stderr
    assert "undefined-list" in result.stderr


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param([], id="no-message"),
        pytest.param(["--format", "yaml", "tests/corpus/clean-plain-ascii.eml"], id="bad-format"),
        pytest.param(["--frobnicate", "tests/corpus/clean-plain-ascii.eml"], id="unknown-option"),
    ],
)
def test_a_usage_error_exits_two(arguments: list[str]) -> None:
    result = explain(*arguments)
    assert result.returncode == 2
    assert "usage:" in result.stderr


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param(["tests/corpus/no-such-message.eml"], id="missing-file"),
        pytest.param(["tests/corpus"], id="directory-without-each"),
        pytest.param(["--each", "tests/corpus/no-such.mbox"], id="missing-mbox"),
        pytest.param(["--each", "tests/corpus"], id="directory-not-a-maildir"),
    ],
)
def test_a_message_that_cannot_be_read_exits_two_without_a_traceback(
    arguments: list[str],
) -> None:
    result = explain(*arguments)
    assert result.returncode == 2
    assert result.stderr.startswith("qmvc explain: cannot read ")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("message", "decoded", "encoded"),
    [
        ("double-ext-rfc2231-name", "invoice.pdf.exe", "UTF-8''"),
        ("rfc2231-continuations", "Jahresübersicht 2023.pdf.exe", "%C3%BC"),
        ("rfc2047-split-name", "Überweisung.pdf.exe", "=?"),
        ("rfc2047-q-name", "Prüfbericht final.pdf", "=?"),
        ("subject-rfc2047", "Ihre Bestellung über 50 € ist unterwegs", "=?"),
    ],
)
@pytest.mark.parametrize("output_format", ["text", "json"])
def test_text_from_the_message_appears_decoded(
    message: str, decoded: str, encoded: str, output_format: str
) -> None:
    result = explain("--format", output_format, CORPUS / f"{message}.eml")
    assert decoded in result.stdout
    assert encoded not in result.stdout


def test_piped_text_has_no_terminal_escapes() -> None:
    result = explain(CORPUS / "exe-declared-as-pdf.eml")
    assert "\x1b" not in result.stdout
    assert "true    badmail filetype" in result.stdout


def test_a_terminal_gets_colour() -> None:
    """The other side of the rule above: on a tty the same output is styled by rich."""
    controller, terminal = pty.openpty()
    command = [sys.executable, "-m", "qmvc.cli", "explain", "--no-scan", "--policy"]
    environment = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "300"}
    environment.pop("NO_COLOR", None)
    with subprocess.Popen(
        [*command, DEFAULT_POLICY, "tests/corpus/exe-declared-as-pdf.eml"],
        cwd=ROOT,
        stdout=terminal,
        stderr=terminal,
        env=environment,
    ) as process:
        os.close(terminal)
        output = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        process.wait(timeout=60)
    os.close(controller)
    assert process.returncode == 0
    assert b"\x1b[" in output
    assert b"badmail filetype" in output
