"""`qmvc explain` as an admin runs it: a real subprocess reading files, stdin, mboxes,
Maildirs and directories of .eml files, answering with the exit codes of DESIGN.md (0 done,
1 bad policy, 2 usage), and saying which envelope it assumed."""

from __future__ import annotations

import json
import mailbox
import os
import pty
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
DEFAULT_POLICY = "policies/default.qmvc"
VERDICT_KEYS = [
    "outcome",
    "profile",
    "exit_code",
    "criteria",
    "scanners",
    "actions",
    "trace",
    "bombing",
]
EXPLAIN_KEYS = [*VERDICT_KEYS, "envelope"]
BOX_MESSAGES = ["clean-plain-ascii", "exe-declared-as-pdf", "double-ext-rfc2231-name"]
EACH_ENVELOPE_LINES = [
    "envelope: sender from each message's Return-Path, Sender or From header, else <> "
    "(--sender overrides)",
    "          recipient from each message's Delivered-To, To or Cc header, else none "
    "(--recipient overrides)",
]


def explain(
    *arguments: str | Path,
    stdin: bytes = b"",
    policy: str | None = DEFAULT_POLICY,
    scan: bool = False,
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "qmvc.cli", "explain", *(() if scan else ("--no-scan",))]
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


def without_envelope_headers(raw: bytes) -> bytes:
    """The message as a mail client saved it: no Return-Path or Delivered-To from qmail."""
    lines = raw.split(b"\n")
    return b"\n".join(
        line for line in lines if not line.startswith((b"Return-Path:", b"Delivered-To:"))
    )


def envelope_of(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, str]]:
    assert result.returncode == 0, result.stderr
    envelope: dict[str, dict[str, str]] = json.loads(result.stdout)["envelope"]
    return envelope


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


@pytest.fixture
def eml_directory(tmp_path: Path) -> Path:
    """Saved messages in a plain directory, written out of name order, beside other files."""
    path = tmp_path / "saved"
    path.mkdir()
    for number, name in reversed(list(enumerate(BOX_MESSAGES))):
        (path / f"{number}-{name}.eml").write_bytes(corpus(name))
    (path / "notes.txt").write_text("not a message")
    (path / "old.eml.bak").write_bytes(corpus("exe-declared-as-pdf"))
    (path / "sub.eml").mkdir()
    return path


