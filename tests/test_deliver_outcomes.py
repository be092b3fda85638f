"""`qmvc deliver` as qmail-local runs it: exit codes, quarantine files, log and report, forwards."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deliver_support import (
    PROGRAMS,
    PROJECT,
    RECIPIENT,
    SENDER,
    QmailSetup,
    assert_no_traceback,
    badmail_message,
    clean_message,
    files_under,
    install_policy,
    maildir_files,
    prepended,
    qmail_setup,
)
from tests.smtp_support import SmtpServer, free_port, running_smtp_server


@pytest.fixture
def qmail(tmp_path: Path) -> QmailSetup:
    return qmail_setup(tmp_path, "no-scanner.qmvc")


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


def test_clean_message_goes_on_with_one_log_line(qmail: QmailSetup) -> None:
    delivery = qmail.deliver(clean_message())
    assert delivery.returncode == 0, delivery.stderr
    assert delivery.stderr == ""
    [record] = qmail.log_records()
    assert (record.sender, record.recipient) == (SENDER, RECIPIENT)
    assert (record.exit_code, record.outcome, record.profile) == (0, "clean", "standard")
    assert record.criteria == (("filename", "0"),)
    assert record.size == len(delivery.message)
    assert files_under(qmail.qmvc_dir) == []
    assert qmail.report_text() == ""


def test_badmail_is_kept_byte_for_byte_under_qmvc_dir(qmail: QmailSetup) -> None:
    delivery = qmail.deliver(badmail_message())
    assert delivery.returncode == 99, delivery.stderr
    [kept] = maildir_files(qmail.maildir("quarantine/badmail"))
    assert kept.read_bytes() == prepended(delivery.environ) + delivery.message
    assert maildir_files(qmail.maildir("quarantine/badmail"), "tmp") == []
    [record] = qmail.log_records()
    assert (record.exit_code, record.outcome) == (99, "badmail")
    assert record.criteria == (("filename", "1"),)


def test_kept_badmail_gets_no_virus_checked_header(qmail: QmailSetup) -> None:
    qmail.deliver(badmail_message())
    [kept] = maildir_files(qmail.maildir("quarantine/badmail"))
    header = kept.read_bytes().split(b"\n\n", 1)[0].lower()
    assert b"x-virus" not in header and b"x-qmvc" not in header and b"x-scanned" not in header


def test_badmail_leaves_a_report_entry(qmail: QmailSetup) -> None:
    qmail.deliver(badmail_message(subject="invoice 4711"))
    report = qmail.report_text()
    assert "outcome: badmail" in report
    assert f"recipient: {RECIPIENT}" in report
    assert "subject: invoice 4711" in report
    assert "action: keep quarantine/badmail" in report


def test_badmail_kept_and_delivered_exits_0(tmp_path: Path) -> None:
    qmail = qmail_setup(tmp_path, "keep-and-deliver.qmvc")
    delivery = qmail.deliver(badmail_message())
    assert delivery.returncode == 0, delivery.stderr
    [kept] = maildir_files(qmail.maildir("q"))
    assert kept.read_bytes() == prepended(delivery.environ) + delivery.message
    [record] = qmail.log_records()
    assert (record.exit_code, record.outcome) == (0, "badmail")


def test_scanner_virus_is_kept_and_named_in_the_log(tmp_path: Path) -> None:
    qmail = qmail_setup(tmp_path, "virus-scanner.qmvc")
    delivery = qmail.deliver(clean_message())
    assert delivery.returncode == 99, delivery.stderr
    assert len(maildir_files(qmail.maildir("quarantine/virus"))) == 1
    [record] = qmail.log_records()
    assert (record.outcome, record.scanners, record.viruses) == (
        "virus",
        (("alarmist", "1"),),
        ("Test.Deliver.Virus",),
    )


def test_forward_reaches_smtp_server_with_original_sender(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    qmail = qmail_setup(tmp_path, "forward.qmvc", injector=f"smtp:127.0.0.1:{smtp_server.port}")
    delivery = qmail.deliver(badmail_message())
    assert delivery.returncode == 99, delivery.stderr
    [mail] = smtp_server.received
    assert mail.mail_from == SENDER
    assert mail.rcpt_tos == ("security@example.net", "audit@example.net")
    assert mail.content.replace(b"\r\n", b"\n").endswith(delivery.message)
    [record] = qmail.log_records()
    assert (record.exit_code, record.outcome) == (99, "badmail")


def test_forward_uses_newsender_when_qmail_sets_it(tmp_path: Path, smtp_server: SmtpServer) -> None:
    qmail = qmail_setup(tmp_path, "forward.qmvc", injector=f"smtp:127.0.0.1:{smtp_server.port}")
    delivery = qmail.deliver(badmail_message(), qmail.environ(newsender="bounces@example.org"))
    assert delivery.returncode == 99, delivery.stderr
    assert [mail.mail_from for mail in smtp_server.received] == ["bounces@example.org"]


def test_forward_carries_delivered_to_as_qmail_forward_does(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """qmail-local's forward prepends DTLINE: a forward that comes back here is seen to loop."""
    qmail = qmail_setup(tmp_path, "forward.qmvc", injector=f"smtp:127.0.0.1:{smtp_server.port}")
    delivery = qmail.deliver(badmail_message())
    [mail] = smtp_server.received
    expected = delivery.environ["DTLINE"].encode() + delivery.message
    assert mail.content.replace(b"\r\n", b"\n") == expected


