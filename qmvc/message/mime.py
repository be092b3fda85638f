"""The MIME tree of a message: parsed with limits, leaves named and decoded, faults kept as defects.

Everything here accepts hostile input: it records what is wrong and carries on, because a
message that breaks the analysis must still be judged (and a broken one is itself a fact).
"""

from __future__ import annotations

import binascii
import re
from email import errors
from email._policybase import Compat32
from email.message import Message
from email.parser import Parser
from functools import cached_property
from typing import cast

from qmvc.message.text import decode_bytes, html_to_text, repair_8bit
from qmvc.record import Record

MAX_DEPTH = 20
"""Containers (multiparts and attached messages) deeper than this are not descended."""
MAX_PARTS = 1000
"""Parts analysed per message; the rest are left out, with a defect."""
MAX_DEFECTS = 100
"""Defects listed per message; a message with thousands says nothing more with all of them."""
PARAM_HEADER_LIMIT = 16_384
"""Content-Type and Content-Disposition are cut to this length: the stdlib's parameter parser is
quadratic in theirs (a 1 MB header costs it about 13 s), real ones are far shorter."""

_FEED_CHUNK = 1 << 16
_PARAM_HEADERS = frozenset(("content-type", "content-disposition"))
_BODY_TYPES = frozenset(("text/plain", "text/html"))
_UUENCODINGS = frozenset(("x-uuencode", "uuencode", "uue", "x-uue"))
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=\s]")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_LINE_BREAKS = str.maketrans({"\r": " ", "\n": " ", "\0": None})
_CONTROLS = dict.fromkeys([*range(0x20), 0x7F])

_DEFECT_TEXT: dict[type[errors.MessageDefect], str] = {
    errors.NoBoundaryInMultipartDefect: "multipart without a boundary parameter",
    errors.StartBoundaryNotFoundDefect: "multipart boundary never appears in the body",
    errors.CloseBoundaryNotFoundDefect: "multipart not terminated (closing boundary missing)",
    errors.FirstHeaderLineIsContinuationDefect: "first header line is a continuation line",
    errors.MisplacedEnvelopeHeaderDefect: "envelope 'From ' line among the headers",
    errors.MissingHeaderBodySeparatorDefect: "a header line without a colon",
    errors.MultipartInvariantViolationDefect: "declared multipart but holds no parts",
    errors.InvalidMultipartContentTransferEncodingDefect: "multipart with a base64 or QP encoding",
}


class _LenientPolicy(Compat32):
    """compat32 (4x faster than the modern policy) as qmvc reads headers: 8-bit bytes decoded as
    UTF-8, else cp1252, instead of becoming U+FFFD; parameter headers cut to PARAM_HEADER_LIMIT."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        if len(value) > PARAM_HEADER_LIMIT and name.lower() in _PARAM_HEADERS:
            value = value[:PARAM_HEADER_LIMIT]
        return repair_8bit(value)


_POLICY = _LenientPolicy()


class Part(Message):
    """A parsed part that can give its payload exactly as parsed: get_payload() re-decodes 8-bit
    text with the declared charset: bytes lost for unknown charsets, exceptions for some (idna)."""

    def raw_payload(self) -> str | list[Message] | None:
        payload: str | list[Message] | None = vars(self)["_payload"]
        return payload


class _SlicedText:
    """The raw message as the str file the parser reads, decoded one slice at a time: parsing
    bytes the usual way makes a full str copy and then a 4-bytes-per-character buffer of it."""

    def __init__(self, raw: bytes) -> None:
        self._view = memoryview(raw)
        self._position = 0

    def read(self, size: int = _FEED_CHUNK) -> str:
        start, self._position = self._position, self._position + max(size, _FEED_CHUNK)
        return str(self._view[start : self._position], "ascii", "surrogateescape")


def _parse(raw: bytes, headers_only: bool) -> Part:
    root = Parser(Part, policy=_POLICY).parse(_SlicedText(raw), headersonly=headers_only)
    return cast(Part, root)


def header_block(raw: bytes) -> bytes:
    """The header section up to and including the first empty line (all of it if there is none)."""
    if raw.startswith((b"\n", b"\r\n")):
        return b""
    ends = [found for found in (raw.find(b"\n\n"), raw.find(b"\n\r\n")) if found >= 0]
    return raw[: min(ends) + 1] if ends else raw


def parse_headers(raw: bytes) -> Part:
    """Only the headers, for rules that test nothing else: a 50 MB body is not read."""
    return _parse(header_block(raw), headers_only=True)


def decode_header_value(value: str) -> str:
    """A header as a person reads it: unfolded, RFC 2047 words decoded (broken words kept as
    written), line breaks turned into spaces and NULs dropped, so it is safe in one log line."""
    return decode_words(_FOLD.sub("", value)).translate(_LINE_BREAKS).strip()


def decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words. Blanks between two words go; adjacent words with the same
    charset are joined as bytes before decoding, because clients split characters across them."""
    segments: list[str | tuple[str, bytearray]] = []
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        gap, position = text[position : match.start()], match.end()
        charset, encoding, encoded = match.groups()
        data = _word_bytes(encoding, encoded)
        if data is None:
            segments.append(gap + match.group(0))
            continue
        previous = segments[-1] if segments else None
        if not isinstance(previous, tuple) or gap.strip():
            segments.append(gap)
        elif previous[0] == charset.lower():
            previous[1].extend(data)
            continue
        segments.append((charset.lower(), bytearray(data)))
    segments.append(text[position:])
    return "".join(
        segment if isinstance(segment, str) else decode_bytes(bytes(segment[1]), segment[0])
        for segment in segments
    )


