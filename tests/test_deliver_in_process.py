"""`qmvc.deliver.main` called in this process: what the subprocess tests of deliver check
(tests/test_deliver_*.py), for the steps between the policy and the log line, at a
twentieth of the cost (no interpreter to start), so that the mutation run's time budget
reaches them first. The parts are real all the same: clamd with the EICAR database, command
engines run as subprocesses, the policy cache, the state store and Maildirs on disk."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest

import qmvc.deliver
import qmvc.message.received
import qmvc.state.sqlite
from qmvc.engine.verdict import CriterionMatch, ScannerReport, Verdict
from qmvc.logs.line import LogRecord
from qmvc.logs.rep import parse_reports
from qmvc.span import Span
from tests.clamd_support import EICAR, RunningClamd
from tests.deliver_support import PROGRAMS, log_records, qmail_environ

pytest_plugins = ["tests.clamd_support"]

NO_SPAN = Span("policy.qmvc", 1, 1, 1, 2)
PYTHON = sys.executable
CLEAN = b"From: alice@example.org\nSubject: hello\nMessage-ID: <c1@example.org>\n\nhello\n"
EICAR_NAME = "Eicar-Test-Signature.UNOFFICIAL"


def infected() -> bytes:
    mail = EmailMessage()
    mail["From"] = "alice@example.org"
    mail["Subject"] = "invoice"
    mail["Message-ID"] = "<v1@example.org>"
    mail.set_content("See the attachment.\n")
    mail.add_attachment(EICAR, maintype="application", subtype="octet-stream", filename="x.com")
    return bytes(mail)


INFECTED = infected()


@dataclass(frozen=True)
class Outcome:
    code: int
    stderr: str
    stdout: str


@dataclass
class InProcess:
    """A home with QMVC_DIR inside it; `deliver` runs main() here, as qmail-local would."""

    root: Path
    capsys: pytest.CaptureFixture[str]
    monkeypatch: pytest.MonkeyPatch

    @property
    def qmvc_dir(self) -> Path:
        return self.root / "home" / ".qmvc"

    def policy(self, text: str) -> Path:
        path = self.root / "policy.qmvc"
        path.write_text(text)
        return path

    def deliver(self, policy: Path, message: bytes, sender: str = "alice@example.org") -> Outcome:
        environ = qmail_environ(self.root / "home", sender=sender)
        environ.update(QMVC_DIR=str(self.qmvc_dir), QMVC_POLICY=str(policy))
        self.monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(message)))
        self.capsys.readouterr()
        code = qmvc.deliver.main([], environ)
        said = self.capsys.readouterr()
        return Outcome(code, said.err, said.out)

    def records(self) -> list[LogRecord]:
        return log_records(self.qmvc_dir / "qmvc.log")

    def report(self) -> str:
        path = self.qmvc_dir / "qmvc.rep"
        return path.read_text() if path.exists() else ""

    def kept(self, folder: str) -> list[Path]:
        new = self.qmvc_dir / folder / "new"
        return sorted(new.iterdir()) if new.is_dir() else []


@pytest.fixture
def here(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[InProcess]:
    """main() installs its own SIGTERM and SIGALRM handlers (and leaves SIGTERM ignored, as a
    finished delivery should): put pytest's back afterwards."""
    saved = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGALRM)}
    (tmp_path / "home").mkdir()
    try:
        yield InProcess(tmp_path, capsys, monkeypatch)
    finally:
        signal.alarm(0)
        for number, handler in saved.items():
            signal.signal(number, handler)


def clamd_policy(clamd: RunningClamd | str, extra: str = "", profile: str = "") -> str:
    socket_path = clamd if isinstance(clamd, str) else clamd.socket_path
    return (
        f'{extra}scanner clamav clamd socket "{socket_path}" timeout 30s\n'
        "profile standard default {\n  scan clamav first\n"
        f"{profile}"
        '  on virus { keep "quarantine/virus" }\n  on clean { deliver }\n'
        "  on failure { defer }\n}\n"
    )


