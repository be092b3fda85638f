"""Policy banks through `qmvc deliver` as qmail-local runs it: the profile chosen by the
client's network, bypasses skipping the scanner or the badmail rules, and the log line
saying what was bypassed. The scanner (tests/deliver_programs/report_virus.py) finds a
virus in every message it is given, so a message it never saw is one a bypass let by."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deliver_support import (
    QmailSetup,
    badmail_message,
    clean_message,
    maildir_files,
    qmail_setup,
)

ME = "mx.example.com"


def received(address: str, by: str = ME) -> bytes:
    return (
        f"Received: (qmail 4711 invoked from network); 26 Nov 2026 02:00:00 -0000\n"
        f"Received: from x (HELO x) ({address})\n"
        f"  by {by} with SMTP; 26 Nov 2026 02:00:00 -0000\n"
    ).encode()


@pytest.fixture
def qmail(tmp_path: Path) -> QmailSetup:
    return qmail_setup(tmp_path, "banks.qmvc")


def test_our_network_bypasses_the_scan_and_the_log_says_so(qmail: QmailSetup) -> None:
    delivery = qmail.deliver(received("10.1.2.3") + clean_message())
    assert delivery.returncode == 0, delivery.stderr
    [record] = qmail.log_records()
    assert (record.profile, record.outcome) == ("standard", "clean")
    assert record.scanners == (("alarmist", "S"),)
    assert record.bypassed == ("scan",)
    assert "|bypass=scan" in (qmail.qmvc_dir / "qmvc.log").read_text()


def test_ipv6_client_of_our_network_bypasses_the_scan(qmail: QmailSetup) -> None:
    delivery = qmail.deliver(received("IPv6:2001:db8:100::7") + clean_message())
    assert delivery.returncode == 0, delivery.stderr
    [record] = qmail.log_records()
    assert record.bypassed == ("scan",)


def test_forged_line_below_ours_bypasses_nothing(qmail: QmailSetup) -> None:
    forged = b"Received: from x (10.1.2.3) by mx.example.com with SMTP; 1 Jan 2026\n"
    delivery = qmail.deliver(received("203.0.113.9") + forged + clean_message())
    assert delivery.returncode == 99, delivery.stderr
    [record] = qmail.log_records()
    assert (record.outcome, record.bypassed) == ("virus", ())
    assert "bypass=" not in (qmail.qmvc_dir / "qmvc.log").read_text()


def test_message_without_received_line_bypasses_nothing(qmail: QmailSetup) -> None:
    assert qmail.deliver(clean_message()).returncode == 99
    [record] = qmail.log_records()
    assert (record.outcome, record.bypassed) == ("virus", ())


def test_partner_servers_bypass_the_badmail_rules_not_the_scan(qmail: QmailSetup) -> None:
    environ = qmail.environ(sender="orders@partner.example")
    delivery = qmail.deliver(received("198.51.100.3") + badmail_message(), environ)
    assert delivery.returncode == 99, delivery.stderr
    [record] = qmail.log_records()
    assert (record.outcome, record.criteria, record.bypassed) == (
        "virus",
        (("filename", "-"),),
        ("badmail",),
    )
    assert len(maildir_files(qmail.maildir("quarantine/virus"))) == 1


def test_partner_domain_from_elsewhere_is_badmail(qmail: QmailSetup) -> None:
    environ = qmail.environ(sender="orders@partner.example")
    delivery = qmail.deliver(received("203.0.113.9") + badmail_message(), environ)
    assert delivery.returncode == 99, delivery.stderr
    [record] = qmail.log_records()
    assert (record.outcome, record.criteria, record.bypassed) == (
        "badmail",
        (("filename", "1"),),
        (),
    )


def test_client_network_selects_the_lab_profile(qmail: QmailSetup) -> None:
    delivery = qmail.deliver(received("10.9.8.7") + clean_message())
    assert delivery.returncode == 99, delivery.stderr
    [record] = qmail.log_records()
    assert (record.profile, record.outcome, record.bypassed) == ("lab", "clean", ("scan",))
    assert len(maildir_files(qmail.maildir("lab"))) == 1