def _word_bytes(encoding: str, encoded: str) -> bytes | None:
    """The bytes of one encoded word, or None when it is not valid (it is then kept as written)."""
    try:
        if encoding in "bB":
            return binascii.a2b_base64(encoded + "=" * (-len(encoded) % 4), strict_mode=True)
        return binascii.a2b_qp(encoded, header=True)
    except (binascii.Error, ValueError):
        return None


def filename_of(part: Message) -> str:
    """The attachment's name as a person reads it: Content-Disposition filename, else Content-Type
    name; RFC 2231 and RFC 2047 decoded; control characters removed (names reach logs)."""
    raw = part.get_param("filename", None, "content-disposition") or part.get_param(
        "name", None, "content-type"
    )
    if not raw:
        return ""
    if isinstance(raw, tuple):
        charset, _language, text = raw
        name = decode_bytes(text.encode("raw-unicode-escape"), charset)
    else:
        name = raw
    if "=?" in name:
        name = decode_words(name)
    return name.translate(_CONTROLS).strip()


_BASE64_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \t\r\n\x0b\x0c"


def _outside_base64(text: str) -> bool:
    """Whether any character is outside the alphabet: bytes.translate runs eight times faster
    than a regex search over a large attachment, which every sniffed attachment needs."""
    try:
        return bool(text.encode("ascii").translate(None, _BASE64_BYTES))
    except UnicodeEncodeError:
        return True


def _decode_base64(text: str) -> tuple[bytes, list[str]]:
    """Decode leniently as mail clients do, noting invalid characters and bad length as defects."""
    defects = []
    if _outside_base64(text):
        defects.append("invalid base64 (characters outside the alphabet)")
        text = _NOT_BASE64.sub("", text)
    try:
        return binascii.a2b_base64(text), defects
    except binascii.Error:
        defects.append("invalid base64 (truncated or badly padded)")
        letters = "".join(text.split()).replace("=", "")
        if len(letters) % 4 == 1:
            letters = letters[:-1]
        return binascii.a2b_base64(letters + "=" * (-len(letters) % 4)), defects


def decode_content(part: Part) -> tuple[bytes, list[str]]:
    """A leaf's content with its transfer encoding undone, and what was wrong with it."""
    payload = part.raw_payload()
    if isinstance(payload, list):
        return _header_blocks_text(payload).encode("utf-8"), []
    if payload is None:
        return b"", []
    encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
    if encoding == "base64":
        return _decode_base64(payload)
    raw = payload.encode("ascii", "surrogateescape")
    if encoding == "quoted-printable":
        return binascii.a2b_qp(raw), []
    if encoding in _UUENCODINGS:
        decoded = part.get_payload(decode=True)
        return (decoded if isinstance(decoded, bytes) else raw), []
    return raw, []


def _header_blocks_text(blocks: list[Message]) -> str:
    """message/delivery-status arrives as blocks of headers; its content is their text."""
    return "\n\n".join(
        "\n".join(f"{name}: {value}" for name, value in block.raw_items()) for block in blocks
    )


