"""The MIME tree of a message: entities found by their boundaries, leaves named and decoded lazily.

qmvc splits the raw bytes itself rather than through the stdlib parser, for three reasons the
stdlib cannot serve: its line-by-line body collection costs ~40 bytes per line (20 MB of short
lines took 800 MB), it raises on real mail (8-bit bytes in delivery reports, broken RFC 2231),
and its header reading is stricter than mail clients' (see `headers`). A leaf here is a range of
the raw message; nothing is copied or decoded until a rule asks. Everything accepts hostile
input: what is wrong is recorded and the walk carries on.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from functools import cached_property

from qmvc.message.headers import (
    Headers,
    first_item,
    parameter,
    read_header_block,
)
from qmvc.message.names import NameCandidate, candidates, part_names
from qmvc.message.text import decode_bytes, decode_words, html_to_text
from qmvc.record import Record

MAX_DEPTH = 20
"""Containers (multiparts and attached messages) deeper than this are not descended."""
MAX_PARTS = 1000
"""Entities analysed per message; the rest are left out, with a defect."""
MAX_DEFECTS = 100
"""Defects listed per message; a message with thousands says nothing more with all of them."""

_BODY_TYPES = frozenset(("text/plain", "text/html", "message/delivery-status"))
"""Read in place: a bounce's delivery report is text its reader sees, not a file."""
_MESSAGE_TYPES = frozenset(("message/rfc822", "message/global", "message/news"))
_DECODED_MESSAGE_ENCODINGS = frozenset(("base64", "quoted-printable"))
UUENCODINGS = frozenset(("x-uuencode", "uuencode", "uue", "x-uue"))
_TYPE = re.compile(r"^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$")
_NOT_AN_ESCAPE = re.compile(rb"=(?![0-9A-Fa-f]{2}|[ \t]*\r?\n|[ \t]*$)")
_PADDED_SOFT_BREAK = re.compile(rb"=[ \t]+(\r?\n)")
_COMMENT = re.compile(r"\([^()]*\)")
_LONE_CR = re.compile(rb"\r(?!\n)")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_LINE_BREAKS = str.maketrans({"\r": " ", "\n": " ", "\0": None})
_BASE64_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \t\r\n\x0b\x0c"
_BINARY_MAGIC = (
    b"MZ",
    b"\x7fELF",
    b"PK\x03\x04",
    b"Rar!",
    b"7z\xbc\xaf",
    b"\x1f\x8b",
    b"\xd0\xcf\x11\xe0",
    b"\xca\xfe\xba\xbe",
    b"\xcf\xfa\xed\xfe",
    b"MSCF",
    b"#!",
    b"{\\rtf",
    b"%PDF-",
)
"""Heads of content that is not text whatever its declared type says: programs, archives,
scripts with an interpreter line, documents with macros."""


def decode_header_value(value: str) -> str:
    """A header as a person reads it: unfolded, RFC 2047 words decoded (broken words kept as
    written), line breaks turned into spaces and NULs dropped, so it is safe in one log line."""
    return decode_words(_FOLD.sub("", value)).translate(_LINE_BREAKS).strip()


def parse_headers(raw: bytes) -> Headers:
    """Only the headers, for rules that test nothing else: a 50 MB body is not read."""
    return read_header_block(raw, 0, len(raw), may_have_unix_from=True).headers


