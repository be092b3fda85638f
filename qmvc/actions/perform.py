"""Carry out a verdict's actions: keep, forward, notify.

Keep and forward must succeed, or the delivery is deferred (qmail retries: a duplicate in
quarantine beats a lost message). Notices are best effort: a notice that cannot be sent is
reported, never a reason to defer a message already kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from qmvc.paths import resolve_under

if TYPE_CHECKING:
    from qmvc.actions.inject import InjectorConfig
    from qmvc.actions.notify import NoticeOutcome
    from qmvc.engine.bombers import Bombing
    from qmvc.engine.tree import DecisionTree
    from qmvc.engine.verdict import Action, Verdict
    from qmvc.message.facts import MessageFacts

DEFAULT_INJECTOR = "/var/qmail/bin/qmail-inject"
ACTION_TIMEOUT_SECONDS = 60.0


class ActionFailed(Exception):
    """Keep or forward failed: the message must be deferred."""


@dataclass
class ActionReport:
    """What the actions did, filled in as each finishes (a later failure keeps it)."""

    kept: list[str] = field(default_factory=list)
    forwarded: list[str] = field(default_factory=list)
    notices: list[NoticeOutcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def performed(self) -> list[tuple[str, str]]:
        """qmvc.rep's lines: `kept: FILE`, `forwarded: ADDRESS`, `notice: sent av to …`."""
        return (
            [("kept", path) for path in self.kept]
            + [("forwarded", address) for address in self.forwarded]
            + [("notice", outcome.describe()) for outcome in self.notices]
        )


def perform(
    verdict: Verdict,
    facts: MessageFacts,
    tree: DecisionTree,
    environ: Mapping[str, str],
    base_dir: Path,
    report: ActionReport | None = None,
) -> ActionReport:
    """Keep and forward (raising ActionFailed), then notify; records into `report`."""
    report = ActionReport() if report is None else report
    for action in verdict.actions:
        if action.kind == "keep":
            for target in action.targets:
                report.kept.append(str(_keep(facts.raw, resolve_under(base_dir, target), environ)))
        elif action.kind == "forward":
            _forward(facts.raw, list(action.targets), tree, environ)
            report.forwarded.extend(action.targets)
    from qmvc.actions.notify import notify, notify_bombing

    bombing = verdict.bombing
    if bombing is not None and bombing.started:
        report.notices += notify_bombing(
            "start", bombing_variables(bombing, verdict), tree, base_dir
        )
    for action in verdict.actions:
        if action.kind == "notify":
            for audience in action.targets:
                outcomes = notify(audience, verdict, facts, tree, base_dir)
                report.notices.extend(outcomes)
                report.problems += [
                    f"notice {o.describe()}" for o in outcomes if o.status == "failed"
                ]
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


def injector_of(tree: DecisionTree) -> InjectorConfig:
    """The policy's `injector`, for forwards and notices."""
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
        forward(message, sender, recipients, injector_of(tree), ACTION_TIMEOUT_SECONDS)
    except (ForwardError, ValueError) as exc:
        raise ActionFailed(f"forward to {', '.join(recipients)}: {exc}") from exc


def bombing_variables(bombing: Bombing, verdict: Verdict) -> dict[str, object]:
    """What bombing.j2 says at the start: the episode so far and what qmvc does with it."""
    from datetime import datetime

    from qmvc.engine.tree import duration_text

    now = datetime.now().strftime("%Y-%m-%d %H:%M")
    return {
        "rule": bombing.rule,
        "kind": bombing.kind,
        "source": bombing.source,
        "count": bombing.count,
        "started": now,
        "last": now,
        "viruses": tuple(v for report in verdict.scanners for v in report.viruses),
        "actions": bombing_actions(bombing.actions, bombing.quiet_seconds),
        "quiet": duration_text(bombing.quiet_seconds),
    }


def bombing_actions(actions: tuple[Action, ...], quiet_seconds: float) -> tuple[str, ...]:
    from qmvc.engine.tree import duration_text

    words = [" ".join((a.kind, *a.targets)) for a in actions]
    return (*words, f"no notices for {duration_text(quiet_seconds)}")