@pytest.mark.parametrize(
    "injector",
    [
        "smtp:127.0.0.1:{free_port}",
        "{python} {programs}/refuse_injector.py",
        "/nonexistent/qmail-inject",
    ],
)
def test_failing_injector_defers(tmp_path: Path, injector: str) -> None:
    command = injector.format(free_port=free_port(), python=sys.executable, programs=PROGRAMS)
    qmail = qmail_setup(tmp_path, "forward.qmvc", injector=command)
    delivery = qmail.deliver(badmail_message())
    assert delivery.returncode == 111
    assert_no_traceback(delivery.stderr)
    assert "forward to security@example.net" in delivery.stderr
    [record] = qmail.log_records()
    assert record.exit_code == 111 and record.outcome in ("deferred", "badmail")


def test_policy_edit_applies_to_the_next_delivery(qmail: QmailSetup) -> None:
    """No restart, no cache flush: the second delivery reads the edited policy."""
    assert qmail.deliver(badmail_message()).returncode == 99
    qmail.policy.write_text(qmail.policy.read_text().replace('"*.exe" ', ""))
    assert qmail.deliver(badmail_message()).returncode == 0
    install_policy("keep-and-deliver.qmvc", qmail.policy)
    assert qmail.deliver(badmail_message()).returncode == 0
    assert len(maildir_files(qmail.maildir("q"))) == 1
    assert [r.outcome for r in qmail.log_records()] == ["badmail", "clean", "badmail"]


HOT_PATH_PROBE = """
import sys
import qmvc.deliver
code = qmvc.deliver.main([])
print(code, " ".join(sorted(sys.modules)))
"""


def modules_of_a_delivery(qmail: QmailSetup, message: bytes) -> set[str]:
    """Every module a clean delivery of `message` loaded, from inside its own process."""
    probe = subprocess.run(
        [sys.executable, "-c", HOT_PATH_PROBE],
        input=message,
        capture_output=True,
        env=qmail.environ(),
        cwd=PROJECT,
        check=True,
    )
    code, modules = probe.stdout.decode().split(" ", 1)
    assert code == "0", probe.stderr
    return set(modules.split())


def test_clean_delivery_with_warm_cache_imports_no_heavy_module(qmail: QmailSetup) -> None:
    qmail.deliver(clean_message())  # compiles and caches the policy
    loaded = modules_of_a_delivery(qmail, clean_message())
    assert "qmvc.policy.parse" not in loaded  # the cache was used
    heavy = {name for name in loaded if name.split(".")[0] in {"lark", "rich", "jinja2", "magic"}}
    assert heavy == set()


def test_policy_saved_just_before_a_delivery_is_not_hashed_for_ever(qmail: QmailSetup) -> None:
    """The first delivery caches a racy entry (the policy is seconds old); once the policy is
    older than the cache's racy window, the entry is restamped and the stat trusted again."""
    qmail.deliver(clean_message())
    assert "hashlib" in modules_of_a_delivery(qmail, clean_message())
    time.sleep(2.2)
    modules_of_a_delivery(qmail, clean_message())
    assert "hashlib" not in modules_of_a_delivery(qmail, clean_message())
