"""The interface every engine offers the evaluator."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from qmvc.record import Record

ScanStatus = Literal["clean", "infected", "failed", "too-large"]


class ScanPart(Record):
    """One decoded part of a message; `name` is as the message gave it (unsafe until sanitised)."""

    name: str
    content: bytes


class ScanResult(Record):
    """What an engine said. Anything not clearly clean or infected is `failed`, never a guess."""

    status: ScanStatus
    viruses: tuple[str, ...] = ()
    seconds: float = 0.0
    detail: str = ""


class Scanner(Protocol):
    name: str
    wants_parts: bool  # False: the engine parses MIME itself and gets only the hidden parts

    def scan(self, message: bytes, parts: Sequence[ScanPart]) -> ScanResult:
        """Scan one message and `parts`: every decoded part when `wants_parts`, else only the
        files a MIME parser does not find (see MessageFacts.hidden_scan_parts). Never raises:
        every fault, timeout included, is a `failed` result."""
        ...
