"""The envelope: who sent the message and to whom, as qmail knows it (not as the headers claim)."""

from __future__ import annotations

from collections.abc import Mapping

from qmvc.record import Record

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
