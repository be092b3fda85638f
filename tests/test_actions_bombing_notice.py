"""The AV guard's bombing summary (`notify_bombing`, its variables from
`bombing_variables`), sent through a real SMTP server: one notice per guard address, in the
guard's language (else the policy's default), from the policy's `notices from` (else
postmaster at its host name, else the machine's), rendered from its templates directory; a
notice that fails is reported with why, never raised."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

import qmvc.actions.perform
from qmvc.actions.notify import NoticeOutcome, notify_bombing
from qmvc.actions.perform import bombing_variables
from qmvc.engine.bombers import Bombing
from qmvc.engine.tree import DecisionTree
from qmvc.engine.verdict import Action, ScannerReport, Verdict
from qmvc.policy.policy import Policy
from tests.smtp_support import SmtpServer, free_port, running_smtp_server

VARIABLES: dict[str, object] = {
    "rule": "same-virus",
    "kind": "infected",
    "source": "x@evil.example",
    "count": 3,
    "started": "2026-11-26 06:00",
    "last": "2026-11-26 06:05",
    "viruses": ("Eicar-Test-Signature",),
    "actions": ("keep quarantine/virus", "no notices for 1 h"),
    "quiet": "1 h",
}


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


def tree_of(tmp_path: Path, settings: str) -> DecisionTree:
    policy = tmp_path / "policy.qmvc"
    policy.write_text(f"{settings}\nprofile only default {{\n}}\n")
    return Policy.load(policy).compile()


def received(server: SmtpServer) -> list[tuple[str, tuple[str, ...], EmailMessage]]:
    return [
        (
            mail.mail_from,
            mail.rcpt_tos,
            email.message_from_bytes(mail.content, policy=email.policy.default),  # type: ignore[misc]
        )
        for mail in server.received
    ]


def test_each_av_guard_address_gets_the_start_summary_in_the_guards_language(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    tree = tree_of(
        tmp_path,
        f'hostname "mx.example.org"\n'
        f'injector "smtp:{smtp_server.host}:{smtp_server.port}"\n'
        'guard badmail "badmail-desk@example.org"\n'
        'guard av "Virus desk <av@example.org>" "second@example.org" language de\n'
        "language fr default\n",
    )
    outcomes = notify_bombing("start", VARIABLES, tree, None)
    audience = "av (bombing start)"
    assert outcomes == [
        NoticeOutcome(audience, "Virus desk <av@example.org>", "sent", "de"),
        NoticeOutcome(audience, "second@example.org", "sent", "de"),
    ]
    mails = received(smtp_server)
    assert [(sender, to) for sender, to, _ in mails] == [
        ("<>", ("av@example.org",)),
        ("<>", ("second@example.org",)),
    ]
    first = mails[0][2]
    assert first["Subject"] == "[qmvc] Virenflut begonnen: x@evil.example (3 E-Mails)"
    assert first["From"] == "postmaster@mx.example.org"
    assert first["To"] == "Virus desk <av@example.org>"
    body = first.get_content()
    assert "qmvc auf mx.example.org hat eine Virenflut" in body
    assert "Regel:          same-virus" in body and "Eicar-Test-Signature" in body


def test_the_end_summary_comes_from_notices_from_through_the_policys_templates(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """No `hostname` in the policy: the machine's name stands in, as in every notice."""
    templates = tmp_path / "site-templates"
    (templates / "nl").mkdir(parents=True)
    (templates / "nl" / "bombing.j2").write_text(
        "Subject: {{ phase }} of {{ rule }} on {{ hostname }}\n\n{{ source }} {{ count }}\n"
    )
    tree = tree_of(
        tmp_path,
        f'injector "smtp:{smtp_server.host}:{smtp_server.port}"\n'
        f'templates "{templates}"\n'
        'notices from "Mail Filter <filter@example.org>"\n'
        'guard av "av@example.org" language nl\n',
    )
    [outcome] = notify_bombing("end", VARIABLES, tree, None)
    assert outcome == NoticeOutcome("av (bombing end)", "av@example.org", "sent", "nl")
    [(_, _, mail)] = received(smtp_server)
    assert mail["Subject"] == f"end of same-virus on {socket.gethostname()}"
    assert mail["From"] == "Mail Filter <filter@example.org>"
    assert mail.get_content().strip() == "x@evil.example 3"


