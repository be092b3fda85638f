"""Incident notices to the AV guard, the badmail guard, the recipient and the sender.

Each notice is rendered by Jinja2 from `templates/<lang>/<audience>.j2`: the template's
first line is `Subject: ...`, the rest is the plain-text body (see templates/README.md).
Everything from the message (sender, subject, file names, virus names) is made one
printable line before it reaches a template, and the header block is written by
`qmvc.actions.compose`, not by the email package, so no content can add a header on any
Python (see compose's docstring). Notices leave with the null envelope sender, so they can
never bounce back into a loop, and never go to a null sender.
Jinja2 is imported only when a notice is rendered.
"""

from __future__ import annotations

import functools
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qmvc.actions import compose
from qmvc.actions.inject import InjectorConfig, forward
from qmvc.actions.mailbox import Mailbox, parse_mailbox
from qmvc.engine.verdict import Verdict
from qmvc.paths import TEMPLATES_DIR

if TYPE_CHECKING:
    import jinja2

AUDIENCES = ("av_guard", "badmail_guard", "recipient", "sender")
BOMBING_TEMPLATE = "bombing"
"""The AV guard's summary when a virus bombing starts and ends (see qmvc.engine.bombers)."""
DEFAULT_LANGUAGE = "en"
NULL_SENDERS = ("", "<>", "#@[]")
OUTCOMES = ("virus", "badmail", "scanner-failure", "too-large")
_LANGUAGE_TAG = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?")
_HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


class NoticeError(ValueError):
    """A notice cannot be rendered (unknown audience, broken template, unusable address)."""


@dataclass(frozen=True, slots=True)
class NoticeContext:
    """What a template may say about the incident; `guard` is the officer to ask about it."""

    outcome: str
    profile: str
    sender: str
    recipient: str
    subject: str
    message_id: str
    date: str
    criteria: Sequence[tuple[str, str]] = ()
    scanners: Sequence[tuple[str, str, Sequence[str]]] = ()
    findings: Sequence[tuple[str, str, str]] = ()
    actions: Sequence[str] = ()
    guard: str = ""
    language: str = DEFAULT_LANGUAGE
    hostname: str = field(default_factory=socket.gethostname)

    @classmethod
    def from_verdict(
        cls,
        verdict: Verdict,
        *,
        sender: str,
        recipient: str,
        subject: str,
        message_id: str,
        date: str,
        guard: str,
        hostname: str | None = None,
    ) -> NoticeContext:
        """The context for a verdict: criteria with evidence, findings, scanners, actions."""
        return cls(
            outcome=verdict.outcome,
            profile=verdict.profile,
            sender=sender,
            recipient=recipient,
            subject=subject,
            message_id=message_id,
            date=date,
            criteria=tuple((match.name, match.evidence) for match in verdict.criteria),
            scanners=tuple((s.name, s.status, s.viruses) for s in verdict.scanners),
            findings=findings_of(verdict),
            actions=tuple(" ".join((a.kind, *a.targets)) for a in verdict.actions),
            guard=guard,
            hostname=hostname or socket.gethostname(),
        )


def findings_of(verdict: Verdict) -> tuple[tuple[str, str, str], ...]:
    """(engine, virus, where) for each virus; `where` is "" when the engine did not say."""
    found = []
    for report in verdict.scanners:
        places = dict(report.locations)
        found += [(report.name, virus, places.get(virus, "")) for virus in report.viruses]
    return tuple(found)


def _cleaned(value: Any) -> Any:
    """Make every string inside a context value one line, keeping its tuple/list shape."""
    if isinstance(value, str):
        return compose.one_line(value)
    if isinstance(value, list | tuple):
        return tuple(_cleaned(item) for item in value)
    return value


def language_for(
    address: str, rules: Sequence[tuple[str, tuple[str, ...]]], default: str = DEFAULT_LANGUAGE
) -> str:
    """The language of an address's domain by the longest matching suffix (`.co.uk` over `.uk`).

    `rules` pairs a language with its suffixes, e.g. `("de", (".de", ".at", ".ch"))`; a
    suffix matches whole labels only, so `.de` matches `wdr.de` but not `wdr.fde`.
    """
    domain = "." + address.rpartition("@")[2].strip().rstrip(".").lower()
    best_language, best_length = default, 0
    for language, suffixes in rules:
        for suffix in suffixes:
            dotted = "." + suffix.lower().lstrip(".")
            if domain.endswith(dotted) and len(dotted) > best_length:
                best_language, best_length = language, len(dotted)
    return best_language


