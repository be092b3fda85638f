"""Notices as they arrive: through `qmvc deliver`, a real SMTP server (aiosmtpd on 127.0.0.1)
and a sendmail-compatible program, parsed on arrival: headers, language, suppression,
rate limit, the person's own address under virtualdomains, and what qmvc.rep records."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmvc.actions.notify import notify
from qmvc.engine.tree import DecisionTree
from qmvc.engine.verdict import Action, CriterionMatch, ScannerReport, Verdict
from qmvc.logs.rep import parse_reports
from qmvc.message.envelope import Envelope
from qmvc.message.facts import MessageFacts
from qmvc.policy.policy import Policy
from qmvc.span import Span
from tests.deliver_support import PROGRAMS, QmailSetup, install_policy
from tests.smtp_support import SmtpServer, running_smtp_server

NOTICE_HEADERS = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
]
NO_SPAN = Span("policy.qmvc", 1, 1, 1, 2)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


def setup(tmp_path: Path, smtp_server: SmtpServer, virtualdomains: str | None = None) -> QmailSetup:
    """The notices policy, mailing to the test's SMTP server; `virtualdomains` is the text
    of qmail's control file (None: the file does not exist)."""
    control = tmp_path / "control" / "virtualdomains"
    if virtualdomains is not None:
        control.parent.mkdir(parents=True)
        control.write_text(virtualdomains)
    policy = install_policy(
        "notices.qmvc",
        tmp_path / "etc" / "notices.qmvc",
        injector=f"smtp:127.0.0.1:{smtp_server.port}",
        virtualdomains=control,
    )
    return QmailSetup(tmp_path, policy)


def message(subject: str = "BADMAIL test", extra: str = "") -> bytes:
    return (
        f"From: someone@example.org\nTo: bob@example.com\nSubject: {subject}\n"
        f"Message-ID: <m1@example.org>\nDate: Tue, 2 Jan 2024 10:14:05 +0100\n{extra}\nhello\n"
    ).encode()


def arrived(smtp_server: SmtpServer) -> dict[str, EmailMessage]:
    """Each received notice by its envelope recipient; every one came from <>."""
    found = {}
    for mail in smtp_server.received:
        assert mail.mail_from == "<>"
        [rcpt] = mail.rcpt_tos
        found[rcpt] = email.message_from_bytes(mail.content, policy=email.policy.default)
    return found  # type: ignore[return-value]


def notice_lines(qmail: QmailSetup) -> list[str]:
    return [
        value
        for entry in parse_reports(qmail.report_text())
        for key, value in entry
        if key == "notice"
    ]


def deliver(qmail: QmailSetup, raw: bytes, sender: str, recipient: str, **extra: str) -> int:
    environ = qmail.environ(sender=sender, recipient=recipient)
    environ.update(extra)
    delivery = qmail.deliver(raw, environ)
    assert "Traceback" not in delivery.stderr, delivery.stderr
    return delivery.returncode