def test_a_virus_clamd_finds_is_kept_and_logged_with_its_name(
    here: InProcess, clamd_server: RunningClamd
) -> None:
    policy = here.policy(clamd_policy(clamd_server))
    assert here.deliver(policy, CLEAN).code == 0
    outcome = here.deliver(policy, INFECTED)
    assert outcome.code == 99 and outcome.stderr == ""
    [kept] = here.kept("quarantine/virus")
    assert kept.read_bytes().endswith(INFECTED)
    clean, virus = here.records()
    assert (clean.outcome, clean.viruses) == ("clean", ())
    assert (virus.outcome, virus.viruses) == ("virus", (EICAR_NAME,))
    assert any(
        line.startswith("scanner: clamav ran ") and line.endswith(f": {EICAR_NAME}")
        for line in here.report().splitlines()
    )


def test_a_clamd_that_cannot_be_reached_is_said_and_a_clean_scan_is_not(
    here: InProcess, clamd_server: RunningClamd
) -> None:
    assert here.deliver(here.policy(clamd_policy(clamd_server)), CLEAN).stderr == ""
    dead = here.policy(clamd_policy(str(here.root / "no-clamd.sock")))
    outcome = here.deliver(dead, CLEAN)
    assert outcome.code == 111
    assert outcome.stderr == (
        f"qmvc: scanner clamav failed: {here.root}/no-clamd.sock unreachable"
        " (No such file or directory)\n"
    )
    assert here.records()[-1].outcome == "scanner-failure"


def test_an_engine_that_answers_an_unknown_exit_code_is_said_on_stderr(here: InProcess) -> None:
    policy = here.policy(
        f'scanner broken command run "{PYTHON} {PROGRAMS / "report_virus.py"} {{dir}}"'
        " clean 0 infected 7 timeout 10s\n"
        'profile standard default {\n  scan broken first\n  on virus { keep "v" }\n'
        "  on clean { deliver }\n"
        "  on failure { defer }\n}\n"
    )  # report_virus.py exits 1, which this scanner does not know: failed
    outcome = here.deliver(policy, CLEAN)
    assert outcome.code == 111
    assert outcome.stderr.startswith("qmvc: scanner broken failed: "), outcome.stderr


def test_the_bomber_counts_each_delivery_and_the_third_is_a_bomb(
    here: InProcess, clamd_server: RunningClamd
) -> None:
    bomber = (
        "  bomber same_sender when infected from same sender > 2 per 10m {\n"
        '    quiet 1h\n    keep "quarantine/bombs"\n  }\n'
    )
    policy = here.policy(clamd_policy(clamd_server, "state sqlite\n", bomber))
    for _ in range(3):
        assert here.deliver(policy, INFECTED) == Outcome(99, "", "")
    assert len(here.kept("quarantine/virus")) == 2
    assert len(here.kept("quarantine/bombs")) == 1


def bombing_policy(here: InProcess, clamd: RunningClamd, actions: str) -> tuple[Path, Path]:
    """A bomber at the second copy from one sender, doing `actions`; notices to the av guard
    go through a sendmail-compatible program that files them in the returned folder."""
    sent = here.root / "sent"
    extra = (
        f'state sqlite\ninjector "{PYTHON} {PROGRAMS / "record_injector.py"} {sent}"\n'
        'guard av "av@guards.example"\n'
    )
    bomber = f"  bomber same_sender when infected from same sender > 1 per 10m {{ {actions} }}\n"
    return here.policy(clamd_policy(clamd, extra, bomber)), sent


def test_a_bomb_the_policy_defers_still_sends_the_guards_its_start_summary(
    here: InProcess, clamd_server: RunningClamd
) -> None:
    """`defer` performs nothing on the message, but a bombing that starts is reported to
    the av guard (through a sendmail-compatible program that files what it gets)."""
    policy, sent = bombing_policy(here, clamd_server, "defer")
    assert here.deliver(policy, INFECTED).code == 99
    assert not sent.exists()
    outcome = here.deliver(policy, INFECTED)
    assert outcome.code == 111 and outcome.stderr == ""
    [summary] = sent.glob("*.eml")
    assert (
        b"\nTo: <av@guards.example>\nSubject: [qmvc] virus bombing started: "
        in summary.read_bytes()
    )
    assert len(here.kept("quarantine/virus")) == 1


