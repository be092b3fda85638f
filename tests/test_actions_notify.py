"""`notify AUDIENCE` in process (`qmvc.actions.notify.notify`), with real compiled policies,
real MessageFacts and a real SMTP server (aiosmtpd on 127.0.0.1): who gets which notice,
from which address, in which language, which notices are held back and why, what the
notices limit does, and the `NoticeOutcome` line qmvc.rep gets for each."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from qmvc.actions.notify import NoticeOutcome, notify
from qmvc.engine.tree import DecisionTree
from qmvc.engine.verdict import Action, CriterionMatch, ScannerReport, Verdict
from qmvc.message.envelope import Envelope
from qmvc.message.facts import MessageFacts
from qmvc.policy.policy import Policy
from qmvc.span import Span
from tests.smtp_support import SmtpServer, running_smtp_server

NO_SPAN = Span("policy.qmvc", 1, 1, 1, 2)
DATE = "Tue, 2 Jan 2024 10:14:05 +0100"
LIMIT_NOTE = "2 notices to this address within 3600 s already (notices limit)"


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


def tree_of(tmp_path: Path, server: SmtpServer, settings: str) -> DecisionTree:
    """A compiled policy with `settings`, mailing its notices to the test's SMTP server."""
    policy = tmp_path / "policy.qmvc"
    policy.write_text(
        f'injector "smtp:{server.host}:{server.port}"\n{settings}\nprofile only default {{\n}}\n'
    )
    return Policy.load(policy).compile()


def facts_of(
    sender: str = "anna@example.org",
    recipient: str = "bob@example.com",
    *,
    headers: str = f"Message-ID: <m1@example.org>\nDate: {DATE}\n",
    local: str = "",
    raw: bytes | None = None,
) -> MessageFacts:
    """The message as qmail hands it over; `local` is qmail-local's LOCAL (a virtual
    domain's prefix included), else the recipient's own local part."""
    user, _, domain = recipient.partition("@")
    message = (
        raw
        or (
            f"From: {sender or 'MAILER-DAEMON@example.org'}\nTo: {recipient}\n"
            f"Subject: Invoice\n{headers}\nhello\n"
        ).encode()
    )
    return MessageFacts(message, Envelope(sender, recipient, local or user, domain, ""))


def verdict_of(outcome: str) -> Verdict:
    return Verdict(
        outcome,  # type: ignore[arg-type]
        "only",
        99,
        criteria=[CriterionMatch("subject", 'subject contains "Invoice"', NO_SPAN)],
        scanners=[ScannerReport("alarmist", "ran", ("Eicar-Test-Signature",))]
        if outcome == "virus"
        else [],
        actions=[Action("keep", ("quarantine",))],
    )


def arrived(server: SmtpServer) -> dict[str, EmailMessage]:
    """Each notice the server accepted, by its one envelope recipient; all came from <>."""
    found: dict[str, EmailMessage] = {}
    for mail in server.received:
        assert mail.mail_from == "<>"
        [rcpt] = mail.rcpt_tos
        found[rcpt] = email.message_from_bytes(mail.content, policy=email.policy.default)
    return found


