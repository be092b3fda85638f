"""`qmvc.deliver.main` in this process, for what the other deliver tests leave unsaid: the
log line of a delivery that never reached a verdict, the report entry of a verdict that
did nothing, end summaries beside a delivery's own actions, and signals at the edges of a
delivery. The parts are real (command engines, the SQLite store, Maildirs, an injector
program); where a signal has to land at one exact moment it is sent from a wrapper around
the real function that runs then, which the docstring says."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

import qmvc.deliver
import qmvc.engine.evaluate
import qmvc.logs.line
import qmvc.state.factory
import qmvc.state.sqlite
from qmvc.logs.rep import parse_reports
from qmvc.state.factory import open_store
from tests.deliver_support import PROGRAMS, qmail_environ
from tests.test_deliver_in_process import CLEAN, INFECTED, InProcess, Outcome

PYTHON = sys.executable
INVOICE_RULE = '  badmail subj when subject contains "invoice"\n'
"""INFECTED's subject is `invoice`: badmail without any scanner."""
ALARMIST = (
    f'scanner alarmist command run "{PYTHON} {PROGRAMS / "report_virus.py"} {{dir}}"'
    " clean 0 infected 1 timeout 30s\n"
)
"""An engine that finds Test.Deliver.Virus in every message."""
BOMBER = (
    "  bomber same_sender when badmail from same sender > 5 per 10m {\n"
    '    quiet 1h; keep "quarantine/bombs"\n  }\n'
)
"""Badmail bombers, so that a badmail delivery opens the state store."""


@pytest.fixture
def here(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[InProcess]:
    """As in test_deliver_in_process: main() installs its own SIGTERM and SIGALRM handlers
    (and leaves SIGTERM ignored): put pytest's back afterwards."""
    saved = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGALRM)}
    (tmp_path / "home").mkdir()
    try:
        yield InProcess(tmp_path, capsys, monkeypatch)
    finally:
        signal.alarm(0)
        for number, handler in saved.items():
            signal.signal(number, handler)


def badmail_policy(on_badmail: str, extra: str = "", profile: str = "") -> str:
    return (
        f"{extra}profile standard default {{\n{INVOICE_RULE}{profile}"
        f"  on badmail {{ {on_badmail} }}\n  on clean {{ deliver }}\n}}\n"
    )


def report_lines(here: InProcess) -> list[list[str]]:
    return [[f"{key}: {value}" for key, value in entry] for entry in parse_reports(here.report())]


def deliver_with(here: InProcess, argv: list[str], environ: dict[str, str]) -> Outcome:
    """main() with `argv` and exactly `environ` (the fixture's deliver sets its own)."""
    here.monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(INFECTED)))
    here.capsys.readouterr()
    code = qmvc.deliver.main(argv, environ)
    said = here.capsys.readouterr()
    return Outcome(code, said.err, said.out)


# ---- the end summaries, beside the delivery's own actions --------------------------------


@pytest.fixture
def two_quiet_bombings(here: InProcess) -> Iterator[Path]:
    """A store holding two bombing episodes whose last copy came a minute ago (their rule is
    quiet after 1 s): the next delivery that opens the store ends both. Yields the folder
    the injector program files the notices in."""
    store = open_store("sqlite", "", here.qmvc_dir)
    minute_ago = time.time() - 60
    for sender in ("a@bombers.example", "b@bombers.example"):
        assert store.episode_event(f"same_sender|badmail|sender {sender}", minute_ago, 1.0)[0]
    store.close()
    yield here.root / "sent"


def test_both_ended_bombings_are_summarised_and_reported_beside_the_kept_copy(
    here: InProcess, two_quiet_bombings: Path
) -> None:
    """Each ended bombing sends its end summary and gets a `notice:` line in the report, and
    the delivery's own `keep` is reported too: none of them replaces another."""
    policy = here.policy(
        badmail_policy(
            'keep "quarantine/badmail"',
            "state sqlite\n"
            f'injector "{PYTHON} {PROGRAMS / "record_injector.py"} {two_quiet_bombings}"\n'
            'guard av "av@guards.example"\n',
            BOMBER.replace("quiet 1h", "quiet 1s"),
        )
    )
    assert here.deliver(policy, INFECTED) == Outcome(99, "", "")
    [entry] = report_lines(here)
    end_notice = "notice: sent av (bombing end) to av@guards.example in en"
    assert entry.count(end_notice) == 2, entry
    assert [line for line in entry if line.startswith("kept: ")], entry
    assert len(list(two_quiet_bombings.glob("*.eml"))) == 2


