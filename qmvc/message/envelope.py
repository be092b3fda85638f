"""The envelope: who sent the message and to whom, as qmail knows it (not as the headers claim).

A command that looks at a message qmail never delivered (explain, notice --preview) has no
envelope, so it assumes one from the headers, by the rules of `assume_envelope`, and says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from qmvc.record import Record

if TYPE_CHECKING:
    from email.message import Message

_NULL_SENDERS = frozenset(("", "<>", "#@[]"))
"""qmail writes the null sender as an empty SENDER; `<>` on a command line and qmail-send's
double-bounce address `#@[]` mean the same."""


def _bare(address: str | None) -> str:
    """An address without surrounding blanks or angle brackets; the null sender becomes ""."""
    text = (address or "").strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    return "" if text in _NULL_SENDERS else text


def _split(address: str) -> tuple[str, str]:
    """Local part and lower-cased domain, split at the last @ (local parts may quote an @)."""
    local, at, domain = address.rpartition("@")
    if not at:
        return address, ""
    return local, domain.lower()


class Envelope(Record):
    """The SMTP envelope of one delivery; `sender` is "" for the null sender (bounces)."""

    sender: str
    recipient: str
    local: str
    domain: str
    extension: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Envelope:
        """From qmail-local's environment; LOCAL and HOST win over what RECIPIENT would give,
        because for virtual domains they are what qmail delivered to."""
        recipient = _bare(environ.get("RECIPIENT"))
        local, domain = _split(recipient)
        return cls(
            sender=_bare(environ.get("SENDER")),
            recipient=recipient,
            local=environ.get("LOCAL") or local,
            domain=(environ.get("HOST") or domain).lower(),
            extension=environ.get("EXT", ""),
        )

    @classmethod
    def from_addresses(cls, sender: str | None, recipient: str | None) -> Envelope:
        """From command-line options (`explain --sender/--recipient`); "<>" is the null sender."""
        bare_recipient = _bare(recipient)
        local, domain = _split(bare_recipient)
        return cls(_bare(sender), bare_recipient, local, domain, "")


# ---- the envelope assumed from the headers, for a message qmail never delivered ----

SENDER_HEADERS = ("Return-Path", "Sender", "From")
"""Where the sender is read from, in this order: qmail's record of the envelope sender,
then who the message says sent it."""
RECIPIENT_HEADERS = ("Delivered-To", "To", "Cc")
"""Where the recipient is read from, in this order; qmail-local writes Delivered-To on top."""
HEAD_LIMIT = 65536
"""Bytes of the message read for these headers: any real header block fits."""
ADDRESS_LIMIT = 254
"""No SMTP server accepts a longer address (RFC 5321's path limit, without the brackets)."""

_ATOM = r"[^\s()<>\[\]:;@\\,.\"]+"
_PLAIN_ADDRESS = (
    rf'(?:{_ATOM}(?:\.{_ATOM})*|"(?:[^"\\\s]|\\\S)*")'  # local part: dot-atom or quoted
    r"@(?:[\w-]+(?:\.[\w-]+)*|\[[^\[\]\\\s]+\])"  # domain: names or an [address literal]
)


class EnvelopeAddress(Record):
    """One assumed envelope address and where it came from: "option" (the command line), the
    header it was read from, or "none". "" is the null sender, or no recipient."""

    address: str
    source: str


class AssumedEnvelope(Record):
    """The envelope assumed for a message, each address with its source."""

    sender: EnvelopeAddress
    recipient: EnvelopeAddress

    @property
    def envelope(self) -> Envelope:
        return Envelope.from_addresses(self.sender.address, self.recipient.address)


def assume_envelope(raw: bytes, sender: str | None, recipient: str | None) -> AssumedEnvelope:
    """The options when given ("<>" is the null sender); else the first address of the first
    of SENDER_HEADERS and of RECIPIENT_HEADERS that holds one, where only `Return-Path: <>`
    gives the null sender. No such header: the null sender, no recipient. Never raises."""
    head = _head(raw if sender is None or recipient is None else b"")
    return AssumedEnvelope(
        _option(sender) or _from_headers(head, SENDER_HEADERS),
        _option(recipient) or _from_headers(head, RECIPIENT_HEADERS),
    )


def header_addresses(value: str) -> list[str]:
    """The plain addresses of an address-list header value, in order. Display names (encoded
    words too), comments and group names are dropped; a mailbox that is not one plain
    local@domain address (garbage, an encoded word, undecodable bytes, a quote or bracket left
    open) is left out."""
    return [address for text, _ in _mailboxes(value) if (address := _plain(text))]


def _option(address: str | None) -> EnvelopeAddress | None:
    return None if address is None else EnvelopeAddress(_bare(address), "option")


def _head(raw: bytes) -> Message:
    """The header block; bytes that are not UTF-8 become U+FFFD, which no address accepts."""
    from email.parser import HeaderParser

    return HeaderParser().parsestr(raw[:HEAD_LIMIT].decode("utf-8", "replace"))


def _from_headers(head: Message, names: tuple[str, ...]) -> EnvelopeAddress:
    for name in names:
        for value in head.get_all(name, []):
            if name == "Return-Path" and _is_null_path(str(value)):
                return EnvelopeAddress("", name)
            found = header_addresses(str(value))
            if found:
                return EnvelopeAddress(found[0], name)
    return EnvelopeAddress("", "none")


def _is_null_path(value: str) -> bool:
    mailboxes = list(_mailboxes(value))
    return len(mailboxes) == 1 and mailboxes[0][1] and mailboxes[0][0] in _NULL_SENDERS


def _plain(text: str) -> str:
    """The text when it is one plain address, else ""."""
    plain = (
        len(text) <= ADDRESS_LIMIT
        and text.isprintable()
        and "=?" not in text
        and "\ufffd" not in text
        and re.fullmatch(_PLAIN_ADDRESS, text) is not None
    )
    return text if plain else ""


def _mailboxes(value: str) -> Iterator[tuple[str, bool]]:
    """Each mailbox of an address list as (its address text, whether it was written in <>),
    comments and display names dropped, quoted strings kept whole. A mailbox that cannot be
    read (a quote, comment or bracket left open, two <> in one) comes as ("", False)."""
    outside: list[str] = []  # a bare address, or the display name before <>
    inside: list[str] | None = None  # what <> held, once a < was seen
    broken = in_angle = in_quote = escaped = False
    comment_depth = 0
    for ch in value:
        target = inside if in_angle and inside is not None else outside
        if comment_depth:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch in "()":
                comment_depth += 1 if ch == "(" else -1
        elif in_quote:
            target.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_quote = False
        elif ch == '"':
            in_quote = True
            target.append(ch)
        elif ch == "(":
            comment_depth = 1
        elif ch == "<":
            broken = broken or inside is not None
            in_angle, inside = True, []
        elif ch == ">":
            broken = broken or not in_angle
            in_angle = False
        elif in_angle:
            target.append(ch)
        elif ch in ",;":
            yield _mailbox(outside, inside, broken)
            outside, inside, broken = [], None, False
        elif ch == ":":
            outside = []  # it was a group's name
        else:
            outside.append(ch)
    if inside is not None or broken or "".join(outside).strip():
        yield _mailbox(outside, inside, broken or in_angle or in_quote or comment_depth > 0)


def _mailbox(outside: list[str], inside: list[str] | None, broken: bool) -> tuple[str, bool]:
    if broken:
        return "", False
    if inside is None:
        return "".join(outside).strip(), False
    return "".join(inside).strip(), True
