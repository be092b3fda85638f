"""Carry out a verdict's actions: keep, forward, notify.

Keep and forward must succeed, or the delivery is deferred (qmail retries: a duplicate in
quarantine beats a lost message). Notices are best effort: a notice that cannot be sent is
reported, never a reason to defer a message already kept.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from qmvc.paths import TEMPLATES_DIR, resolve_under

if TYPE_CHECKING:
    from qmvc.actions.inject import InjectorConfig
    from qmvc.engine.tree import DecisionTree
    from qmvc.engine.verdict import Verdict
    from qmvc.message.facts import MessageFacts

DEFAULT_INJECTOR = "/var/qmail/bin/qmail-inject"
ACTION_TIMEOUT_SECONDS = 60.0
GUARD_TEMPLATES = {"virus": "av_guard", "badmail": "badmail_guard"}


class ActionFailed(Exception):
    """Keep or forward failed: the message must be deferred."""


@dataclass
class ActionReport:
    kept: list[str] = field(default_factory=list)
    forwarded: list[str] = field(default_factory=list)
    notified: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def perform(
    verdict: Verdict,
    facts: MessageFacts,
    tree: DecisionTree,
    environ: Mapping[str, str],
    base_dir: Path,
) -> ActionReport:
    report = ActionReport()
    for action in verdict.actions:
        if action.kind == "keep":
            for target in action.targets:
                report.kept.append(str(_keep(facts.raw, resolve_under(base_dir, target), environ)))
        elif action.kind == "forward":
            _forward(facts.raw, list(action.targets), tree, environ)
            report.forwarded.extend(action.targets)
    for action in verdict.actions:
        if action.kind == "notify":
            for audience in action.targets:
                _notify(audience, verdict, facts, tree, report)
    return report


def _keep(raw: bytes, maildir: Path, environ: Mapping[str, str]) -> Path:
    """Into the quarantine Maildir with Return-Path and Delivered-To as qmail-local adds them."""
    from qmvc.actions.maildir import deliver_to_maildir

    prepend = (environ.get("RPLINE", "") + environ.get("DTLINE", "")).encode(
        "utf-8", "surrogateescape"
    )
    try:
        return deliver_to_maildir(maildir, raw, prepend)
    except OSError as exc:
        raise ActionFailed(f"keep in {maildir}: {exc.strerror or exc}") from exc


def _injector(tree: DecisionTree) -> InjectorConfig:
    from qmvc.actions.inject import parse_injector

    return parse_injector(tree.settings.get("injector", DEFAULT_INJECTOR))


def _forward(
    raw: bytes, recipients: list[str], tree: DecisionTree, environ: Mapping[str, str]
) -> None:
    """As qmail's forward does: the original envelope sender (NEWSENDER, else SENDER), and
    DTLINE on top, so that qmail-local bounces a forward that loops back to this mailbox."""
    from qmvc.actions.inject import ForwardError, forward

    sender = environ.get("NEWSENDER", environ.get("SENDER", ""))
    message = environ.get("DTLINE", "").encode("utf-8", "surrogateescape") + raw
    try:
        forward(message, sender, recipients, _injector(tree), ACTION_TIMEOUT_SECONDS)
    except (ForwardError, ValueError) as exc:
        raise ActionFailed(f"forward to {', '.join(recipients)}: {exc}") from exc


def _notify(
    audience: str, verdict: Verdict, facts: MessageFacts, tree: DecisionTree, report: ActionReport
) -> None:
    from qmvc.actions import notices
    from qmvc.actions.inject import ForwardError

    try:
        composed = compose_notices(audience, verdict, facts, tree)
    except (notices.NoticeError, ValueError, OSError) as exc:
        report.problems.append(f"notice to {audience}: {exc}")
        return
    for address, notice in composed:
        try:
            if notices.send_notice(notice, address, _injector(tree), ACTION_TIMEOUT_SECONDS):
                report.notified.append(address)
        except (ForwardError, ValueError, OSError) as exc:
            report.problems.append(f"notice to {address or '<>'}: {exc}")


def compose_notices(
    audience: str, verdict: Verdict, facts: MessageFacts, tree: DecisionTree
) -> list[tuple[str, bytes]]:
    """The notices `notify AUDIENCE` sends for this verdict: (address, message) pairs.

    A guard gets the AV or badmail guard template in the policy's default language; the
    recipient likewise; the sender gets the sender template in his language, chosen by
    the longest matching domain suffix. Raises NoticeError when a notice cannot be made.
    """
    from qmvc.actions import notices

    guard_name = "av" if verdict.outcome == "virus" else "badmail"
    guard_address = next(iter(tree.guards.get(guard_name, ())), "")
    hostname = tree.settings.get("hostname") or socket.gethostname()
    from_address = guard_address or f"postmaster@{hostname}"
    if audience in ("recipient", "sender"):
        template = audience
        addresses: tuple[str, ...] = (getattr(facts.envelope, audience),)
    else:
        template = GUARD_TEMPLATES.get(verdict.outcome, "badmail_guard")
        addresses = tree.guards.get(audience, ())
    language = (
        notices.language_for(facts.envelope.sender, tree.languages, tree.default_language)
        if audience == "sender"
        else tree.default_language
    )
    context = notices.NoticeContext.from_verdict(
        verdict,
        sender=facts.envelope.sender,
        recipient=facts.envelope.recipient,
        subject=facts.subject,
        message_id=facts.message_id,
        date=next(iter(facts.header("Date")), ""),
        guard=guard_address,
        hostname=hostname,
    )
    templates = Path(tree.settings.get("templates", str(TEMPLATES_DIR)))
    return [
        (
            address,
            notices.render_notice(template, language, context, from_address, address, templates),
        )
        for address in addresses
        if not notices.is_null_sender(address)
    ]