def test_each_reader_gets_the_notice_in_his_language(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    qmail = setup(tmp_path, smtp_server)
    assert deliver(qmail, message(), "anna@example.ru", "bob@example.de") == 99
    notices = arrived(smtp_server)
    assert set(notices) == {"badmail@guards.example", "bob@example.de", "anna@example.ru"}
    for notice in notices.values():
        assert list(notice.keys()) == NOTICE_HEADERS
        assert notice["From"] == "Mail filter <postmaster@mx.example>"
        assert notice["Auto-Submitted"] == "auto-generated"
    sender_notice = notices["anna@example.ru"]
    assert any("\u0400" <= char <= "\u04ff" for char in sender_notice["Subject"])
    assert any("\u0400" <= char <= "\u04ff" for char in sender_notice.get_content())
    assert sender_notice["Content-Transfer-Encoding"] == "base64"
    assert "subject" in notices["badmail@guards.example"].get_content()  # the criterion
    recipient_body = notices["bob@example.de"].get_content()
    assert "BADMAIL test" in recipient_body and "badmail@guards.example" in recipient_body
    assert "anna@example.ru" in recipient_body
    lines = notice_lines(qmail)
    assert "sent badmail to badmail@guards.example in en" in lines
    assert "sent recipient to bob@example.de in de" in lines
    assert "sent sender to anna@example.ru in ru" in lines


def test_a_guard_gets_its_own_language_and_display_name(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    qmail = setup(tmp_path, smtp_server)
    assert deliver(qmail, message("invoice"), "anna@example.org", "bob@example.com") == 99
    notices = arrived(smtp_server)
    assert set(notices) == {"av@guards.example", "bob@example.com"}
    guard_notice = notices["av@guards.example"]
    assert guard_notice["To"] == "Virus desk <av@guards.example>"
    assert "Test.Deliver.Virus" in guard_notice.get_content()
    assert "sent av to Virus desk <av@guards.example> in de" in notice_lines(qmail)
    german_words = ("Virus", "Absender", "Empfänger")
    assert any(word in guard_notice.get_content() for word in german_words[1:])


def test_a_language_without_templates_falls_back_to_english_and_says_so(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    qmail = setup(tmp_path, smtp_server)
    deliver(qmail, message(), "anna@example.org", "piet@example.nl")
    notice = arrived(smtp_server)["piet@example.nl"]
    assert notice["Content-Transfer-Encoding"] == "7bit"  # English text
    assert "sent recipient to piet@example.nl in en: no nl template, sent in en" in notice_lines(
        qmail
    )


@pytest.mark.parametrize(
    ("virtualdomains", "environ", "expected"),
    [
        pytest.param(
            None,
            {"RECIPIENT": "example.de-anna@example.de", "LOCAL": "example.de-anna", "EXT": "anna"},
            "anna@example.de",
            id="vpopmail, control file unreadable",
        ),
        pytest.param(
            "example.de:example.de\n",
            {"RECIPIENT": "example.de-anna@example.de", "LOCAL": "example.de-anna", "EXT": "anna"},
            "anna@example.de",
            id="vpopmail layout in virtualdomains",
        ),
        pytest.param(
            "other.example:x\n.de:alice\n",
            {"RECIPIENT": "alice-anna@example.de", "LOCAL": "alice-anna", "EXT": "anna"},
            "anna@example.de",
            id="virtual domain served by user alice (wildcard entry)",
        ),
        pytest.param(
            "other.example:x\n",
            {"RECIPIENT": "anna-lists@example.de", "LOCAL": "anna-lists", "EXT": "lists"},
            "anna-lists@example.de",
            id="ordinary user with an extension address",
        ),
        pytest.param(
            "",
            {"RECIPIENT": "anna@example.de", "LOCAL": "anna", "EXT": ""},
            "anna@example.de",
            id="ordinary user",
        ),
    ],
)
def test_the_recipient_notice_goes_to_the_persons_own_address(
    tmp_path: Path,
    smtp_server: SmtpServer,
    virtualdomains: str | None,
    environ: dict[str, str],
    expected: str,
) -> None:
    qmail = setup(tmp_path, smtp_server, virtualdomains)
    env = qmail.environ(sender="x@example.org", recipient=environ["RECIPIENT"])
    env.update(environ, HOST="example.de")
    assert qmail.deliver(message(), env).returncode == 99
    notices = arrived(smtp_server)
    assert expected in notices
    assert notices[expected]["To"] == expected
    assert expected in notices["badmail@guards.example"].get_content()


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ("Precedence: bulk\n", "bulk mail (Precedence: bulk)"),
        ("Precedence: list\n", "bulk mail (Precedence: list)"),
        ("List-Id: <news.example.org>\n", "list mail (List-Id)"),
        ("List-Unsubscribe: <mailto:u@example.org>\n", "list mail (List-Unsubscribe)"),
        ("Auto-Submitted: auto-replied\n", "automatic mail (Auto-Submitted: auto-replied)"),
    ],
)
def test_no_sender_notice_for_bulk_list_or_automatic_mail(
    tmp_path: Path, smtp_server: SmtpServer, extra: str, reason: str
) -> None:
    qmail = setup(tmp_path, smtp_server)
    deliver(qmail, message(extra=extra), "news@example.org", "bob@example.com")
    assert set(arrived(smtp_server)) == {"badmail@guards.example", "bob@example.com"}
    assert f"suppressed sender to news@example.org: {reason}" in notice_lines(qmail)


def test_auto_submitted_no_still_gets_a_sender_notice(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    qmail = setup(tmp_path, smtp_server)
    deliver(qmail, message(extra="Auto-Submitted: no\n"), "anna@example.org", "bob@example.com")
    assert "anna@example.org" in arrived(smtp_server)


def test_no_sender_notice_to_a_guard(tmp_path: Path, smtp_server: SmtpServer) -> None:
    qmail = setup(tmp_path, smtp_server)
    deliver(qmail, message(), "AV@guards.example", "bob@example.com")
    assert "AV@guards.example" not in arrived(smtp_server)
    assert "suppressed sender to AV@guards.example: the sender is one of this policy's guards" in (
        notice_lines(qmail)
    )


def test_a_qmvc_notice_that_is_caught_again_causes_no_notice(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    qmail = setup(tmp_path, smtp_server)
    deliver(qmail, message(), "anna@example.org", "bob@example.com")
    notice = next(m.content for m in smtp_server.received if m.rcpt_tos == ("bob@example.com",))
    smtp_server.received.clear()
    assert b"BADMAIL" in notice
    assert deliver(qmail, notice, "", "bob@example.com") == 99  # kept: it matches the rule
    assert smtp_server.received == []
    assert any("loop guard" in line for line in notice_lines(qmail))


def test_at_most_the_limit_of_notices_per_address_per_window(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    qmail = setup(tmp_path, smtp_server)
    for _ in range(5):
        assert deliver(qmail, message(), "anna@example.org", "bob@example.com") == 99
    to_recipient = [m for m in smtp_server.received if m.rcpt_tos == ("bob@example.com",)]
    assert len(to_recipient) == 3
    limited = [line for line in notice_lines(qmail) if line.startswith("limited recipient")]
    assert len(limited) == 2 and "notices limit" in limited[0]
    assert len(list((qmail.qmvc_dir / "quarantine" / "badmail" / "new").iterdir())) == 5


def test_a_broken_limit_store_still_sends_and_says_so(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    qmail = setup(tmp_path, smtp_server)
    qmail.qmvc_dir.mkdir(parents=True)
    (qmail.qmvc_dir / "state").write_text("not a directory")
    assert deliver(qmail, message(), "anna@example.org", "bob@example.com") == 99
    assert "bob@example.com" in arrived(smtp_server)
    assert any("notices limit not applied" in line for line in notice_lines(qmail))


def test_a_template_that_fails_costs_the_notice_not_the_message(tmp_path: Path) -> None:
    templates = tmp_path / "templates" / "en"
    templates.mkdir(parents=True)
    for name in ("av_guard", "badmail_guard", "recipient", "sender"):
        (templates / f"{name}.j2").write_text("Subject: x\n{{ 1 // 0 }}\n")
    policy = tmp_path / "policy.qmvc"
    policy.write_text(
        f'templates "{templates.parent}"\nguard badmail "b@example.org"\n'
        f'injector "{sys.executable} {PROGRAMS / "refuse_injector.py"}"\n'
        'profile p default { badmail s when subject contains "BADMAIL"\n'
        '  on badmail { keep "quarantine"; notify badmail } }\n'
    )
    qmail = QmailSetup(tmp_path, policy)
    delivery = qmail.deliver(message())
    assert delivery.returncode == 99, delivery.stderr
    assert len(list((qmail.qmvc_dir / "quarantine" / "new").iterdir())) == 1
    [line] = notice_lines(qmail)
    assert line.startswith("failed badmail to b@example.org in en:") and "ZeroDivisionError" in line
    [record] = qmail.log_records()
    assert record.outcome == "badmail" and record.exit_code == 99


def test_a_sendmail_compatible_program_gets_the_null_sender_and_one_recipient(
    tmp_path: Path,
) -> None:
    outbox = tmp_path / "outbox"
    policy = tmp_path / "policy.qmvc"
    policy.write_text(
        f'injector "{sys.executable} {PROGRAMS / "record_injector.py"} {outbox}"\n'
        'guard badmail "b@example.org"\n'
        'profile p default { badmail s when subject contains "BADMAIL"\n'
        '  on badmail { keep "quarantine"; notify badmail } }\n'
    )
    qmail = QmailSetup(tmp_path, policy)
    assert qmail.deliver(message()).returncode == 99
    assert json.loads((outbox / "0.args").read_text()) == ["-f", "", "b@example.org"]
    notice = email.message_from_bytes((outbox / "0.eml").read_bytes(), policy=email.policy.default)
    assert list(notice.keys()) == NOTICE_HEADERS
    assert b"\r\n" not in (outbox / "0.eml").read_bytes()  # qmail-inject wants LF


# ---- no text from the message or the envelope becomes a header ----

CONTROL = ["\r", "\n", "\r\n", "\x00", "\r\n\r\n", "\n\t"]
INJECTED = ["Bcc: victim@example.com", "X-Injected: 1", "Content-Type: multipart/mixed"]


def encoded_word(text: str) -> str:
    return "=?utf-8?B?" + base64.b64encode(text.encode("utf-8", "replace")).decode() + "?="


def q_word(text: str) -> str:
    return "=?utf-8?Q?" + "".join(f"={byte:02X}" for byte in text.encode("utf-8", "replace")) + "?="


pieces = st.one_of(
    st.text(max_size=12),
    st.sampled_from(CONTROL + INJECTED),
    st.sampled_from(INJECTED).map(lambda h: q_word(f"\r\n{h}\r\n")),
    st.sampled_from(INJECTED).map(lambda h: encoded_word(f"\r\n{h}\r\n\r\n")),
)
hostile = st.lists(pieces, max_size=8).map("".join) | st.integers(9_000, 10_500).map(
    lambda n: ("=?utf-8?Q?x=0D=0AX-Injected:_1=0D=0A?= " * (n // 38 + 1))[:n]
)


@pytest.fixture(scope="module")
def notice_tree(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[DecisionTree, SmtpServer]]:
    with running_smtp_server() as server:
        root = tmp_path_factory.mktemp("notices")
        policy = install_policy(
            "notices.qmvc",
            root / "notices.qmvc",
            injector=f"smtp:127.0.0.1:{server.port}",
            virtualdomains=root / "virtualdomains",
        )
        yield Policy.load(policy).compile(), server


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sender=hostile,
    subject=hostile,
    file_name=hostile,
    virus=hostile,
    outcome=st.sampled_from(["virus", "badmail"]),
)
def test_no_hostile_text_becomes_a_header_recipient_or_boundary(
    notice_tree: tuple[DecisionTree, SmtpServer],
    sender: str,
    subject: str,
    file_name: str,
    virus: str,
    outcome: str,
) -> None:
    tree, server = notice_tree
    server.received.clear()
    subject_header = (
        subject
        if subject.isascii() and "\n" not in subject and "\r" not in subject
        else encoded_word(subject)
    )
    raw = f"Subject: {subject_header}\nMessage-ID: <{virus[:50]}>\n\nbody\n".encode(
        "utf-8", "surrogateescape"
    )
    facts = MessageFacts(raw, Envelope(sender, "bob@example.de", "bob", "example.de", ""))
    verdict = Verdict(
        outcome,  # type: ignore[arg-type]
        "standard",
        99,
        criteria=[CriterionMatch("filename", f'attachment.name "{file_name}"', NO_SPAN)],
        scanners=[ScannerReport("alarmist", "ran", (virus,))],
        actions=[Action("keep", ("quarantine",))],
    )
    audiences = ("av", "badmail", "recipient", "sender")
    outcomes = [o for a in audiences for o in notify(a, verdict, facts, tree, None)]
    sent = [o for o in outcomes if o.status == "sent"]
    assert len(server.received) == len(sent) >= 2  # both guards, whatever the text
    for mail in server.received:
        [rcpt] = mail.rcpt_tos
        assert rcpt in {"av@guards.example", "badmail@guards.example", "bob@example.de", sender}
        head = mail.content.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        names = [line.split(b":", 1)[0].decode() for line in head if not line[:1].isspace()]
        assert names == NOTICE_HEADERS
        parsed = email.message_from_bytes(mail.content, policy=email.policy.default)
        assert not parsed.is_multipart() and parsed.defects == []
        assert parsed["To"].addresses[0].addr_spec == rcpt


def test_without_a_state_directory_every_notice_is_sent_unlimited_and_without_a_note(
    notice_tree: tuple[DecisionTree, SmtpServer],
) -> None:
    """`notify(..., base_dir=None)`: no store to count in, so no limit and nothing to report."""
    tree, server = notice_tree
    server.received.clear()
    raw = b"Subject: BADMAIL test\nMessage-ID: <n1@example.org>\n\nbody\n"
    facts = MessageFacts(
        raw, Envelope("anna@example.org", "bob@example.de", "bob", "example.de", "")
    )
    verdict = Verdict(
        "badmail",
        "standard",
        99,
        criteria=[CriterionMatch("subject", 'subject contains "BADMAIL"', NO_SPAN)],
        actions=[Action("keep", ("quarantine",))],
    )
    for _ in range(5):  # more than the policy's limit of 3 an address
        [outcome] = notify("badmail", verdict, facts, tree, None)
        assert (outcome.status, outcome.detail) == ("sent", ""), outcome
    assert [m.rcpt_tos for m in server.received] == [("badmail@guards.example",)] * 5


def test_the_reported_injection_through_deliver_adds_no_header(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """The issue's reproduction: an encoded CR/LF in the envelope sender and a Subject
    carrying an encoded Bcc line, through `qmvc deliver` and a real SMTP server."""
    qmail = setup(tmp_path, smtp_server)
    sender = "=?utf-8?Q?x=0D=0AX-Injected:_1=0D=0A?=@b.example"
    subject = "BADMAIL =?utf-8?Q?hi=0D=0ABcc:_victim@example.com=0D=0A=0D=0A?="
    assert deliver(qmail, message(subject), sender, "bob@example.com") == 99
    assert {m.rcpt_tos for m in smtp_server.received} == {
        ("badmail@guards.example",),
        ("bob@example.com",),
    }  # the sender's address is not one a notice can go to: no notice, and no Bcc
    for mail in smtp_server.received:
        head = mail.content.split(b"\r\n\r\n", 1)[0]
        names = [line.split(b":", 1)[0].decode() for line in head.split(b"\r\n")]
        assert [n for n in names if not n[:1].isspace()] == NOTICE_HEADERS
        parsed = email.message_from_bytes(mail.content, policy=email.policy.default)
        assert parsed["X-Injected"] is None and parsed["Bcc"] is None
    assert any(
        line.startswith("failed sender to =?utf-8?Q?x") and "not a usable mail address" in line
        for line in notice_lines(qmail)
    )
