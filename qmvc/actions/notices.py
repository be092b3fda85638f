"""Incident notices to the AV guard, the badmail guard, the recipient and the sender.

Each notice is rendered by Jinja2 from `templates/<lang>/<audience>.j2`: the template's
first line is `Subject: ...`, the rest is the plain-text body (see templates/README.md).
Everything from the message (sender, subject, file names, virus names) is cleaned of
control characters before it reaches a template, and headers are built by the email package
(RFC 2047 for non-ASCII), so no content can add a header. Notices leave with the null
envelope sender, so they can never bounce back into a loop, and never go to a null sender.
Jinja2 and the email package are imported only when a notice is rendered.
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

from qmvc.actions.inject import InjectorConfig, forward
from qmvc.engine.verdict import Verdict
from qmvc.paths import TEMPLATES_DIR

if TYPE_CHECKING:
    import jinja2

AUDIENCES = ("av_guard", "badmail_guard", "recipient", "sender")
DEFAULT_LANGUAGE = "en"
NULL_SENDERS = ("", "<>", "#@[]")
_LANGUAGE_TAG = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?")


class NoticeError(ValueError):
    """A notice cannot be rendered (unknown audience, broken template, unusable address)."""


@dataclass(frozen=True, slots=True)
class NoticeContext:
    """What a template may say about the incident; `guard` is the officer to ask."""

    outcome: str
    profile: str
    sender: str
    recipient: str
    subject: str
    message_id: str
    date: str
    criteria: Sequence[tuple[str, str]] = ()
    scanners: Sequence[tuple[str, str, Sequence[str]]] = ()
    actions: Sequence[str] = ()
    guard: str = ""
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
        """The context for a verdict: criteria with evidence, scanners with viruses, actions."""
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
            actions=tuple(" ".join((a.kind, *a.targets)) for a in verdict.actions),
            guard=guard,
            hostname=hostname or socket.gethostname(),
        )


def clean_text(text: str) -> str:
    """One printable line: whitespace controls become spaces, other controls U+FFFD.

    Surrogate escapes (bytes that were not UTF-8) become U+FFFD too, so the result encodes.
    """
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() else " " if char.isspace() else "\ufffd" for char in text
    )


def _cleaned(value: Any) -> Any:
    """Clean every string inside a context value, keeping its tuple/list shape."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list | tuple):
        return tuple(_cleaned(item) for item in value)
    return value


def language_for(
    sender: str, rules: Sequence[tuple[str, tuple[str, ...]]], default: str = DEFAULT_LANGUAGE
) -> str:
    """The sender's language by the longest domain suffix that matches (`.co.uk` over `.uk`).

    `rules` pairs a language with its suffixes, e.g. `("de", (".de", ".at", ".ch"))`; a
    suffix matches whole labels only, so `.de` matches `wdr.de` but not `wdr.fde`.
    """
    domain = "." + sender.rpartition("@")[2].strip().rstrip(".").lower()
    best_language, best_length = default, 0
    for language, suffixes in rules:
        for suffix in suffixes:
            dotted = "." + suffix.lower().lstrip(".")
            if domain.endswith(dotted) and len(dotted) > best_length:
                best_language, best_length = language, len(dotted)
    return best_language


@functools.lru_cache(maxsize=4)
def _environment(templates_dir: Path) -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def template_name(audience: str, language: str, templates_dir: Path = TEMPLATES_DIR) -> str:
    """`<lang>/<audience>.j2`, falling back to English when the language has no such template."""
    if audience not in AUDIENCES:
        raise NoticeError(f"unknown notice audience {audience!r}; expected one of {AUDIENCES}")
    if (
        _LANGUAGE_TAG.fullmatch(language)
        and (templates_dir / language / f"{audience}.j2").is_file()
    ):
        return f"{language}/{audience}.j2"
    return f"{DEFAULT_LANGUAGE}/{audience}.j2"


def _split_subject(rendered: str, name: str) -> tuple[str, str]:
    first_line, _, body = rendered.partition("\n")
    label, colon, subject = first_line.partition(":")
    if not colon or label.strip().lower() != "subject":
        raise NoticeError(f"{name}: the first line must be 'Subject: ...'")
    return clean_text(subject.strip()), body.lstrip("\n")


def _single_address(address: str, role: str) -> Any:
    from email.errors import HeaderParseError
    from email.headerregistry import Address

    try:
        return Address(addr_spec=clean_text(address).strip())
    except (HeaderParseError, IndexError, ValueError) as error:
        raise NoticeError(f"unusable {role} address {address!r}: {error}") from None


def render_notice(
    audience: str,
    language: str,
    ctx: NoticeContext,
    from_address: str,
    to_address: str,
    templates_dir: Path = TEMPLATES_DIR,
) -> bytes:
    """A complete RFC 5322 message (LF line ends) ready for `send_notice`."""
    import email.policy
    import email.utils
    from email.message import EmailMessage

    import jinja2

    name = template_name(audience, language, templates_dir)
    variables = {key: _cleaned(getattr(ctx, key)) for key in NoticeContext.__slots__}
    try:
        rendered = _environment(templates_dir).get_template(name).render(variables)
    except jinja2.TemplateError as error:
        raise NoticeError(f"{name}: {error}") from error
    subject, body = _split_subject(rendered, name)

    notice = EmailMessage(policy=email.policy.default)
    notice["From"] = _single_address(from_address, "From")
    notice["To"] = _single_address(to_address, "To")
    notice["Subject"] = subject
    notice["Date"] = email.utils.format_datetime(datetime.now().astimezone())
    notice["Message-ID"] = email.utils.make_msgid("qmvc", domain=clean_text(ctx.hostname) or None)
    notice["Auto-Submitted"] = "auto-generated"
    notice.set_content(body, charset="utf-8")
    return notice.as_bytes()


def is_null_sender(address: str) -> bool:
    """The null sender (and qmail's double-bounce `#@[]`): never answered, or mail loops."""
    return address.strip() in NULL_SENDERS


def send_notice(notice: bytes, to_address: str, injector: InjectorConfig, timeout: float) -> bool:
    """Send with the null envelope sender; a null `to_address` is skipped (returns False).

    Raises ForwardError like `forward`; the caller decides whether a lost notice defers.
    """
    if is_null_sender(to_address):
        return False
    forward(notice, "", [to_address], injector, timeout)
    return True