class Leaf(Record):
    """One leaf of the MIME tree: its headers and the range of `buffer` that is its body.
    `buffer` is the raw message, or a decoded attached message that was itself encoded."""

    headers: Headers
    buffer: bytes
    start: int
    end: int
    declared_type: str
    path: str
    depth: int
    in_attached_message: bool

    @cached_property
    def failures(self) -> list[str]:
        """What of this leaf could not be analysed; the message is then `exceeds limits`."""
        return []

    @cached_property
    def names(self) -> list[NameCandidate]:
        try:
            return part_names(self.headers) + self._uuencoded_name()
        except Exception as error:  # a bug must not decide a delivery: the policy does
            self.failures.append(f"part {self.path}: names not readable ({type(error).__name__})")
            return []

    @cached_property
    def filename(self) -> str:
        return self.names[0].name if self.names else ""

    def _uuencoded_name(self) -> list[NameCandidate]:
        """A part sent in x-uuencode is also named by its `begin 644 NAME` line, which is what
        uudecoding clients save it as."""
        if self.transfer_encoding not in UUENCODINGS:
            return []
        from qmvc.message.containers.embedded import embedded_files

        files, _defects = embedded_files(self.buffer[self.start : self.end])
        return candidates([(files[0].name, "uuencode begin line")]) if files else []

    @cached_property
    def transfer_encoding(self) -> str:
        """The encoding's name as clients read it: comments and anything after the first word
        ignored (`base64 (encoded)` is base64), an `x-` variant of base64 or QP taken for it."""
        value = _COMMENT.sub(" ", str(self.headers.get("content-transfer-encoding", "")))
        words = value.replace(";", " ").lower().split()
        word = words[0] if words else ""
        for known in ("base64", "quoted-printable"):
            if known in word:
                return known
        return word

    @cached_property
    def is_inline_text(self) -> bool:
        """Text to be read in place: text/plain or text/html, not marked attachment, not named
        (a Content-Location names HTML bodies too), not a program or archive labelled text."""
        disposition = first_item(str(self.headers.get("content-disposition", "")))
        return (
            self.declared_type in _BODY_TYPES
            and disposition != "attachment"
            and all(candidate.source == "Content-Location" for candidate in self.names)
            and not looks_binary(self.head(512))
        )

    @property
    def is_body(self) -> bool:
        """Part of the message's own text; inline text of an attached message is an attachment."""
        return self.is_inline_text and not self.in_attached_message

    @property
    def raw_body(self) -> bytes:
        """The body as sent, transfer encoding not undone."""
        return self.buffer[self.start : self.end]

    @cached_property
    def _decoded(self) -> tuple[bytes, list[str]]:
        try:
            return decode_content(self.buffer, self.start, self.end, self.transfer_encoding)
        except Exception as error:  # a bug must not decide a delivery: the policy does
            self.failures.append(f"part {self.path}: not decodable ({type(error).__name__})")
            return self.buffer[self.start : self.end], []

    @property
    def content(self) -> bytes:
        """The decoded bytes (transfer encoding undone)."""
        return self._decoded[0]

    def head(self, size: int) -> bytes:
        """The first `size` decoded bytes. A large part not yet decoded is decoded only that far:
        sniffing a 50 MB attachment needs its first kilobytes, not all of it."""
        if "_decoded" in self.__dict__ or self.end - self.start <= size * 2:
            return self.content[:size]
        if self.transfer_encoding == "base64":
            letters = b"".join(self.buffer[self.start : self.start + size * 2].split())
            try:
                head = binascii.a2b_base64(letters[: len(letters) - len(letters) % 4])
            except binascii.Error:
                head = b""
            # Short means junk in the head: the lenient full decode knows what to make of it.
            return head[:size] if len(head) >= size else self.content[:size]
        if self.transfer_encoding in ("", "7bit", "8bit", "binary"):
            return self.buffer[self.start : self.start + size]
        return self.content[:size]

    @property
    def defects(self) -> list[str]:
        return [f"part {self.path}: {defect}" for defect in self._decoded[1]]

    def text(self) -> str:
        """The content as text in its declared charset (with fallbacks); HTML reduced to words."""
        charset = parameter(str(self.headers.get("content-type", "")), "charset")
        text = decode_bytes(self.content, charset)
        if self.declared_type != "text/html":
            return text
        try:
            return html_to_text(text)
        except Exception as error:  # the words are still there, with their tags
            self.failures.append(f"part {self.path}: HTML not readable ({type(error).__name__})")
            return text


def looks_binary(head: bytes) -> bool:
    """Whether content declared as text is a program, an archive or other binary data."""
    return head.startswith(_BINARY_MAGIC) or head.count(0) > len(head) // 16


