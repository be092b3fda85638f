"""`notify AUDIENCE`: who gets a notice, in which language, and when none is sent.

`plan_notices` turns one audience into the notices it means (guards: every address of the
guard; `recipient`: the person's own address; `sender`: the envelope sender), each with
its template and language. `notify` then applies the rules that keep notices from doing
harm, renders and sends; every notice ends as one `NoticeOutcome` that deliver writes to
qmvc.rep (sent, failed, suppressed, limited). Nothing here raises: notices are best effort.

Languages: a guard's is its `language` in the policy, else the default; the recipient's
and the sender's follow their domain by the `language ... for` suffixes. A language with
no template falls back to English, and the outcome says so.

No notice at all in reply to a qmvc notice (its Message-ID or Auto-Submitted marks it): a
rule that matches a notice would otherwise feed notices to itself. No sender notice for
bulk, list or auto-submitted mail, nor to one of the policy's own guards.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from qmvc.actions import notices
from qmvc.actions.mailbox import Mailbox, parse_mailbox
from qmvc.actions.virtualdomains import DEFAULT_VIRTUALDOMAINS, personal_address
from qmvc.paths import TEMPLATES_DIR
from qmvc.record import Record

if TYPE_CHECKING:
    from qmvc.engine.tree import DecisionTree
    from qmvc.engine.verdict import Verdict
    from qmvc.message.facts import MessageFacts

GUARD_TEMPLATES = {"badmail": "badmail_guard"}
"""A guard hears about a badmail with the badmail template, about anything else with AV's."""
BULK_PRECEDENCE = frozenset(("bulk", "list", "junk"))
LIST_HEADERS = ("List-Id", "List-Unsubscribe", "List-Post")
_QMVC_MESSAGE_ID = re.compile(r"\.qmvc@[^>]*>\s*$")

NoticeStatus = Literal["sent", "failed", "suppressed", "limited", "preview"]


class NoticeOutcome(Record):
    """What became of one notice; `detail` says why, or notes a language fallback."""

    audience: str
    address: str
    status: NoticeStatus
    language: str = ""
    detail: str = ""
    message: bytes = b""

    def describe(self) -> str:
        """One line for qmvc.rep: `sent av to a@b in de`, `suppressed sender to c@d: ...`."""
        text = f"{self.status} {self.audience} to {self.address or '<>'}"
        if self.language:
            text += f" in {self.language}"
        return text + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True, slots=True)
class PlannedNotice:
    audience: str
    template: str
    address: str
    language: str


def responsible_guard(verdict: Verdict, tree: DecisionTree) -> str:
    """The officer to ask about this outcome: badmail's for a badmail, else AV's."""
    name = "badmail" if verdict.outcome == "badmail" else "av"
    return next(iter(tree.guards.get(name, ())), "")


def plan_notices(
    audience: str, verdict: Verdict, facts: MessageFacts, tree: DecisionTree
) -> list[PlannedNotice]:
    """The notices `notify AUDIENCE` means for this verdict, before any rule is applied."""
    if audience == "sender":
        address = facts.envelope.sender
        return [PlannedNotice(audience, audience, address, _language_of(address, tree))]
    if audience == "recipient":
        address = _personal_recipient(facts, tree)
        return [PlannedNotice(audience, audience, address, _language_of(address, tree))]
    template = GUARD_TEMPLATES.get(verdict.outcome, "av_guard")
    language = tree.guard_languages.get(audience, tree.default_language)
    return [
        PlannedNotice(audience, template, address, language)
        for address in tree.guards.get(audience, ())
    ]


def _language_of(address: str, tree: DecisionTree) -> str:
    return notices.language_for(address, tree.languages, tree.default_language)


def suppression_reason(
    planned: PlannedNotice, facts: MessageFacts, tree: DecisionTree
) -> str | None:
    """Why this notice must not be sent, or None. See the module docstring for the rules."""
    if notices.is_null_sender(planned.address):
        return "the null sender gets no mail"
    if is_qmvc_notice(facts):
        return "the message is itself a qmvc notice (loop guard)"
    if planned.audience != "sender":
        return None
    precedence = next(iter(facts.header("Precedence")), "").strip().lower()
    if precedence in BULK_PRECEDENCE:
        return f"bulk mail (Precedence: {precedence})"
    for name in LIST_HEADERS:
        if facts.header(name):
            return f"list mail ({name})"
    auto = next(iter(facts.header("Auto-Submitted")), "").split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"automatic mail (Auto-Submitted: {auto})"
    guards = {_bare(a) for addresses in tree.guards.values() for a in addresses}
    if planned.address.lower() in guards:
        return "the sender is one of this policy's guards"
    return None


def is_qmvc_notice(facts: MessageFacts) -> bool:
    message_id = facts.message_id
    auto = next(iter(facts.header("Auto-Submitted")), "").strip().lower()
    return bool(_QMVC_MESSAGE_ID.search(message_id)) and auto.startswith("auto-generated")


def _bare(address: str) -> str:
    try:
        return parse_mailbox(address).address.lower()
    except ValueError:
        return address.strip().lower()


def from_mailbox(verdict: Verdict, tree: DecisionTree, hostname: str) -> Mailbox:
    """`notices from`, else the responsible guard's mailbox, else postmaster@HOSTNAME."""
    for candidate in (tree.notice_from, responsible_guard(verdict, tree)):
        if candidate:
            try:
                return parse_mailbox(candidate)
            except ValueError:
                continue
    return Mailbox(f"postmaster@{hostname}")


