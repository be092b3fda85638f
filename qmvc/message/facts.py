"""The facts rules test, computed from the raw message only when first asked and at most once.

A rule on the envelope never parses the message; a rule on headers parses only the header
block; body and attachment rules parse the whole tree once; libmagic is loaded only when a
sniffed type is asked for.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from qmvc.message.envelope import Envelope
from qmvc.record import Record
from qmvc.scanners.base import ScanPart

HEADERS_ALONE_ABOVE = 128 * 1024
"""Messages larger than this have their header block parsed alone for header facts."""

if TYPE_CHECKING:
    from email.message import Message

    from qmvc.message.mime import Leaf, MimeTree


class Attachment(Record):
    """A leaf of the message that is not its own text; content, size and sniffed type are
    decoded on first use."""

    filename: str
    declared_type: str
    path: str
    depth: int
    _leaf: Leaf

    @property
    def content(self) -> bytes:
        """The decoded bytes (transfer encoding undone)."""
        return self._leaf.content

    @cached_property
    def size(self) -> int:
        return len(self._leaf.content)

    @cached_property
    def sniffed_type(self) -> str:
        from qmvc.message.sniff import SNIFF_BYTES, sniff_type

        return sniff_type(self._leaf.head(SNIFF_BYTES))


class MessageFacts:
    """Lazy facts over one raw message and its envelope. Never raises on any input: what is
    wrong with the message is reported in `defects`."""

    def __init__(self, raw: bytes, envelope: Envelope) -> None:
        self.raw = raw
        self.envelope = envelope
        self.size = len(raw)
        self._header_values: dict[str, list[str]] = {}

    @cached_property
    def _tree(self) -> MimeTree:
        from qmvc.message.mime import analyse

        return analyse(self.raw)

    @cached_property
    def _headers(self) -> Message:
        """The header block alone for a large message (a header rule then never reads its body);
        a small one is parsed whole at once, since a later body rule would parse it again."""
        if "_tree" in self.__dict__ or self.size <= HEADERS_ALONE_ABOVE:
            return self._tree.root
        from qmvc.message.mime import parse_headers

        return parse_headers(self.raw)

    def header(self, name: str) -> list[str]:
        """Every value of the header `name` (any case), decoded as a person reads it."""
        key = name.lower()
        if key not in self._header_values:
            from qmvc.message.mime import decode_header_value

            values = self._headers.get_all(key, [])
            self._header_values[key] = [decode_header_value(str(value)) for value in values]
        return self._header_values[key]

    @cached_property
    def subject(self) -> str:
        return next(iter(self.header("subject")), "")

    @cached_property
    def message_id(self) -> str:
        return next(iter(self.header("message-id")), "")

    @cached_property
    def body_text(self) -> str:
        """Every inline text part (attached messages' too), decoded; HTML reduced to text."""
        return "\n".join(leaf.text() for leaf in self._tree.leaves if leaf.is_inline_text)

    @cached_property
    def attachments(self) -> list[Attachment]:
        """Every analysed leaf that is not the message's own inline text."""
        return [
            Attachment(leaf.filename, leaf.declared_type, leaf.path, leaf.depth, leaf)
            for leaf in self._tree.leaves
            if not leaf.is_body
        ]

    @cached_property
    def unanalysed(self) -> list[str]:
        """Why some content was never analysed (too many parts, too deep, unparsable MIME): a
        rule then cannot see all of the message. Each of these is also in `defects`."""
        return list(self._tree.unanalysed)

    @cached_property
    def defects(self) -> list[str]:
        """Faults of structure, of each leaf's decoding, NUL bytes; at most MAX_DEFECTS listed."""
        from qmvc.message.mime import MAX_DEFECTS

        found = list(self._tree.defects)
        for leaf in self._tree.leaves:
            found.extend(leaf.defects)
        if b"\0" in self.raw:
            found.append("message: contains NUL bytes")
        if len(found) > MAX_DEFECTS:
            found[MAX_DEFECTS:] = [f"message: {len(found) - MAX_DEFECTS} more defects not listed"]
        return found

    def scan_parts(self) -> list[ScanPart]:
        """Every analysed leaf decoded, for scanners that read files; names as the message gave."""
        return [ScanPart(leaf.filename, leaf.content) for leaf in self._tree.leaves]