class Leaf(Record):
    """One leaf of the MIME tree, decoded at most once and only when asked."""

    part: Part
    path: str
    depth: int
    in_attached_message: bool

    @cached_property
    def declared_type(self) -> str:
        return self.part.get_content_type()

    @cached_property
    def filename(self) -> str:
        return filename_of(self.part)

    @cached_property
    def is_inline_text(self) -> bool:
        """Text to be read in place: text/plain or text/html, not marked attachment, unnamed."""
        disposition = str(self.part.get("content-disposition", "")).split(";", 1)[0]
        return (
            self.declared_type in _BODY_TYPES
            and disposition.strip().lower() != "attachment"
            and not self.filename
        )

    @property
    def is_body(self) -> bool:
        """Part of the message's own text; inline text of an attached message is an attachment."""
        return self.is_inline_text and not self.in_attached_message

    @cached_property
    def _decoded(self) -> tuple[bytes, list[str]]:
        return decode_content(self.part)

    @property
    def content(self) -> bytes:
        return self._decoded[0]

    def head(self, size: int) -> bytes:
        """The first `size` decoded bytes. A base64 part not yet decoded is decoded only that
        far: sniffing a 50 MB attachment needs its first kilobytes, not all of it."""
        if "_decoded" in self.__dict__:
            return self.content[:size]
        payload = self.part.raw_payload()
        encoding = str(self.part.get("content-transfer-encoding", "")).strip().lower()
        if encoding != "base64" or not isinstance(payload, str) or len(payload) <= size * 2:
            return self.content[:size]
        letters = "".join(payload[: size * 2].split())
        try:
            head = binascii.a2b_base64(letters[: len(letters) - len(letters) % 4])
        except binascii.Error:
            head = b""
        # Short means junk in the head: the lenient full decode knows what to make of it.
        return head[:size] if len(head) >= size else self.content[:size]

    @property
    def defects(self) -> list[str]:
        return [f"part {self.path}: {defect}" for defect in self._decoded[1]]

    def text(self) -> str:
        """The content as text in its declared charset (with fallbacks); HTML reduced to words."""
        text = decode_bytes(self.content, self.part.get_content_charset())
        return html_to_text(text) if self.declared_type == "text/html" else text


class MimeTree(Record):
    """The analysed leaves in document order, and what was wrong with the structure."""

    root: Part
    leaves: list[Leaf]
    defects: list[str]
    unanalysed: list[str]  # the defects that mean some content was never looked at


def analyse(raw: bytes) -> MimeTree:
    """Parse and walk the message. Never raises: the stdlib parser is not hardened against every
    input (deep nesting exhausts the stack), so a failure keeps the headers and one opaque body."""
    unanalysed: list[str] = []
    try:
        root = _parse(raw, headers_only=False)
    except Exception as error:
        root = _parse(raw, headers_only=True)
        unanalysed.append(f"message: not parsable as MIME ({type(error).__name__})")
    defects: list[str] = []
    leaves = _walk(root, defects, unanalysed)
    return MimeTree(root, leaves, unanalysed + defects, unanalysed)


def _walk(root: Part, defects: list[str], unanalysed: list[str]) -> list[Leaf]:
    """Leaves in document order, numbered as IMAP does: children of a multipart at p are p.1, p.2,
    ...; an attached message takes its part's number; a message that is not multipart has its body
    (a leaf or an attached message) at .1. Stops descending at MAX_DEPTH and counting at MAX_PARTS,
    noting each as a defect."""
    leaves: list[Leaf] = []
    # part, path, depth, is the root of a (possibly attached) message, is inside an attached message
    stack: list[tuple[Part, str, int, bool, bool]] = [(root, "", 0, True, False)]
    visited = 0
    while stack:
        part, path, depth, is_message_root, attached = stack.pop()
        visited += 1
        if visited > MAX_PARTS:
            unanalysed.append(f"message: more than {MAX_PARTS} parts; the rest were not analysed")
            break
        where = f"part {path}" if path else "message"
        defects.extend(f"{where}: {_describe(defect)}" for defect in part.defects)
        payload = part.raw_payload()
        if not isinstance(payload, list) or part.get_content_type() == "message/delivery-status":
            leaf_path = _child(path, 1) if is_message_root else path
            leaves.append(Leaf(part, leaf_path, depth, attached))
            continue
        if depth >= MAX_DEPTH:
            unanalysed.append(
                f"{where}: nested deeper than {MAX_DEPTH} levels; inner parts not analysed"
            )
            continue
        children = [child for child in payload if isinstance(child, Part)]
        if part.get_content_maintype() == "message":
            inner_path = _child(path, 1) if is_message_root else path
            stack.extend((inner, inner_path, depth + 1, True, True) for inner in reversed(children))
        else:
            stack.extend(
                (child, _child(path, number), depth + 1, False, attached)
                for number, child in reversed(list(enumerate(children, 1)))
            )
    return leaves


def _child(path: str, number: int) -> str:
    return f"{path}.{number}" if path else str(number)


def _describe(defect: errors.MessageDefect) -> str:
    """A parser defect in words; the rare ones by their class's own description."""
    known = _DEFECT_TEXT.get(type(defect))
    if known:
        return known
    doc = (type(defect).__doc__ or type(defect).__name__).strip()
    return doc.splitlines()[0].rstrip(".")