class MimeTree(Record):
    """The analysed leaves in document order, and what was wrong with the structure."""

    root: Headers
    leaves: list[Leaf]
    defects: list[str]
    unanalysed: list[str]  # the defects that mean some content was never looked at


class _Entity(Record):
    buffer: bytes
    start: int
    end: int
    path: str
    depth: int
    is_message_root: bool
    attached: bool
    default_type: str


def analyse(raw: bytes) -> MimeTree:
    """Split and walk the message. Never raises: should the walk itself fail, the message keeps
    its headers, is one opaque leaf, and says that it was not analysed."""
    raw = clients_line_ends(raw)
    try:
        return _Walk(raw).run()
    except Exception as error:
        headers = parse_headers(raw)
        leaf = Leaf(headers, raw, 0, len(raw), "application/octet-stream", "1", 0, False)
        unanalysed = [f"message: not analysable as MIME ({type(error).__name__})"]
        return MimeTree(headers, [leaf], unanalysed, unanalysed)


def clients_line_ends(raw: bytes) -> bytes:
    """The message with each lone CR made a LF: clients (and the stdlib) end a line there too,
    so a header after one is a header. The same bytes object when there is none."""
    if b"\r" not in raw or raw.count(b"\r") == raw.count(b"\r\n"):  # 25x a regex search
        return raw
    return _LONE_CR.sub(b"\n", raw)