@functools.lru_cache(maxsize=4)
def environment(templates_dir: Path) -> jinja2.Environment:
    """The one Jinja2 set-up for notices; check-policy renders with it too."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def has_template(audience: str, language: str, templates_dir: Path = TEMPLATES_DIR) -> bool:
    return (
        bool(_LANGUAGE_TAG.fullmatch(language))
        and (templates_dir / language / f"{audience}.j2").is_file()
    )


def template_language(audience: str, language: str, templates_dir: Path = TEMPLATES_DIR) -> str:
    """`language` when it has the audience's template, else the fallback, English."""
    if audience not in (*AUDIENCES, BOMBING_TEMPLATE):
        raise NoticeError(f"unknown notice audience {audience!r}; expected one of {AUDIENCES}")
    return language if has_template(audience, language, templates_dir) else DEFAULT_LANGUAGE


def _split_subject(rendered: str, name: str) -> tuple[str, str]:
    first_line, _, body = rendered.partition("\n")
    label, colon, subject = first_line.partition(":")
    if not colon or label.strip().lower() != "subject":
        raise NoticeError(f"{name}: the first line must be 'Subject: ...'")
    return subject.strip(), body.lstrip("\n")


def _mailbox(value: Mailbox | str, role: str) -> Mailbox:
    if isinstance(value, Mailbox):
        return value
    try:
        return parse_mailbox(compose.one_line(value))
    except ValueError as error:
        raise NoticeError(f"unusable {role} address: {error}") from None


def render_text(
    audience: str, language: str, ctx: NoticeContext, templates_dir: Path = TEMPLATES_DIR
) -> tuple[str, str]:
    """The template's (subject, body) for this context; raises NoticeError with the reason.

    Any exception while rendering (a filter failing on odd input, `1 // 0`) is a NoticeError:
    a notice is never worth more than the message it is about.
    """
    variables = {key: _cleaned(getattr(ctx, key)) for key in NoticeContext.__slots__}
    return render_variables(audience, language, variables, templates_dir)


def render_variables(
    template: str, language: str, variables: dict[str, Any], templates_dir: Path = TEMPLATES_DIR
) -> tuple[str, str]:
    """(subject, body) of `<language>/<template>.j2` (English when missing) for `variables`,
    each string made one line first; raises NoticeError."""
    language = template_language(template, language, templates_dir)
    name = f"{language}/{template}.j2"
    cleaned = {key: _cleaned(value) for key, value in variables.items()}
    cleaned["language"] = language
    try:
        rendered = environment(templates_dir).get_template(name).render(cleaned)
    except Exception as error:  # noqa: BLE001 — see render_text
        raise NoticeError(f"{name}: {type(error).__name__}: {error}") from error
    return _split_subject(rendered, name)


def render_notice(
    audience: str,
    language: str,
    ctx: NoticeContext,
    from_address: Mailbox | str,
    to_address: Mailbox | str,
    templates_dir: Path = TEMPLATES_DIR,
) -> bytes:
    """A complete RFC 5322 message (LF line ends) ready for `send_notice`."""
    subject, body = render_text(audience, language, ctx, templates_dir)
    return compose_notice(subject, body, from_address, to_address, ctx.hostname)


def compose_notice(
    subject: str,
    body: str,
    from_address: Mailbox | str,
    to_address: Mailbox | str,
    hostname: str,
) -> bytes:
    """The notice's bytes: qmvc's fixed header set (see compose), then the body."""
    import email.utils

    sender, recipient = _mailbox(from_address, "From"), _mailbox(to_address, "To")
    host = compose.one_line(hostname)
    domain = host if _HOST_NAME.fullmatch(host) else "localhost"
    try:
        return compose.message_bytes(
            [
                compose.mailbox_header("From", sender),
                compose.mailbox_header("To", recipient),
                compose.unstructured("Subject", subject),
                compose.plain_header(
                    "Date", email.utils.format_datetime(datetime.now().astimezone())
                ),
                compose.plain_header("Message-ID", email.utils.make_msgid("qmvc", domain)),
                compose.plain_header("Auto-Submitted", "auto-generated"),
            ],
            body,
        )
    except ValueError as error:
        raise NoticeError(str(error)) from None


def is_null_sender(address: str) -> bool:
    """The null sender (and qmail's double-bounce `#@[]`): never answered, or mail loops."""
    return address.strip() in NULL_SENDERS


def send_notice(notice: bytes, to_address: str, injector: InjectorConfig, timeout: float) -> bool:
    """Send with the null envelope sender; a null `to_address` is skipped (returns False).

    Raises ForwardError like `forward`; the caller decides what a lost notice means.
    """
    if is_null_sender(to_address):
        return False
    forward(notice, "", [to_address], injector, timeout)
    return True