def test_a_notice_that_cannot_go_is_reported_with_why_and_the_others_still_go(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """A guard without a language of its own gets the policy's default (fr)."""
    tree = tree_of(
        tmp_path,
        f'injector "smtp:{smtp_server.host}:{smtp_server.port}"\n'
        'guard av "av@example.org" "second@example.org"\n'
        "language fr default\n",
    )
    smtp_server.refused_recipients.add("av@example.org")
    first, second = notify_bombing("start", VARIABLES, tree, None)
    assert (first.audience, first.address, first.status, first.language) == (
        "av (bombing start)",
        "av@example.org",
        "failed",
        "fr",
    )
    assert first.detail.startswith("ForwardError: smtp ") and "550" in first.detail
    assert second == NoticeOutcome("av (bombing start)", "second@example.org", "sent", "fr")
    [(_, to, mail)] = received(smtp_server)
    assert to == ("second@example.org",) and "Subject" in mail


def test_nothing_listening_fails_every_notice_without_raising(tmp_path: Path) -> None:
    tree = tree_of(
        tmp_path,
        f'injector "smtp:127.0.0.1:{free_port()}"\nguard av "av@example.org" language de\n',
    )
    [outcome] = notify_bombing("end", VARIABLES, tree, None)
    assert (outcome.status, outcome.language) == ("failed", "de")
    assert outcome.detail.startswith("ForwardError: smtp 127.0.0.1:")


def test_a_policy_without_an_av_guard_sends_no_summary(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, 'guard badmail "badmail-desk@example.org"\n')
    assert notify_bombing("start", VARIABLES, tree, None) == []


def test_a_template_that_fails_to_render_is_reported_by_its_own_message(tmp_path: Path) -> None:
    templates = tmp_path / "site-templates"
    (templates / "nl").mkdir(parents=True)
    (templates / "nl" / "bombing.j2").write_text("Subject: {{ 1 // 0 }}\n\nbody\n")
    tree = tree_of(
        tmp_path,
        f'injector "smtp:127.0.0.1:{free_port()}"\n'
        f'templates "{templates}"\nguard av "av@example.org" language nl\n',
    )
    [outcome] = notify_bombing("start", VARIABLES, tree, None)
    assert (outcome.status, outcome.language, outcome.detail) == (
        "failed",
        "nl",
        "nl/bombing.j2: ZeroDivisionError: integer division or modulo by zero",
    )


def test_an_smtp_server_that_never_answers_fails_the_notice_at_the_action_time_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It listens (the kernel completes the handshake) but never says hello."""
    monkeypatch.setattr(qmvc.actions.perform, "ACTION_TIMEOUT_SECONDS", 0.5)
    with socket.create_server(("127.0.0.1", 0)) as mute:
        port = mute.getsockname()[1]
        tree = tree_of(tmp_path, f'injector "smtp:127.0.0.1:{port}"\nguard av "av@example.org"\n')
        outcomes: list[NoticeOutcome] = []
        sending = threading.Thread(
            target=lambda: outcomes.extend(notify_bombing("start", VARIABLES, tree, None)),
            daemon=True,  # a sender without a time limit would hang here for ever
        )
        sending.start()
        sending.join(timeout=30)
    assert not sending.is_alive(), "the notice waited past the action time limit"
    [outcome] = outcomes
    assert outcome.status == "failed" and "timed out" in outcome.detail


def test_the_start_summarys_variables_say_the_episode_and_what_qmvc_does() -> None:
    """What bombing.j2 reads: every key, the viruses of every scanner, each action as the
    policy wrote it, and the quiet time; started and last are now, to the minute."""
    bombing = Bombing(
        rule="same-virus",
        kind="infected",
        source="sender x@evil.example",
        actions=(Action("keep", ("quarantine/bombs",)), Action("forward", ("a@b", "c@d"))),
        quiet_seconds=1800.0,
        started=True,
        count=5,
    )
    verdict = Verdict(
        outcome="virus",
        profile="standard",
        exit_code=99,
        scanners=(
            ScannerReport("clamd", "ran", ("Eicar-Test-Signature",)),
            ScannerReport("other", "ran", ("W32/Netsky.P", "Eicar-Test-Signature")),
        ),
    )
    before = datetime.now().replace(second=0, microsecond=0)
    variables = bombing_variables(bombing, verdict)
    after = datetime.now()
    started = datetime.strptime(str(variables.pop("started")), "%Y-%m-%d %H:%M")
    assert before <= started <= after
    assert variables.pop("last") == started.strftime("%Y-%m-%d %H:%M")
    assert variables == {
        "rule": "same-virus",
        "kind": "infected",
        "source": "sender x@evil.example",
        "count": 5,
        "viruses": ("Eicar-Test-Signature", "W32/Netsky.P", "Eicar-Test-Signature"),
        "actions": ("keep quarantine/bombs", "forward a@b c@d", "no notices for 30m"),
        "quiet": "30m",
    }