def test_a_delivery_that_ends_a_quiet_bombing_reports_the_summary_and_its_own_actions(
    here: InProcess, clamd_server: RunningClamd
) -> None:
    policy, sent = bombing_policy(here, clamd_server, "quiet 1s; defer")
    assert [here.deliver(policy, INFECTED).code for _ in range(2)] == [99, 111]
    time.sleep(1.2)  # the bombing's quiet time passes
    assert here.deliver(policy, INFECTED, sender="carol@example.net").code == 99
    last = parse_reports(here.report())[-1]
    lines = [f"{key}: {value}" for key, value in last]
    assert [line for line in lines if line.startswith("kept: ")]
    assert "notice: sent av (bombing end) to av@guards.example in en" in lines
    subjects = [
        line
        for eml in sorted(sent.glob("*.eml"))
        for line in eml.read_text().splitlines()
        if line.startswith("Subject: ")
    ]
    assert len(subjects) == 2 and "ended" in subjects[1], subjects


def test_a_parallel_scan_uses_the_verdict_cache_too(
    here: InProcess, clamd_server: RunningClamd
) -> None:
    policy = here.policy(
        "state sqlite\nverdict cache 1h\n"
        f'scanner clamav clamd socket "{clamd_server.socket_path}"\n'
        f'scanner slow command run "{PYTHON} {PROGRAMS / "slow_clean.py"} {{dir}}"'
        " clean 0 infected 1 timeout 30s\n"
        "profile standard default {\n  scan clamav, slow parallel\n"
        '  on virus { keep "quarantine/virus" }\n  on clean { deliver }\n'
        "  on failure { defer }\n}\n"
    )
    assert here.deliver(policy, INFECTED).code == 99
    assert here.deliver(policy, INFECTED).code == 99
    first, second = [
        [value for key, value in entry if key == "scanner"]
        for entry in parse_reports(here.report())
    ]
    assert not any(" cached " in line for line in first)
    assert any(line.startswith("clamav cached ") for line in second), second
    assert here.records()[-1].viruses == (EICAR_NAME,)