def test_a_virus_notice_to_the_av_guard_comes_from_that_guard_and_names_the_policys_host(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """Without `notices from`, a virus notice comes from the AV guard (the officer to ask),
    not the badmail guard; it uses the AV template in the guard's language, names the host
    the policy's `hostname` gives (not the machine's name) and the message's Date."""
    tree = tree_of(
        tmp_path,
        smtp_server,
        'hostname "mx.example.org"\n'
        'guard av "Virus desk <av@example.org>" language de\n'
        'guard badmail "badmail-desk@example.org"\n',
    )
    outcomes = notify("av", verdict_of("virus"), facts_of(), tree, None)
    assert outcomes == [NoticeOutcome("av", "Virus desk <av@example.org>", "sent", "de")]
    assert outcomes[0].describe() == "sent av to Virus desk <av@example.org> in de"
    notice = arrived(smtp_server)["av@example.org"]
    assert notice["From"] == "Virus desk <av@example.org>"
    assert notice["Message-ID"].endswith("@mx.example.org>")
    body = notice.get_content()
    assert "qmvc auf mx.example.org hat in einer E-Mail einen Virus gefunden." in body
    assert f"Datum:      {DATE}" in body
    assert "alarmist: Eicar-Test-Signature" in body


def test_without_guards_a_recipient_notice_comes_from_postmaster_and_names_no_officer(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """A policy with no guard and no `notices from` still sends the recipient's notice,
    from postmaster at the policy's host name; the notice names no officer to ask, and a
    message without a Date gets no Date line."""
    tree = tree_of(tmp_path, smtp_server, 'hostname "mx.example.org"\n')
    facts = facts_of(headers="Message-ID: <m2@example.org>\n")
    assert notify("recipient", verdict_of("virus"), facts, tree, None) == [
        NoticeOutcome("recipient", "bob@example.com", "sent", "en")
    ]
    notice = arrived(smtp_server)["bob@example.com"]
    assert notice["From"] == "postmaster@mx.example.org"
    body = notice.get_content()
    assert "If you have any questions" not in body
    assert "Date:" not in body
    assert "Message-ID: <m2@example.org>" in body


def test_the_recipient_notice_goes_to_the_persons_own_address_by_the_policys_virtualdomains(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """qmail delivers `anna@example.de` of the virtual domain `example.de:alice` as
    `alice-anna@example.de`; the policy's `virtualdomains` file says so, and the notice goes
    to anna@example.de, in German by the `.de` language suffix."""
    control = tmp_path / "virtualdomains"
    control.write_text("other.example:x\nexample.de:alice\n")
    tree = tree_of(
        tmp_path,
        smtp_server,
        f'virtualdomains "{control}"\nlanguage de for .de\nlanguage en default\n',
    )
    facts = facts_of(recipient="alice-anna@example.de", local="alice-anna")
    assert notify("recipient", verdict_of("badmail"), facts, tree, None) == [
        NoticeOutcome("recipient", "anna@example.de", "sent", "de")
    ]
    assert list(arrived(smtp_server)) == ["anna@example.de"]


def test_a_language_without_templates_is_noted_beside_what_the_notices_limit_says(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """A Dutch reader gets the English notice and qmvc.rep says so, whether the limit store
    works (one note) or cannot be opened (both notes, the notice still sent)."""
    tree = tree_of(tmp_path, smtp_server, "language nl for .nl\n")
    facts = facts_of(recipient="piet@example.nl")
    working = tmp_path / "qmvc"
    assert notify("recipient", verdict_of("badmail"), facts, tree, working) == [
        NoticeOutcome("recipient", "piet@example.nl", "sent", "en", "no nl template, sent in en")
    ]
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "state").write_text("not a directory")
    [outcome] = notify("recipient", verdict_of("badmail"), facts, tree, broken)
    assert (outcome.status, outcome.language) == ("sent", "en")
    assert outcome.detail.startswith("no nl template, sent in en; notices limit not applied: ")
    assert len(smtp_server.received) == 2


def test_the_policys_own_templates_give_a_language_the_shipped_set_lacks(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """A site that writes nl/recipient.j2 in its `templates` directory has its Dutch
    readers notified in Dutch, from that directory."""
    templates = tmp_path / "site-templates"
    (templates / "nl").mkdir(parents=True)
    (templates / "nl" / "recipient.j2").write_text(
        "Subject: Bericht tegengehouden\n\n{{ sender }} op {{ hostname }}\n"
    )
    tree = tree_of(
        tmp_path,
        smtp_server,
        f'templates "{templates}"\nhostname "mx.example.nl"\nlanguage nl for .nl\n',
    )
    facts = facts_of(recipient="piet@example.nl")
    assert notify("recipient", verdict_of("badmail"), facts, tree, None) == [
        NoticeOutcome("recipient", "piet@example.nl", "sent", "nl")
    ]
    notice = arrived(smtp_server)["piet@example.nl"]
    assert notice["Subject"] == "Bericht tegengehouden"
    assert notice.get_content().strip() == "anna@example.org op mx.example.nl"


def test_past_the_notices_limit_an_address_gets_no_more_notices_and_the_log_says_why(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """`notices limit 2 per 1h`: the third notice to the same address is not sent; its
    outcome keeps the language and says which limit held it back."""
    tree = tree_of(tmp_path, smtp_server, "notices limit 2 per 1h\n")
    base_dir = tmp_path / "qmvc"
    outcomes = [
        outcome
        for _ in range(3)
        for outcome in notify("recipient", verdict_of("badmail"), facts_of(), tree, base_dir)
    ]
    sent = NoticeOutcome("recipient", "bob@example.com", "sent", "en")
    limited = NoticeOutcome("recipient", "bob@example.com", "limited", "en", LIMIT_NOTE)
    assert outcomes == [sent, sent, limited]
    assert limited.describe() == f"limited recipient to bob@example.com in en: {LIMIT_NOTE}"
    assert len(smtp_server.received) == 2


def test_a_refused_notice_fails_with_the_servers_answer_after_the_language_note(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """The SMTP server refuses the reader: the outcome is failed, keeps the fallback note
    and names the error's kind, so the admin can tell a refusal from a broken template."""
    smtp_server.refused_recipients.add("piet@example.nl")
    tree = tree_of(tmp_path, smtp_server, "language nl for .nl\n")
    facts = facts_of(recipient="piet@example.nl")
    [outcome] = notify("recipient", verdict_of("badmail"), facts, tree, None)
    assert (outcome.status, outcome.address, outcome.language) == (
        "failed",
        "piet@example.nl",
        "en",
    )
    assert outcome.detail.startswith("no nl template, sent in en; ForwardError: smtp ")
    assert "550" in outcome.detail
    assert smtp_server.received == []


def test_a_sender_that_is_no_mail_address_fails_with_the_plain_reason(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """An envelope sender a notice cannot be addressed to is reported as it is, without an
    exception's class name in front, and nothing is sent."""
    tree = tree_of(tmp_path, smtp_server, "")
    facts = facts_of(sender="not-an-address")
    assert notify("sender", verdict_of("badmail"), facts, tree, None) == [
        NoticeOutcome(
            "sender",
            "not-an-address",
            "failed",
            "en",
            "not a usable mail address: 'not-an-address'",
        )
    ]
    assert smtp_server.received == []


def test_templates_that_cannot_even_be_looked_up_fail_the_notice_without_a_language(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """A templates directory so deep that no template path under it can be opened (the
    system refuses the name as too long): the notice fails with the system's error and
    claims no language it was never rendered in."""
    templates = tmp_path
    while (room := 4084 - len(str(templates))) > 0:
        templates /= "d" * min(200, max(room - 1, 1))
    templates.mkdir(parents=True)
    tree = tree_of(tmp_path, smtp_server, f'templates "{templates}"\n')
    [outcome] = notify("recipient", verdict_of("badmail"), facts_of(), tree, None)
    assert (outcome.audience, outcome.address, outcome.status, outcome.language) == (
        "recipient",
        "bob@example.com",
        "failed",
        "",
    )
    assert outcome.detail.startswith("OSError: [Errno 36]")
    assert outcome.describe().startswith("failed recipient to bob@example.com: OSError")
    assert smtp_server.received == []


def test_the_null_sender_gets_no_notice_and_the_log_shows_it_as_angle_brackets(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """A bounce (envelope sender <>) is never answered: answering could loop."""
    tree = tree_of(tmp_path, smtp_server, "")
    outcomes = notify("sender", verdict_of("virus"), facts_of(sender=""), tree, None)
    assert outcomes == [
        NoticeOutcome("sender", "", "suppressed", detail="the null sender gets no mail")
    ]
    assert outcomes[0].describe() == "suppressed sender to <>: the null sender gets no mail"
    assert smtp_server.received == []


def test_a_qmvc_notice_caught_again_gets_no_notice_for_any_audience(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """A rule that matches qmvc's own notice must not feed notices to itself: a notice
    qmvc sent, delivered back to it, causes none for the guard, the recipient or the sender."""
    tree = tree_of(tmp_path, smtp_server, 'hostname "mx.example.org"\nguard av "av@example.org"\n')
    notify("recipient", verdict_of("virus"), facts_of(), tree, None)
    [first] = smtp_server.received
    smtp_server.received.clear()
    caught = facts_of(sender="anna@example.org", raw=first.content)
    reason = "the message is itself a qmvc notice (loop guard)"
    outcomes = [
        outcome
        for audience in ("av", "recipient", "sender")
        for outcome in notify(audience, verdict_of("virus"), caught, tree, None)
    ]
    assert outcomes == [
        NoticeOutcome("av", "av@example.org", "suppressed", detail=reason),
        NoticeOutcome("recipient", "bob@example.com", "suppressed", detail=reason),
        NoticeOutcome("sender", "anna@example.org", "suppressed", detail=reason),
    ]
    assert smtp_server.received == []


def test_another_programs_automatic_mail_still_reaches_the_guard_but_not_its_sender(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """Auto-Submitted alone does not make a message a qmvc notice: the guard hears about a
    virus in an autoresponder's mail, but the autoresponder gets no notice; the reason
    names the Auto-Submitted keyword without its parameters."""
    tree = tree_of(tmp_path, smtp_server, 'guard av "av@example.org"\n')
    facts = facts_of(
        sender="vacation@example.org",
        headers="Message-ID: <v1@vacation.example.org>\n"
        "Auto-Submitted: auto-generated; owner-email=anna@example.org\n",
    )
    outcomes = [
        outcome
        for audience in ("av", "sender")
        for outcome in notify(audience, verdict_of("virus"), facts, tree, None)
    ]
    assert outcomes == [
        NoticeOutcome("av", "av@example.org", "sent", "en"),
        NoticeOutcome(
            "sender",
            "vacation@example.org",
            "suppressed",
            detail="automatic mail (Auto-Submitted: auto-generated)",
        ),
    ]
    assert list(arrived(smtp_server)) == ["av@example.org"]
