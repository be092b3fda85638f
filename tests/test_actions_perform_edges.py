"""`qmvc.actions.perform.perform` in process with real compiled policies, real MessageFacts,
real Maildirs, the SQLite store and a real SMTP server (aiosmtpd): what it records into the
caller's report, the report's lines, and how a keep says what went wrong."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from qmvc.actions.notify import NoticeOutcome, plan_notices
from qmvc.actions.perform import ActionFailed, ActionReport, perform
from qmvc.engine.bombers import Bombing
from qmvc.engine.tree import DecisionTree
from qmvc.engine.verdict import Action, Verdict
from qmvc.message.envelope import Envelope
from qmvc.message.facts import MessageFacts
from qmvc.policy.policy import Policy
from tests.smtp_support import SmtpServer, free_port, running_smtp_server

RAW = b"From: anna@example.org\nSubject: invoice\nMessage-ID: <p1@example.org>\n\nhello\n"
FACTS = MessageFacts(RAW, Envelope("anna@example.org", "bob@example.com", "bob", "example.com", ""))
QMAIL_LINES = {
    "RPLINE": "Return-Path: <anna@example.org>\n",
    "DTLINE": "Delivered-To: bob@example.com\n",
}


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


def tree_of(tmp_path: Path, injector: str, settings: str = "") -> DecisionTree:
    policy = tmp_path / "policy.qmvc"
    policy.write_text(
        f'injector "{injector}"\nhostname "mx.example.org"\n{settings}\n'
        "profile only default {\n}\n"
    )
    return Policy.load(policy).compile()


def smtp(server: SmtpServer) -> str:
    return f"smtp:{server.host}:{server.port}"


def verdict_of(*actions: Action, bombing: Bombing | None = None) -> Verdict:
    return Verdict("badmail", "only", 99, actions=actions, bombing=bombing)


# ---- the report ---------------------------------------------------------------------------


def test_the_report_lines_name_each_kind_of_action() -> None:
    report = ActionReport(
        kept=["/q/new/1.mx"],
        forwarded=["c@example.net"],
        notices=[NoticeOutcome("av", "av@example.org", "sent", "en")],
    )
    assert report.performed() == [
        ("kept", "/q/new/1.mx"),
        ("forwarded", "c@example.net"),
        ("notice", "sent av to av@example.org in en"),
    ]


def test_perform_records_into_the_report_it_is_given_keeping_what_was_there(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """deliver passes its own report so that a later failure keeps what was done: perform
    fills that report (and returns it), adding to what an earlier step recorded."""
    tree = tree_of(tmp_path, smtp(smtp_server), 'guard av "av@example.org"\n')
    earlier = NoticeOutcome("av (bombing end)", "av@example.org", "sent", "en")
    report = ActionReport(notices=[earlier])
    bombing = Bombing("flood", "badmail", "sender anna@example.org", (), 3600.0, True, 3)
    verdict = verdict_of(Action("keep", ("quarantine",)), bombing=bombing)
    assert perform(verdict, FACTS, tree, QMAIL_LINES, tmp_path, report) is report
    [kept] = report.kept
    assert Path(kept).parent == tmp_path / "quarantine" / "new"
    assert [outcome.describe() for outcome in report.notices] == [
        "sent av (bombing end) to av@example.org in en",
        "sent av (bombing start) to av@example.org in en",
    ]


# ---- notify actions -----------------------------------------------------------------------


def test_each_notify_audience_is_notified_and_only_failures_are_problems(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    tree = tree_of(tmp_path, smtp(smtp_server))
    verdict = verdict_of(Action("keep", ("quarantine",)), Action("notify", ("recipient",)))
    report = perform(verdict, FACTS, tree, QMAIL_LINES, tmp_path)
    assert [outcome.describe() for outcome in report.notices] == [
        "sent recipient to bob@example.com in en"
    ]
    assert report.problems == []
    assert [mail.rcpt_tos for mail in smtp_server.received] == [("bob@example.com",)]


def test_every_failed_notice_is_a_problem(tmp_path: Path) -> None:
    """Nothing listens at the injector's port: both audiences' notices fail, both are said."""
    tree = tree_of(tmp_path, f"smtp:127.0.0.1:{free_port()}")
    verdict = verdict_of(Action("notify", ("sender", "recipient")))
    report = perform(verdict, FACTS, tree, QMAIL_LINES, tmp_path)
    assert [problem.split(": ")[0] for problem in report.problems] == [
        "notice failed sender to anna@example.org in en",
        "notice failed recipient to bob@example.com in en",
    ]


def test_the_notices_limit_is_counted_in_the_policys_store(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    tree = tree_of(tmp_path, smtp(smtp_server), "state sqlite\nnotices limit 1 per 1h\n")
    verdict = verdict_of(Action("notify", ("recipient",)))
    statuses = [
        [o.status for o in perform(verdict, FACTS, tree, QMAIL_LINES, tmp_path).notices]
        for _ in range(2)
    ]
    assert statuses == [["sent"], ["limited"]]
    assert len(smtp_server.received) == 1


def test_an_address_no_language_rule_matches_gets_the_policys_default_language(
    tmp_path: Path,
) -> None:
    tree = tree_of(tmp_path, "smtp:127.0.0.1:25", "language de default\nlanguage fr for .fr\n")
    [planned] = plan_notices("sender", verdict_of(), FACTS, tree)
    assert (planned.address, planned.language) == ("anna@example.org", "de")


# ---- keep ---------------------------------------------------------------------------------


def test_a_keep_outside_qmail_prepends_nothing(tmp_path: Path) -> None:
    """Run by hand (no RPLINE, no DTLINE in the environment) the kept file is the message."""
    tree = tree_of(tmp_path, "smtp:127.0.0.1:25")
    report = perform(verdict_of(Action("keep", ("quarantine",))), FACTS, tree, {}, tmp_path)
    assert Path(report.kept[0]).read_bytes() == RAW


def test_a_keep_writes_qmails_lines_with_the_bytes_the_environment_had(tmp_path: Path) -> None:
    """An address that is not UTF-8 reaches Python as surrogate escapes: the kept file gets
    the original byte back, not an encoding error."""
    tree = tree_of(tmp_path, "smtp:127.0.0.1:25")
    environ = {"RPLINE": "Return-Path: <\udcffanna@example.org>\n", "DTLINE": "Delivered-To: b\n"}
    report = perform(verdict_of(Action("keep", ("quarantine",))), FACTS, tree, environ, tmp_path)
    assert Path(report.kept[0]).read_bytes() == (
        b"Return-Path: <\xffanna@example.org>\nDelivered-To: b\n" + RAW
    )


def test_a_keep_that_fails_says_where_and_the_system_s_reason(tmp_path: Path) -> None:
    tree = tree_of(tmp_path, "smtp:127.0.0.1:25")
    (tmp_path / "quarantine").write_text("a file where the folder should be\n")
    with pytest.raises(ActionFailed) as raised:
        perform(verdict_of(Action("keep", ("quarantine/virus",))), FACTS, tree, {}, tmp_path)
    assert str(raised.value) == f"keep in {tmp_path / 'quarantine' / 'virus'}: Not a directory"