def test_a_store_that_fails_after_opening_is_said_and_the_virus_still_kept(
    here: InProcess, clamd_server: RunningClamd, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds the SQLite store's write lock for the whole delivery: the store
    opens (WAL readers are not blocked), counting then times out. The message is handled by
    the policy's own outcome, and stderr (qmail's log) says the bomber rules were skipped."""
    bomber = (
        "  bomber same_sender when infected from same sender > 2 per 10m {\n"
        '    keep "quarantine/bombs"\n  }\n'
    )
    policy = here.policy(clamd_policy(clamd_server, "state sqlite\n", bomber))
    assert here.deliver(policy, INFECTED) == Outcome(99, "", "")  # creates the store
    monkeypatch.setattr(qmvc.state.sqlite, "BUSY_TIMEOUT_SECONDS", 0.2)
    holder = sqlite3.connect(here.qmvc_dir / "state" / "qmvc.sqlite", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        outcome = here.deliver(policy, INFECTED)
    finally:
        holder.close()
    assert outcome.code == 99
    assert outcome.stderr.startswith("qmvc: state store unavailable, bomber rules not applied: "), (
        outcome.stderr
    )
    assert outcome.stderr.count("\n") == 1 and "; " not in outcome.stderr
    assert len(here.kept("quarantine/virus")) == 2


def test_a_message_too_large_for_clamd_is_said_and_handled_as_the_policy_says(
    here: InProcess, clamd_tiny_limit: RunningClamd
) -> None:
    policy = here.policy(clamd_policy(clamd_tiny_limit, profile="  on too-large { deliver }\n"))
    big = CLEAN + b"x" * 4096 + b"\n"
    outcome = here.deliver(policy, big)
    assert outcome.code == 0
    assert outcome.stderr.startswith("qmvc: scanner clamav too-large: "), outcome.stderr
    assert here.records()[-1].outcome == "too-large"


def test_a_policy_that_stops_compiling_keeps_the_last_good_tree_and_says_why(
    here: InProcess,
) -> None:
    policy = here.policy(
        'profile standard default {\n  badmail s when subject contains "invoice"\n'
        '  on badmail { keep "quarantine/badmail" }\n  on clean { deliver }\n}\n'
    )
    assert here.deliver(policy, INFECTED).code == 99
    policy.write_text(policy.read_text() + "profile broken {\n")
    outcome = here.deliver(policy, INFECTED)
    assert outcome.code == 99  # the last good tree still keeps it
    assert outcome.stderr.startswith(f"qmvc: policy {policy} does not compile: "), outcome.stderr
    assert len(here.kept("quarantine/badmail")) == 2


def test_the_policys_hostname_finds_the_client_in_our_own_received_line(
    here: InProcess,
) -> None:
    policy = here.policy(
        'hostname "mx.example"\n'
        'profile standard default {\n  badmail s when subject contains "invoice"\n'
        '  on badmail { keep "quarantine/badmail" }\n  on clean { deliver }\n}\n'
    )
    received = (
        b"Received: from x (HELO x) (192.0.2.7)\n"
        b"  by mx.example with SMTP; 26 Nov 2026 02:00:00 -0000\n"
    )
    assert here.deliver(policy, received + INFECTED).code == 99
    assert "client: 192.0.2.7" in here.report().splitlines()


def test_without_a_hostname_qmails_me_finds_the_client(
    here: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """qmail's control/me, at a path of the test's (this machine has no qmail)."""
    me = here.root / "control-me"
    me.write_text("mx.local\n")
    monkeypatch.setattr(qmvc.message.received, "QMAIL_ME", me)
    qmvc.message.received._qmail_me.cache_clear()
    policy = here.policy(
        'profile standard default {\n  badmail s when subject contains "invoice"\n'
        '  on badmail { keep "quarantine/badmail" }\n  on clean { deliver }\n}\n'
    )
    received = b"Received: from x (HELO x) (192.0.2.9)\n  by mx.local with SMTP; 26 Nov 2026\n"
    try:
        assert here.deliver(policy, received + INFECTED).code == 99
    finally:
        qmvc.message.received._qmail_me.cache_clear()
    assert "client: 192.0.2.9" in here.report().splitlines()


def test_a_stuck_scanner_is_stopped_by_the_time_budget_and_says_so(here: InProcess) -> None:
    policy = here.policy(
        "budget 1s\n"
        f'scanner stuck command run "{PYTHON} {PROGRAMS / "sleep_forever.py"} {{dir}}"'
        " clean 0 infected 1 timeout 60s\n"
        'profile standard default {\n  scan stuck first\n  on virus { keep "v" }\n'
        "  on clean { deliver }\n"
        "  on failure { defer }\n}\n"
    )
    outcome = here.deliver(policy, CLEAN)
    assert outcome.code == 111
    assert outcome.stderr == "qmvc: Interrupted: time budget exceeded\n"
    [record] = here.records()
    assert record.outcome == "deferred"
    assert 1000 <= record.duration_ms < 1900  # the budget of 1 s, not a second more


TWO_RULES = (
    'profile standard default {\n  badmail subj when subject contains "invoice"\n'
    '  badmail exe when any attachment.name matches "*.exe"\n'
    '  bypass badmail when sender is "trusted@example.org"\n'
    '  on badmail { keep "quarantine/badmail" }\n  on clean { deliver }\n}\n'
)


def test_the_log_line_says_who_what_how_big_and_each_rules_answer(here: InProcess) -> None:
    policy = here.policy(TWO_RULES)
    assert here.deliver(policy, CLEAN) == Outcome(0, "", "")
    assert here.deliver(policy, INFECTED) == Outcome(99, "", "")
    assert here.deliver(policy, INFECTED, sender="trusted@example.org") == Outcome(0, "", "")
    clean, badmail, bypassed = here.records()
    assert (clean.sender, clean.recipient, clean.size) == (
        "alice@example.org",
        "bob@example.com",
        len(CLEAN),
    )
    assert (clean.message_id, clean.exit_code, clean.profile) == ("<c1@example.org>", 0, "standard")
    assert (clean.outcome, clean.criteria, clean.bypassed) == (
        "clean",
        (("subj", "0"), ("exe", "0")),
        (),
    )
    assert (badmail.outcome, badmail.exit_code, badmail.size) == ("badmail", 99, len(INFECTED))
    assert badmail.criteria == (("subj", "1"), ("exe", "-"))  # known at the first: not tested
    assert (bypassed.outcome, bypassed.bypassed) == ("clean", ("badmail",))
    assert bypassed.criteria == (("subj", "-"), ("exe", "-"))  # bypassed: none tested
    assert clean.pid == badmail.pid == os.getpid()
    assert clean.start <= clean.end and 0 <= clean.duration_ms < 60_000
    entries = parse_reports(here.report())
    assert len(entries) == 1  # clean mail has no report entry, badmail has one
    assert ("subject", "invoice") in entries[0] and ("outcome", "badmail") in entries[0]


def test_a_log_that_cannot_be_written_is_said_and_the_message_still_handled(
    here: InProcess,
) -> None:
    policy = here.policy(TWO_RULES)
    (here.qmvc_dir / "qmvc.log").mkdir(parents=True)
    outcome = here.deliver(policy, INFECTED)
    assert outcome.code == 99
    assert outcome.stderr == f"qmvc: cannot write {here.qmvc_dir}/qmvc.log: Is a directory\n"
    assert len(here.kept("quarantine/badmail")) == 1


def test_qmvc_dir_and_its_missing_parents_are_made_private_an_existing_one_is_left(
    here: InProcess,
) -> None:
    policy = here.policy(TWO_RULES)
    home = here.root / "home"
    os.chmod(home, 0o755)
    here.monkeypatch.setattr(InProcess, "qmvc_dir", property(lambda _: home / "a" / "b"))
    assert here.deliver(policy, CLEAN).code == 0
    assert [stat.S_IMODE((home / p).stat().st_mode) for p in ("a", "a/b")] == [0o700, 0o700]
    assert stat.S_IMODE(home.stat().st_mode) == 0o755


def test_an_unknown_option_defers_and_says_so(here: InProcess) -> None:
    policy = here.policy(TWO_RULES)
    environ_policy = here.deliver(policy, CLEAN)
    assert environ_policy.code == 0
    here.monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(CLEAN)))
    environ = qmail_environ(here.root / "home")
    environ.update(QMVC_DIR=str(here.qmvc_dir))
    assert qmvc.deliver.main(["--verbose"], environ) == 111
    said = here.capsys.readouterr()
    assert said.err == "qmvc: unknown option or argument '--verbose'; see qmvc deliver --help\n"
    assert here.records()[-1].outcome == "deferred"


def test_help_reads_no_message_and_delivers_nothing(here: InProcess) -> None:
    here.monkeypatch.setattr(sys, "stdin", None)  # reading it would raise
    assert qmvc.deliver.main(["--help"], {}) == 0
    assert here.capsys.readouterr().out == qmvc.deliver.USAGE
    assert not here.qmvc_dir.exists()


@pytest.mark.parametrize(
    ("argv", "policy"),
    [
        ([], None),
        (["--policy", "/etc/p.qmvc"], "/etc/p.qmvc"),
        (["--policy=/etc/p.qmvc"], "/etc/p.qmvc"),
        (["--policy", "a", "--policy=b"], "b"),
        (["--policy="], ""),
    ],
)
def test_the_policy_option_in_both_spellings(argv: list[str], policy: str | None) -> None:
    assert qmvc.deliver.policy_option(argv) == policy


@pytest.mark.parametrize("argv", [["--policy"], ["x"], ["--policy", "a", "b"], ["-p", "a"]])
def test_anything_else_is_a_usage_error(argv: list[str]) -> None:
    with pytest.raises(qmvc.deliver.UsageError, match=r"^unknown option or argument '"):
        qmvc.deliver.policy_option(argv)


def verdict(**fields: object) -> Verdict:
    return Verdict("virus", "standard", 100, **fields)  # type: ignore[arg-type]


def test_a_bounce_names_every_virus_and_every_criterion() -> None:
    found = verdict(
        scanners=[ScannerReport("clamav", "ran", ("Eicar-Test-Signature", "W32/X"))],
        criteria=[CriterionMatch("filename", 'attachment.name "a.exe"', NO_SPAN)],
    )
    assert qmvc.deliver.bounce_text(found) == (
        "Your message was not accepted by the mail filter (virus Eicar-Test-Signature;"
        ' virus W32/X; filename: attachment.name "a.exe").'
    )


def test_a_bounce_without_findings_names_the_outcome() -> None:
    assert qmvc.deliver.bounce_text(verdict()) == (
        "Your message was not accepted by the mail filter (virus)."
    )


def test_a_bounce_is_one_printable_line() -> None:
    hostile = verdict(
        criteria=[CriterionMatch("subject", "subject\r\nX-Injected: 1\x07\x1b[2J", NO_SPAN)]
    )
    text = qmvc.deliver.bounce_text(hostile)
    assert text == (
        "Your message was not accepted by the mail filter (subject: subject  X-Injected: 1  [2J)."
    )