class _Walk:
    """Entities in document order, numbered as IMAP does: children of a multipart at p are p.1,
    p.2, ...; an attached message takes its part's number; a message that is not multipart has
    its body at .1. Stops descending at MAX_DEPTH and counting at MAX_PARTS."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.leaves: list[Leaf] = []
        self.defects: list[str] = []
        self.unanalysed: list[str] = []

    def run(self) -> MimeTree:
        root: Headers | None = None
        stack = [_Entity(self.raw, 0, len(self.raw), "", 0, True, False, "text/plain")]
        visited = 0
        while stack:
            entity = stack.pop()
            visited += 1
            if visited > MAX_PARTS:
                self.unanalysed.append(
                    f"message: more than {MAX_PARTS} parts; the rest were not analysed"
                )
                break
            children, headers = self._visit(entity)
            root = root or headers
            stack.extend(reversed(children))
        return MimeTree(
            root or Headers(), self.leaves, self.unanalysed + self.defects, self.unanalysed
        )

    def _visit(self, entity: _Entity) -> tuple[list[_Entity], Headers]:
        where = f"part {entity.path}" if entity.path else "message"
        block = read_header_block(
            entity.buffer, entity.start, entity.end, may_have_unix_from=entity.depth == 0
        )
        headers = block.headers
        self.defects.extend(f"{where}: {defect}" for defect in block.defects)
        self.unanalysed.extend(f"{where}: {reason}" for reason in block.unanalysed)
        content_type, type_header = _content_type(headers, entity.default_type, self.defects, where)
        body_start = block.body_start
        leaf_path = f"{entity.path}.1".lstrip(".") if entity.is_message_root else entity.path
        is_container = content_type.startswith("multipart/") or content_type in _MESSAGE_TYPES
        if is_container and entity.depth >= MAX_DEPTH:
            self.unanalysed.append(
                f"{where}: nested deeper than {MAX_DEPTH} levels; inner parts not analysed"
            )
            return [], headers
        if content_type.startswith("multipart/"):
            bodies = self._parts(entity, body_start, type_header, where)
            if bodies is not None:
                default = "message/rfc822" if content_type == "multipart/digest" else "text/plain"
                return [
                    _Entity(
                        entity.buffer,
                        start,
                        end,
                        f"{entity.path}.{number}".lstrip("."),
                        entity.depth + 1,
                        False,
                        entity.attached,
                        default,
                    )
                    for number, (start, end) in enumerate(bodies, 1)
                ], headers
        elif content_type in _MESSAGE_TYPES:
            leaf = self._leaf(entity, headers, body_start, content_type, leaf_path)
            if leaf.names or leaf.transfer_encoding in _DECODED_MESSAGE_ENCODINGS:
                self.leaves.append(leaf)  # a client shows it as a file: name or encoding says so
            buffer, start, end = _message_body(leaf, self.defects, where)
            return [
                _Entity(buffer, start, end, leaf_path, entity.depth + 1, True, True, "text/plain")
            ], headers
        self.leaves.append(self._leaf(entity, headers, body_start, content_type, leaf_path))
        return [], headers

    def _leaf(
        self, entity: _Entity, headers: Headers, start: int, content_type: str, path: str
    ) -> Leaf:
        start = min(start, entity.end)
        return Leaf(
            headers,
            entity.buffer,
            start,
            entity.end,
            content_type,
            path,
            entity.depth,
            entity.attached,
        )

    def _parts(
        self, entity: _Entity, body_start: int, type_header: str, where: str
    ) -> list[tuple[int, int]] | None:
        """The body ranges of a multipart's parts; None (with the reason noted) when none can be
        found, so the multipart is analysed as one opaque leaf."""
        buffer, end = entity.buffer, entity.end
        boundary = (parameter(type_header, "boundary") or "").rstrip()  # `X ` ends `--X --`
        if not boundary:
            self.defects.append(f"{where}: multipart without a boundary parameter")
        bodies = _split(buffer, body_start, end, boundary) if boundary else None
        if bodies is None and boundary:
            self.defects.append(f"{where}: multipart boundary never appears in the body")
        if bodies is None:
            guessed = _guess_boundary(buffer, body_start, end)
            bodies = _split(buffer, body_start, end, guessed) if guessed else None
            if bodies is None:
                self.unanalysed.append(f"{where}: multipart whose parts cannot be found")
                return None
            self.defects.append(f"{where}: parts found by the boundary the body uses")
        parts, terminated = bodies
        if not terminated:
            self.defects.append(f"{where}: multipart not terminated (closing boundary missing)")
        if not parts:
            self.defects.append(f"{where}: declared multipart but holds no parts")
        return parts


def _content_type(
    headers: Headers, default: str, defects: list[str], where: str
) -> tuple[str, str]:
    """The content type and the header it came from. Of several Content-Type headers the one
    showing most structure wins (multipart, then message, then the first): a client that picks
    another sees less, never more."""
    declared = [
        (first_item(str(value)), str(value)) for value in headers.get_all("content-type", [])
    ]
    valid = [(kind, value) for kind, value in declared if _TYPE.match(kind)]
    if len(declared) > 1:
        defects.append(f"{where}: {len(declared)} Content-Type headers")
    if declared and not valid:
        defects.append(f"{where}: invalid Content-Type {declared[0][0][:40]!r}")
    if not valid:
        return default, ""
    for prefix in ("multipart/", "message/"):
        for kind, value in valid:
            if kind.startswith(prefix):
                return kind, value
    return valid[0]


def _split(
    buffer: bytes, start: int, end: int, boundary: str
) -> tuple[list[tuple[int, int]], bool] | None:
    """The parts between `--boundary` lines (blanks may follow a delimiter, RFC 2046 5.1.1) and
    whether a closing `--boundary--` ends them; None when no delimiter is there at all."""
    parts: list[tuple[int, int]] = []
    part_start = -1
    for line_start, line_end, closing in _delimiters(buffer, start, end, boundary):
        if part_start >= 0:
            parts.append((part_start, _before_line_break(buffer, part_start, line_start)))
        if closing:
            return parts, True
        part_start = line_end
    if part_start < 0:
        return None
    parts.append((part_start, end))
    return parts, False


def _delimiters(
    buffer: bytes, start: int, end: int, boundary: str
) -> Iterator[tuple[int, int, bool]]:
    """(start, end past its line break, is closing) of each delimiter line. bytes.find, not a
    MULTILINE regex: `^` makes the regex engine try every position of a large body."""
    needle = b"--" + boundary.rstrip().encode("utf-8", "surrogateescape")
    found = buffer.find(needle, start, end)
    while found >= 0:
        line_end = buffer.find(b"\n", found, end)
        line_end = end if line_end < 0 else line_end + 1
        if found == start or buffer[found - 1] == 0x0A:
            rest = buffer[found + len(needle) : line_end].lstrip(b" \t")
            closing = rest.startswith(b"--")
            if not (rest[2:] if closing else rest).strip(b" \t\r\n"):
                yield found, line_end, closing
        found = buffer.find(needle, line_end, end)


def _before_line_break(buffer: bytes, start: int, delimiter_start: int) -> int:
    """The end of a part: the line break before its delimiter belongs to the delimiter."""
    end = delimiter_start
    if end > start and buffer[end - 1] == 0x0A:
        end -= 1
        if end > start and buffer[end - 1] == 0x0D:
            end -= 1
    return end


_DASH_LINE = re.compile(rb"^--([!-~][ -~]{0,69}?)[ \t]*\r?$", re.MULTILINE)


def _guess_boundary(buffer: bytes, start: int, end: int) -> str:
    """The boundary the body itself uses when the declared one is missing or wrong: the first
    `--token` line that recurs, which is what a forgiving client finds."""
    first = _DASH_LINE.search(buffer, start, min(end, start + 65536))
    if not first:
        return ""
    token = first.group(1)
    if token.endswith(b"--"):
        token = token[:-2]
    recurs = buffer.find(b"\n--" + token, first.end(), end) >= 0
    return token.decode("ascii", "replace") if token and recurs else ""


def _message_body(leaf: Leaf, defects: list[str], where: str) -> tuple[bytes, int, int]:
    """The attached message's bytes: in place, or decoded when (against RFC 2046) it was sent in
    base64 or quoted-printable, which clients decode before showing it."""
    if leaf.transfer_encoding in _DECODED_MESSAGE_ENCODINGS:
        defects.append(f"{where}: attached message in {leaf.transfer_encoding}")
        content = leaf.content
        return content, 0, len(content)
    return leaf.buffer, leaf.start, leaf.end


def _outside_base64(data: bytes) -> bool:
    """Whether any byte is outside the alphabet: bytes.translate runs eight times faster than a
    regex search over a large attachment."""
    return bool(data.translate(None, _BASE64_BYTES))


def decode_base64(data: bytes) -> tuple[bytes, list[str]]:
    """Decode leniently as mail clients do (bytes outside the alphabet skipped), noting invalid
    characters and bad length as defects."""
    defects = []
    if _outside_base64(data):
        defects.append("invalid base64 (characters outside the alphabet)")
        data = data.translate(None, bytes(set(range(256)) - set(_BASE64_BYTES)))
    try:
        return binascii.a2b_base64(data), defects
    except binascii.Error:
        defects.append("invalid base64 (truncated or badly padded)")
        letters = b"".join(data.split()).replace(b"=", b"")
        if len(letters) % 4 == 1:
            letters = letters[:-1]
        return binascii.a2b_base64(letters + b"=" * (-len(letters) % 4)), defects


def decode_quoted_printable(data: bytes) -> bytes:
    """Quoted-printable as clients decode it: an `=` that starts no escape and no soft line
    break stays as it is (RFC 2045 6.7, Thunderbird), where binascii would drop or eat it."""
    if b"=" in data and _NOT_AN_ESCAPE.search(data):
        data = _NOT_AN_ESCAPE.sub(b"=3D", data)
    if b"= " in data or b"=\t" in data:  # blanks a gateway added before a soft line break
        data = _PADDED_SOFT_BREAK.sub(b"=\\1", data)
    return binascii.a2b_qp(data)


def decode_content(buffer: bytes, start: int, end: int, encoding: str) -> tuple[bytes, list[str]]:
    """A leaf's content with its transfer encoding undone, and what was wrong with it."""
    raw = buffer[start:end]
    if encoding == "base64":
        return decode_base64(raw)
    if encoding == "quoted-printable":
        return decode_quoted_printable(raw), []
    if encoding in UUENCODINGS:
        from qmvc.message.containers.embedded import embedded_files

        files, defects = embedded_files(raw)
        return (files[0].content if files else raw), defects
    return raw, []
