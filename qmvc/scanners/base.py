"""The interface every engine offers the evaluator."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol

from qmvc.record import Record

ScanStatus = Literal["clean", "infected", "failed", "too-large"]


class ScanPart(Record):
    """One decoded part of a message; `name` is as the message gave it (unsafe until sanitised).
    `location` is where a person finds it, containers first (`forwarded.eml › invoice.zip`);
    "" when it is no file a client shows (the message's own text)."""

    name: str
    content: bytes
    location: str = ""


class ScanResult(Record):
    """What an engine said. Anything not clearly clean or infected is `failed`, never a guess.
    `locations` pairs a virus with the location of the part it was found in, for the viruses
    whose part is known (a virus may have none, or several)."""

    status: ScanStatus
    viruses: tuple[str, ...] = ()
    seconds: float = 0.0
    detail: str = ""
    locations: tuple[tuple[str, str], ...] = ()
    cached: bool = False
    """True when the verdict came from the verdict cache, not from the engine."""


AttachmentParts = Callable[[], Sequence[ScanPart]]
"""Every attachment decoded, each with its location (see MessageFacts.attachment_scan_parts)."""


def no_attachments() -> Sequence[ScanPart]:
    return ()


class Scanner(Protocol):
    name: str
    wants_parts: bool  # False: the engine parses MIME itself and gets only the hidden parts

    def scan(
        self,
        message: bytes,
        parts: Sequence[ScanPart],
        attachments: AttachmentParts = no_attachments,
    ) -> ScanResult:
        """Scan one message and `parts`: every decoded part when `wants_parts`, else only the
        files a MIME parser does not find (see MessageFacts.hidden_scan_parts). An engine that
        found a virus in the message as a whole may call `attachments` to say which attachment
        held it; only then, so a clean message costs nothing more. Never raises: every fault,
        timeout included, is a `failed` result."""
        ...