def test_a_clean_message_ends_no_bombing(here: InProcess, two_quiet_bombings: Path) -> None:
    """Clean mail never opens the store, so it never sends end summaries."""
    policy = here.policy(
        badmail_policy(
            "deliver",
            "state sqlite\n"
            f'injector "{PYTHON} {PROGRAMS / "record_injector.py"} {two_quiet_bombings}"\n'
            'guard av "av@guards.example"\n',
            BOMBER.replace("quiet 1h", "quiet 1s"),
        )
    )
    assert here.deliver(policy, CLEAN) == Outcome(0, "", "")
    assert not two_quiet_bombings.exists() and here.report() == ""


# ---- the state store's problems ----------------------------------------------------------


def test_a_store_that_fails_after_opening_is_said_on_stderr(
    here: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds the SQLite store's write lock: the store opens, counting times
    out, and qmail's log hears that the bomber rules were not applied."""
    policy = here.policy(badmail_policy('keep "quarantine/badmail"', "state sqlite\n", BOMBER))
    open_store("sqlite", "", here.qmvc_dir).close()
    monkeypatch.setattr(qmvc.state.sqlite, "BUSY_TIMEOUT_SECONDS", 0.1)
    holder = sqlite3.connect(here.qmvc_dir / "state" / "qmvc.sqlite", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        outcome = here.deliver(policy, INFECTED)
    finally:
        holder.close()
    assert outcome.code == 99
    assert outcome.stderr.startswith("qmvc: state store unavailable, bomber rules not applied: ")
    assert outcome.stderr.count("\n") == 1 and "; " not in outcome.stderr


def test_a_store_that_cannot_open_is_said_once(here: InProcess) -> None:
    """The store's file cannot be made (its folder is a file): stderr says so once; the
    bomber rules' `skipped` trace step is not a second problem."""
    policy = here.policy(badmail_policy('keep "quarantine/badmail"', "state sqlite\n", BOMBER))
    here.qmvc_dir.mkdir(parents=True)
    (here.qmvc_dir / "state").write_text("not a folder\n")
    outcome = here.deliver(policy, INFECTED)
    assert outcome.code == 99
    assert outcome.stderr.startswith("qmvc: state store unavailable: "), outcome.stderr
    assert "no state store" not in outcome.stderr and "; " not in outcome.stderr


# ---- the log line and the report entry ----------------------------------------------------


def test_a_delivery_without_a_verdict_logs_empty_fields_not_placeholders(
    here: InProcess,
) -> None:
    """Run by hand with a wrong option and without qmail's SENDER and RECIPIENT: no message
    was read and no profile chosen, so those fields of the log line are empty."""
    environ = {"QMVC_DIR": str(here.qmvc_dir), "HOME": str(here.root / "home")}
    assert deliver_with(here, ["--verbose"], environ).code == 111
    [record] = here.records()
    assert (record.sender, record.recipient, record.profile, record.message_id) == ("",) * 4
    assert (record.size, record.outcome, record.scanners) == (0, "deferred", ())


def test_the_duration_is_the_delivery_clock_in_milliseconds(
    here: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """deliver's monotonic clock replaced by one that reads 100 s at the start and 102.5 s
    at the log line: the log says 2500 ms."""
    readings = iter((100.0, 102.5))
    monkeypatch.setattr(qmvc.deliver, "time", SimpleNamespace(monotonic=lambda: next(readings)))
    assert here.deliver(here.policy(badmail_policy("deliver")), CLEAN).code == 0
    assert here.records()[-1].duration_ms == 2500


def test_a_bounced_virus_is_logged_with_its_scanner_reported_and_bounced_with_the_reason(
    here: InProcess,
) -> None:
    """`bounce` performs nothing, yet a virus gets its report entry; qmail-local reads the
    bounce text from stdout."""
    policy = here.policy(
        f"{ALARMIST}profile standard default {{\n  scan alarmist first\n"
        '  on virus { bounce "no viruses here" }\n  on clean { deliver }\n'
        "  on failure { defer }\n}\n"
    )
    assert here.deliver(policy, CLEAN) == Outcome(100, "", "no viruses here\n")
    [record] = here.records()
    assert record.scanners == (("alarmist", "1"),) and record.viruses
    [entry] = report_lines(here)
    assert "outcome: virus" in entry, entry


def test_a_bounced_badmail_gets_a_report_entry(here: InProcess) -> None:
    policy = here.policy(badmail_policy("bounce"))
    outcome = here.deliver(policy, INFECTED)
    assert outcome.code == 100
    assert outcome.stdout.startswith("Your message was not accepted by the mail filter (subj: ")
    [entry] = report_lines(here)
    assert "outcome: badmail" in entry, entry


def test_a_keep_that_fails_defers_and_the_report_says_why(here: InProcess) -> None:
    """The quarantine folder's parent is a file: the keep fails, the message is deferred and
    the report entry ends with a `deferred:` line giving the error."""
    policy = here.policy(badmail_policy('keep "quarantine/badmail"'))
    here.qmvc_dir.mkdir(parents=True)
    (here.qmvc_dir / "quarantine").write_text("not a folder\n")
    outcome = here.deliver(policy, INFECTED)
    assert outcome.code == 111 and outcome.stderr.startswith("qmvc: "), outcome
    [entry] = report_lines(here)
    deferred = [line for line in entry if line.startswith("deferred: ")]
    assert deferred == [f"deferred: {outcome.stderr.removeprefix('qmvc: ').rstrip()}"], entry


# ---- main: options, stderr, stdout ---------------------------------------------------------


def test_the_short_help_option_prints_the_usage(here: InProcess) -> None:
    here.monkeypatch.setattr(sys, "stdin", None)  # reading it would raise
    assert qmvc.deliver.main(["-h"], {}) == 0
    assert here.capsys.readouterr().out == qmvc.deliver.USAGE


def test_the_policy_option_wins_over_qmvc_policy(here: InProcess) -> None:
    keeping = here.policy(badmail_policy('keep "quarantine/badmail"'))
    delivering = here.root / "delivering.qmvc"
    delivering.write_text(badmail_policy("deliver"))
    environ = qmail_environ(here.root / "home")
    environ.update(QMVC_DIR=str(here.qmvc_dir), QMVC_POLICY=str(delivering))
    assert deliver_with(here, ["--policy", str(keeping)], environ) == Outcome(99, "", "")
    assert len(here.kept("quarantine/badmail")) == 1


def test_two_problems_are_said_on_one_line_apart(here: InProcess) -> None:
    """Two clamd scanners that cannot be reached, scanned in parallel: both failures on
    stderr, in one line, joined by `; `."""
    scanners = "".join(
        f'scanner {name} clamd socket "{here.root / name}.sock" timeout 5s\n' for name in "ab"
    )
    policy = here.policy(
        f"{scanners}profile standard default {{\n  scan a, b parallel\n"
        '  on virus { keep "v" }\n  on clean { deliver }\n  on failure { defer }\n}\n'
    )
    outcome = here.deliver(policy, CLEAN)
    assert outcome.code == 111
    first, second = outcome.stderr.removeprefix("qmvc: ").rstrip("\n").split("; ")
    assert first.startswith("scanner a failed: ") and second.startswith("scanner b failed: ")


def test_an_error_and_a_log_that_cannot_be_written_are_said_together(here: InProcess) -> None:
    (here.qmvc_dir / "qmvc.log").mkdir(parents=True)
    environ = {"QMVC_DIR": str(here.qmvc_dir)}
    outcome = deliver_with(here, ["--verbose"], environ)
    assert outcome.code == 111
    assert outcome.stderr == (
        "qmvc: unknown option or argument '--verbose'; see qmvc deliver --help; "
        f"cannot write {here.qmvc_dir}/qmvc.log: Is a directory\n"
    )


# ---- signals -------------------------------------------------------------------------------


class TerminatedWhileRead(io.RawIOBase):
    """A stdin whose read is where qmail-send's SIGTERM arrives (sent to this process)."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        os.kill(os.getpid(), signal.SIGTERM)
        return 0


def test_a_sigterm_during_the_delivery_defers_it(here: InProcess) -> None:
    policy = here.policy(badmail_policy("deliver"))
    environ = qmail_environ(here.root / "home")
    environ.update(QMVC_DIR=str(here.qmvc_dir), QMVC_POLICY=str(policy))
    here.monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BufferedReader(TerminatedWhileRead()))
    )
    here.capsys.readouterr()
    assert qmvc.deliver.main([], environ) == 111
    assert here.capsys.readouterr().err == "qmvc: Interrupted: SIGTERM\n"
    assert here.records()[-1].outcome == "deferred"


def test_an_interruption_after_a_problem_says_both(
    here: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: SIGTERM arrives just as the (unopenable) state store is tried. The
    store's problem and the interruption are both said, in that order."""
    policy = here.policy(badmail_policy('keep "quarantine/badmail"', "state sqlite\n", BOMBER))
    here.qmvc_dir.mkdir(parents=True)
    (here.qmvc_dir / "state").write_text("not a folder\n")

    class TerminatedWhenOpened(qmvc.state.factory.LazyStore):
        def __call__(self) -> qmvc.state.factory.StateStore | None:
            store = super().__call__()
            os.kill(os.getpid(), signal.SIGTERM)
            return store

    monkeypatch.setattr(qmvc.state.factory, "LazyStore", TerminatedWhenOpened)
    outcome = here.deliver(policy, INFECTED)
    assert outcome.code == 111
    problem, interruption = outcome.stderr.removeprefix("qmvc: ").rstrip("\n").split("; ")
    assert problem.startswith("state store unavailable: ")
    assert interruption == "Interrupted: SIGTERM"


def test_the_time_budget_is_armed_for_the_policys_seconds(
    here: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`budget 1s`: the alarm is set to 1 s, read with getitimer from the state store's
    constructor, which runs right after (a subclass that only looks)."""
    remaining: list[float] = []

    class Watching(qmvc.state.factory.LazyStore):
        def __init__(self, *arguments: object) -> None:
            remaining.append(signal.getitimer(signal.ITIMER_REAL)[0])
            super().__init__(*arguments)  # type: ignore[arg-type]

    monkeypatch.setattr(qmvc.state.factory, "LazyStore", Watching)
    assert here.deliver(here.policy(badmail_policy("deliver", "budget 1s\n")), CLEAN).code == 0
    [seconds] = remaining
    assert 0.5 < seconds <= 1.0


def test_a_sigterm_while_stopping_engines_after_a_failure_waits(
    here: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: a second SIGTERM arrives while a failed delivery stops its abandoned
    engines. main() still returns the deferral and writes the log line; it never raises."""
    stop = qmvc.engine.evaluate.stop_abandoned_engines

    def terminated_then_stop() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        stop()

    monkeypatch.setattr(qmvc.engine.evaluate, "stop_abandoned_engines", terminated_then_stop)
    environ = {"QMVC_DIR": str(here.qmvc_dir)}
    assert deliver_with(here, ["--verbose"], environ).code == 111
    assert here.records()[-1].outcome == "deferred"


def test_a_late_budget_alarm_while_the_log_is_written_changes_nothing(
    here: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the budget's SIGALRM lands as the log line is written (it fired just
    before main() cancelled it). The delivery is over: exit code and log line stand."""
    append = qmvc.logs.line.append_line

    def alarmed_then_append(target: Path, line: str) -> None:
        os.kill(os.getpid(), signal.SIGALRM)
        append(target, line)

    monkeypatch.setattr(qmvc.logs.line, "append_line", alarmed_then_append)
    policy = here.policy(badmail_policy('keep "quarantine/badmail"'))
    assert here.deliver(policy, INFECTED) == Outcome(99, "", "")
    assert here.records()[-1].outcome == "badmail"


def test_no_alarm_is_left_pending_after_a_delivery(here: InProcess) -> None:
    """main() cancels its budget alarm: a caller's own SIGALRM timer (pytest-timeout's, a
    daemon's) must not be fired by a stale one."""
    policy = here.policy(badmail_policy("deliver", "budget 30s\n"))
    assert here.deliver(policy, CLEAN).code == 0
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


# ---- private_directory ---------------------------------------------------------------------


def test_a_directory_that_cannot_be_made_raises_rather_than_returning(tmp_path: Path) -> None:
    """A parent that appears between the check and the mkdir (here a dangling symlink, which
    does not `exist` yet cannot be made) is passed over, and the next mkdir says why the
    directory cannot be made: private_directory never returns without it."""
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError):
        qmvc.deliver.private_directory(tmp_path / "link" / "qmvc")
