"""What `qmvc deliver` says is what happened: options, log and report after a failure, the
report of what each action did, QMVC_DIR's mode, and the bounce text qmail-local sends."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from qmvc.logs.rep import parse_reports
from tests.deliver_support import (
    DELIVER_ARGV,
    QmailSetup,
    assert_no_traceback,
    badmail_message,
    clean_message,
    maildir_files,
    qmail_setup,
)


@pytest.fixture
def qmail(tmp_path: Path) -> QmailSetup:
    return qmail_setup(tmp_path, "no-scanner.qmvc")


def run_deliver(
    qmail: QmailSetup, arguments: list[str], message: bytes, **popen: object
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*DELIVER_ARGV, *arguments],
        input=message,
        capture_output=True,
        env=qmail.environ(),
        cwd=qmail.home,
        timeout=60,
        **popen,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("arguments", [["--polcy", "x"], ["--policy"], ["extra"], ["-x"]])
def test_an_unknown_option_defers_and_never_delivers(
    qmail: QmailSetup, arguments: list[str]
) -> None:
    done = run_deliver(qmail, arguments, clean_message())
    assert done.returncode == 111
    stderr = done.stderr.decode()
    assert stderr.startswith("qmvc: unknown option or argument") and "--help" in stderr
    assert_no_traceback(stderr)
    [record] = qmail.log_records()
    assert (record.outcome, record.exit_code) == ("deferred", 111)


def test_help_prints_usage_without_reading_stdin(qmail: QmailSetup) -> None:
    reader, writer = os.pipe()  # stdin that never ends: reading it would hang the test
    try:
        done = subprocess.run(
            [*DELIVER_ARGV, "--help"],
            stdin=reader,
            capture_output=True,
            env=qmail.environ(),
            timeout=30,
        )
    finally:
        os.close(reader)
        os.close(writer)
    assert done.returncode == 0
    assert done.stdout.decode().startswith("usage: qmvc deliver")
    assert qmail.log_records() == []


def test_policy_equals_form_is_accepted(qmail: QmailSetup) -> None:
    done = run_deliver(qmail, [f"--policy={qmail.policy}"], clean_message())
    assert done.returncode == 0, done.stderr


def test_an_unwritable_report_is_named_once_and_the_log_is_still_written(
    qmail: QmailSetup,
) -> None:
    qmail.qmvc_dir.mkdir(parents=True)
    (qmail.qmvc_dir / "qmvc.rep").mkdir()  # a directory where the report file should be
    delivery = qmail.deliver(badmail_message())
    assert delivery.returncode == 99
    assert delivery.stderr.count("cannot write") == 1
    assert f"cannot write {qmail.qmvc_dir / 'qmvc.rep'}" in delivery.stderr
    assert "qmvc.log" not in delivery.stderr
    [record] = qmail.log_records()
    assert record.outcome == "badmail"


def test_a_keep_that_fails_is_logged_as_deferred_with_its_reason(qmail: QmailSetup) -> None:
    qmail.qmvc_dir.mkdir(parents=True)
    (qmail.qmvc_dir / "quarantine").write_text("a file where the Maildir's parent should be")
    delivery = qmail.deliver(badmail_message())
    assert delivery.returncode == 111
    [record] = qmail.log_records()
    assert (record.outcome, record.exit_code) == ("deferred", 111)
    [entry] = parse_reports(qmail.report_text())
    fields = dict(entry)
    assert fields["outcome"] == "deferred" and fields["exit"] == "111"
    assert fields["deferred"].startswith("keep in ")


def test_a_retry_after_a_failed_keep_is_counted_once(qmail: QmailSetup) -> None:
    qmail.qmvc_dir.mkdir(parents=True)
    blocker = qmail.qmvc_dir / "quarantine"
    blocker.write_text("x")
    message = badmail_message()
    assert qmail.deliver(message).returncode == 111
    blocker.unlink()
    assert qmail.deliver(message).returncode == 99  # qmail's retry
    outcomes = [record.outcome for record in qmail.log_records()]
    assert outcomes == ["deferred", "badmail"]
    done = subprocess.run(
        [*DELIVER_ARGV[:-1], "report", "--format", "json", str(qmail.qmvc_dir / "qmvc.log")],
        capture_output=True,
        text=True,
        timeout=60,
        env=qmail.environ(),
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["counts"] == {"clean": 0, "badmail": 1, "virus": 0, "deferred": 1}
    assert summary["criteria"] == [{"criterion": "filename", "count": 1}]


def test_the_report_says_where_the_message_was_kept(qmail: QmailSetup) -> None:
    assert qmail.deliver(badmail_message()).returncode == 99
    [entry] = parse_reports(qmail.report_text())
    [kept] = [value for key, value in entry if key == "kept"]
    [file] = maildir_files(qmail.maildir("quarantine/badmail"))
    assert kept == str(file)


def test_the_report_names_the_smtp_client_of_the_topmost_received_line(
    qmail: QmailSetup,
) -> None:
    """`qmvc report`'s sources by client read this line; the topmost line is the one our
    own qmail-smtpd wrote, a lower one may be forged by the sender."""
    received = (
        b"Received: from unknown (HELO mx.example.net) (198.51.100.23)\n"
        b"  by mx.example.com with SMTP; 26 Nov 2026 01:00:00 -0000\n"
        b"Received: from forged (HELO x) (203.0.113.9) by relay.example.net; 1 Jan 2026\n"
    )
    assert qmail.deliver(received + badmail_message()).returncode == 99
    [entry] = parse_reports(qmail.report_text())
    assert [value for key, value in entry if key == "client"] == ["198.51.100.23"]
    assert qmail.deliver(badmail_message()).returncode == 99
    assert not [key for key, _ in parse_reports(qmail.report_text())[1] if key == "client"]


def test_qmvc_dir_is_private_whatever_the_umask(qmail: QmailSetup) -> None:
    assert not qmail.qmvc_dir.exists()
    done = run_deliver(qmail, [], badmail_message(), preexec_fn=lambda: os.umask(0o022))
    assert done.returncode == 99, done.stderr
    assert stat.S_IMODE(qmail.qmvc_dir.stat().st_mode) == 0o700


def test_an_existing_qmvc_dir_keeps_the_admins_mode(qmail: QmailSetup) -> None:
    qmail.qmvc_dir.mkdir(mode=0o750)
    os.chmod(qmail.qmvc_dir, 0o750)
    assert qmail.deliver(clean_message()).returncode == 0
    assert stat.S_IMODE(qmail.qmvc_dir.stat().st_mode) == 0o750


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ('bounce "Executables are not accepted here"', "Executables are not accepted here"),
        ("bounce", "Your message was not accepted by the mail filter (filename: attachment.name"),
    ],
)
def test_a_bounce_prints_its_reason_for_qmail_local(
    tmp_path: Path, action: str, expected: str
) -> None:
    policy = tmp_path / "bounce.qmvc"
    policy.write_text(
        'list dangerous_names = "*.exe"\nprofile standard default {\n'
        "  badmail filename when any attachment.name matches list dangerous_names\n"
        f"  on badmail {{ {action} }}\n}}\n"
    )
    qmail = QmailSetup(tmp_path, policy)
    done = run_deliver(qmail, [], badmail_message())
    assert done.returncode == 100, done.stderr
    [line] = done.stdout.decode().splitlines()
    assert line.startswith(expected)
    assert "invoice.exe" in line or action != "bounce"