def notify(
    audience: str,
    verdict: Verdict,
    facts: MessageFacts,
    tree: DecisionTree,
    base_dir: Path | None,
    send: bool = True,
) -> list[NoticeOutcome]:
    """Compose (and with `send`, rate-limit and send) the notices for one audience.

    `base_dir` holds the rate-limit store; `send=False` is `qmvc notice --preview`: the
    notices are rendered and returned with status `preview`, nothing is counted or sent.
    """
    outcomes: list[NoticeOutcome] = []
    hostname = tree.settings.get("hostname") or socket.gethostname()
    try:
        planned_notices = plan_notices(audience, verdict, facts, tree)
        sender = from_mailbox(verdict, tree, hostname)
    except Exception as error:  # noqa: BLE001 — notices are best effort
        return [NoticeOutcome(audience, "", "failed", detail=_named(error))]
    for planned in planned_notices:
        outcomes.append(_one(planned, verdict, facts, tree, base_dir, sender, hostname, send))
    return outcomes


def _one(
    planned: PlannedNotice,
    verdict: Verdict,
    facts: MessageFacts,
    tree: DecisionTree,
    base_dir: Path | None,
    sender: Mailbox,
    hostname: str,
    send: bool,
) -> NoticeOutcome:
    audience, address = planned.audience, planned.address
    language, notes = "", []
    try:
        reason = suppression_reason(planned, facts, tree)
        if reason:
            return NoticeOutcome(audience, address, "suppressed", detail=reason)
        templates = Path(tree.settings.get("templates", str(TEMPLATES_DIR)))
        language = notices.template_language(planned.template, planned.language, templates)
        if language != planned.language:
            notes.append(f"no {planned.language} template, sent in {language}")
        recipient = parse_mailbox(address)
        guard = responsible_guard(verdict, tree)
        context = notices.NoticeContext.from_verdict(
            verdict,
            sender=facts.envelope.sender,
            recipient=_personal_recipient(facts, tree),
            subject=facts.subject,
            message_id=facts.message_id,
            date=next(iter(facts.header("Date")), ""),
            guard=_bare(guard) if guard else "",
            hostname=hostname,
        )
        message = notices.render_notice(
            planned.template, language, context, sender, recipient, templates
        )
        if not send:
            return NoticeOutcome(audience, address, "preview", language, "; ".join(notes), message)
        allowed, problem = _within_limit(recipient.address, tree, base_dir)
        notes += [problem] if problem else []
        if not allowed:
            return NoticeOutcome(audience, address, "limited", language, _limit_text(tree))
        from qmvc.actions.perform import ACTION_TIMEOUT_SECONDS, injector_of

        notices.send_notice(message, recipient.address, injector_of(tree), ACTION_TIMEOUT_SECONDS)
        return NoticeOutcome(audience, address, "sent", language, "; ".join(notes))
    except Exception as error:  # noqa: BLE001 — notices are best effort
        notes.append(str(error) if isinstance(error, ValueError) else _named(error))
        return NoticeOutcome(audience, address, "failed", language, "; ".join(notes))


def _named(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _personal_recipient(facts: MessageFacts, tree: DecisionTree) -> str:
    virtualdomains = Path(tree.settings.get("virtualdomains", DEFAULT_VIRTUALDOMAINS))
    return personal_address(facts.envelope, virtualdomains)


def _limit_text(tree: DecisionTree) -> str:
    count, window = tree.notice_limit
    return f"{count} notices to this address within {window:g} s already (notices limit)"


def _within_limit(address: str, tree: DecisionTree, base_dir: Path | None) -> tuple[bool, str]:
    """The notices limit, counted in the policy's state store (shared by every delivery,
    and by every host when it is Redis), and a problem to log: a store that cannot be used
    lets the notice through."""
    if base_dir is None:
        return True, ""
    import time

    from qmvc.state.base import StateUnavailable
    from qmvc.state.factory import open_store

    count, window = tree.notice_limit
    try:
        store = open_store(*tree.state, base_dir)
        try:
            return store.allow(f"notice:{address.lower()}", count, time.time(), window), ""
        finally:
            store.close()
    except StateUnavailable as error:
        return True, f"notices limit not applied: {error}"


def notify_bombing(
    phase: str,
    variables: dict[str, object],
    tree: DecisionTree,
    base_dir: Path | None,
) -> list[NoticeOutcome]:
    """The AV guard's summary of a bombing (`phase` start or end): one notice per guard
    address, in the guard's language, sent whatever the notices limit (it replaces the
    flood of notices the limit is there to stop). Never raises."""
    from qmvc.actions.perform import ACTION_TIMEOUT_SECONDS, injector_of

    hostname = tree.settings.get("hostname") or socket.gethostname()
    templates = Path(tree.settings.get("templates", str(TEMPLATES_DIR)))
    language = tree.guard_languages.get("av", tree.default_language)
    audience = f"av (bombing {phase})"
    outcomes: list[NoticeOutcome] = []
    for address in tree.guards.get("av", ()):
        used = ""
        try:
            used = notices.template_language(notices.BOMBING_TEMPLATE, language, templates)
            subject, body = notices.render_variables(
                notices.BOMBING_TEMPLATE,
                used,
                {**variables, "phase": phase, "hostname": hostname},
                templates,
            )
            recipient = parse_mailbox(address)
            sender = Mailbox(f"postmaster@{hostname}")
            if tree.notice_from:
                sender = parse_mailbox(tree.notice_from)
            message = notices.compose_notice(subject, body, sender, recipient, hostname)
            notices.send_notice(
                message, recipient.address, injector_of(tree), ACTION_TIMEOUT_SECONDS
            )
            outcomes.append(NoticeOutcome(audience, address, "sent", used))
        except Exception as error:  # noqa: BLE001 — notices are best effort
            detail = str(error) if isinstance(error, ValueError) else _named(error)
            outcomes.append(NoticeOutcome(audience, address, "failed", used, detail))
    return outcomes