def test_each_over_an_mbox_prints_a_summary_table(mbox_path: Path) -> None:
    result = explain("--each", mbox_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == EACH_ENVELOPE_LINES
    assert lines[2].split() == ["message", "outcome", "profile", "exit", "reason"]
    assert [line.split() for line in lines[3:6]] == [
        ["0", "clean", "standard", "0"],
        ["1", "badmail", "standard", "99", "filetype"],
        ["2", "badmail", "standard", "99", "filename"],
    ]
    assert lines[6] == "3 message(s): 2 badmail, 1 clean"


def test_each_over_a_maildir_prints_a_summary_table(maildir_path: Path) -> None:
    result = explain("--each", maildir_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 7
    assert sorted(line.split()[1] for line in lines[3:6]) == ["badmail", "badmail", "clean"]
    assert lines[6] == "3 message(s): 2 badmail, 1 clean"


def test_each_over_a_maildir_reads_new_as_well_as_cur(maildir_path: Path) -> None:
    box = mailbox.Maildir(maildir_path, create=False)
    for key in list(box.keys())[:2]:
        message = box.get_message(key)
        message.set_subdir("cur")
        box[key] = message
    assert len(os.listdir(maildir_path / "cur")) == 2
    assert len(os.listdir(maildir_path / "new")) == 1
    result = explain("--each", maildir_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "3 message(s): 2 badmail, 1 clean"


def test_each_over_a_directory_reads_its_eml_files_by_name(eml_directory: Path) -> None:
    result = explain("--each", eml_directory)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines[3:6]] == [
        ["0-clean-plain-ascii.eml", "clean"],
        ["1-exe-declared-as-pdf.eml", "badmail"],
        ["2-double-ext-rfc2231-name.eml", "badmail"],
    ]
    assert lines[6] == "3 message(s): 2 badmail, 1 clean"


def test_each_over_a_directory_in_json_labels_each_verdict_with_its_file(
    eml_directory: Path,
) -> None:
    entries = json.loads(explain("--each", "--format", "json", eml_directory).stdout)
    assert [(e["message"], e["verdict"]["outcome"]) for e in entries] == [
        ("0-clean-plain-ascii.eml", "clean"),
        ("1-exe-declared-as-pdf.eml", "badmail"),
        ("2-double-ext-rfc2231-name.eml", "badmail"),
    ]


def empty_mbox(tmp_path: Path) -> Path:
    path = tmp_path / "empty.mbox"
    path.write_bytes(b"")
    return path


def empty_maildir(tmp_path: Path) -> Path:
    mailbox.Maildir(tmp_path / "Maildir", create=True)
    return tmp_path / "Maildir"


def empty_directory(tmp_path: Path) -> Path:
    (tmp_path / "saved").mkdir()
    return tmp_path / "saved"


def directory_without_eml_files(tmp_path: Path) -> Path:
    path = empty_directory(tmp_path)
    (path / "message.txt").write_bytes(corpus("exe-declared-as-pdf"))
    (path / "message.eml.gz").write_bytes(b"\x1f\x8b")
    (path / "folder.eml").mkdir()
    return path


@pytest.mark.parametrize(
    "make_source", [empty_mbox, empty_maildir, empty_directory, directory_without_eml_files]
)
@pytest.mark.parametrize("output_format", ["text", "json"])
def test_each_with_no_messages_says_so_and_exits_two(
    make_source: Callable[[Path], Path], output_format: str, tmp_path: Path
) -> None:
    source = make_source(tmp_path)
    result = explain("--each", "--format", output_format, source)
    assert result.returncode == 2
    assert result.stderr == f"qmvc explain: no messages found in {source}\n"
    assert result.stdout == ""


def test_each_in_json_gives_one_verdict_per_message(mbox_path: Path) -> None:
    result = explain("--each", "--format", "json", mbox_path)
    entries = json.loads(result.stdout)
    assert [(e["message"], e["verdict"]["outcome"]) for e in entries] == [
        ("0", "clean"),
        ("1", "badmail"),
        ("2", "badmail"),
    ]
    assert all(list(e) == ["message", "verdict"] for e in entries)
    assert all(list(e["verdict"]) == EXPLAIN_KEYS for e in entries)


def test_each_in_json_gives_each_message_its_own_envelope(tmp_path: Path) -> None:
    path = tmp_path / "inbox.mbox"
    box = mailbox.mbox(path)
    box.add(corpus("clean-plain-ascii"))
    box.add(without_envelope_headers(corpus("clean-plain-ascii")))
    box.flush()
    box.close()
    entries = json.loads(explain("--each", "--format", "json", path).stdout)
    assert [e["verdict"]["envelope"]["sender"]["source"] for e in entries] == [
        "Return-Path",
        "From",
    ]
    assert [e["verdict"]["envelope"]["recipient"]["source"] for e in entries] == [
        "Delivered-To",
        "To",
    ]


def test_json_has_the_documented_verdict_keys_and_the_envelope_beside_them() -> None:
    result = explain("--format", "json", CORPUS / "sample-exe-attachment.eml")
    verdict = json.loads(result.stdout)
    assert list(verdict) == EXPLAIN_KEYS
    assert verdict["envelope"] == {
        "sender": {"address": "billing@example-supplies.test", "source": "Return-Path"},
        "recipient": {"address": "bob@example.com", "source": "Delivered-To"},
    }
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
    assert result.stdout.splitlines()[2] == "verdict: clean   profile: standard   qmail exit: 0"


def test_a_badmail_still_exits_zero_the_finding_is_in_the_output() -> None:
    result = explain(CORPUS / "exe-declared-as-pdf.eml")
    assert result.returncode == 0
    assert result.stdout.splitlines()[2].startswith("verdict: badmail")


# ---- the envelope explain assumes, and says it assumed --------------------------------------


def test_without_sender_a_message_with_an_attachment_is_not_a_null_sender_badmail(
    tmp_path: Path,
) -> None:
    """The issue: the shipped `nullsender` rule caught every saved message with a file."""
    saved = tmp_path / "saved.eml"
    saved.write_bytes(without_envelope_headers(corpus("clean-pdf-attachment")))
    result = explain("--format", "json", saved)
    verdict = json.loads(result.stdout)
    assert (verdict["outcome"], verdict["criteria"]) == ("clean", [])
    assert verdict["envelope"]["sender"] == {"address": "alice@example.org", "source": "From"}


def test_text_begins_with_the_envelope_and_where_each_address_came_from(tmp_path: Path) -> None:
    saved = tmp_path / "saved.eml"
    saved.write_bytes(
        b"From: Anna Example <anna@example.org>\nDelivered-To: bob@example.de\n"
        b"To: Team <team@example.de>\nSubject: hello\n\nHi.\n"
    )
    lines = explain(saved).stdout.splitlines()
    assert lines[:2] == [
        "envelope: sender anna@example.org (from the From header; --sender overrides)",
        "          recipient bob@example.de (from the Delivered-To header; --recipient overrides)",
    ]
    assert lines[2].startswith("verdict: clean")


def test_json_envelope_names_the_header_each_address_came_from(tmp_path: Path) -> None:
    saved = tmp_path / "saved.eml"
    saved.write_bytes(
        b"Sender: Bot <bot@example.org>\nFrom: anna@example.org\n"
        b"Cc: =?utf-8?q?Dora_M=C3=BCller?= <dora@example.de>\n\nHi.\n"
    )
    assert envelope_of(explain("--format", "json", saved)) == {
        "sender": {"address": "bot@example.org", "source": "Sender"},
        "recipient": {"address": "dora@example.de", "source": "Cc"},
    }


def test_options_override_and_are_reported_as_given() -> None:
    arguments = ("--sender", "<>", "--recipient", "carl@example.net")
    message = CORPUS / "clean-plain-ascii.eml"
    assert explain(*arguments, message).stdout.splitlines()[:2] == [
        "envelope: sender <> (the null sender, given by --sender)",
        "          recipient carl@example.net (given by --recipient)",
    ]
    assert envelope_of(explain("--format", "json", *arguments, message)) == {
        "sender": {"address": "", "source": "option"},
        "recipient": {"address": "carl@example.net", "source": "option"},
    }


def test_the_null_sender_in_return_path_is_said_to_come_from_there() -> None:
    lines = explain(CORPUS / "null-sender-bounce.eml").stdout.splitlines()
    assert lines[0] == (
        "envelope: sender <> (the null sender, from the Return-Path header; --sender overrides)"
    )


def test_a_message_without_envelope_headers_says_what_explain_assumed(tmp_path: Path) -> None:
    saved = tmp_path / "saved.eml"
    saved.write_bytes(b"Subject: no addresses at all\n\nHi.\n")
    assert explain(saved).stdout.splitlines()[:2] == [
        "envelope: sender <> (the null sender: no Return-Path, Sender or From header holds an "
        "address; --sender overrides)",
        "          recipient none (no Delivered-To, To or Cc header holds an address; "
        "--recipient overrides)",
    ]
    assert envelope_of(explain("--format", "json", saved)) == {
        "sender": {"address": "", "source": "none"},
        "recipient": {"address": "", "source": "none"},
    }


def test_each_with_options_says_they_were_given(mbox_path: Path) -> None:
    result = explain("--each", "--sender", "anna@example.org", mbox_path)
    assert result.stdout.splitlines()[:2] == [
        "envelope: sender anna@example.org (given by --sender)",
        EACH_ENVELOPE_LINES[1],
    ]


def test_the_trace_says_what_would_be_done_not_what_ran() -> None:
    lines = explain(CORPUS / "sample-exe-attachment.eml").stdout.splitlines()
    policy_lines = (ROOT / "policies" / "default.qmvc").read_text().splitlines()
    at = next(n for n, text in enumerate(policy_lines, 1) if text.strip().startswith("on badmail"))
    assert [line for line in lines if " on badmail:" in line] == [
        f'├── true    on badmail: would keep "quarantine/badmail"  [policies/default.qmvc:{at}:16]',
        f"└── true    on badmail: would notify badmail  [policies/default.qmvc:{at}:43]",
    ]
    assert not [line for line in lines if "ran     on " in line]


def test_a_scanner_failure_is_explained_in_the_policys_words() -> None:
    """With scanning on, the test policy's clamd socket does not exist: scanner-failure."""
    result = explain(
        "--format",
        "json",
        CORPUS / "clean-plain-ascii.eml",
        policy="tests/explain/policy.qmvc",
        scan=True,
    )
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["outcome"] == "scanner-failure"
    assert verdict["trace"][-1]["node"] == "on failure: would defer"


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
        pytest.param(["--each", "tests/corpus/no-such-directory/"], id="missing-directory"),
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
