"""Files a mail client or a user would get out of a leaf's decoded content.

Three kinds of container, each read by pure functions over bytes that never raise: uuencode
and yEnc blocks inside a text body (shown as attachments by Outlook Express and newsreaders),
the attachments of a TNEF body (winmail.dat), and the members of an archive. libarchive is
imported only when an archive is met, so delivering clean mail does not pay for it. Names are
returned as the container gives them; `names.py` normalises them.
"""

from __future__ import annotations

import binascii
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from functools import cache, cached_property
from typing import Any

from qmvc.record import Record

MAX_EMBEDDED = 100
"""uuencode/yEnc blocks, or TNEF attachments, taken from one leaf; more are a defect."""

MAX_MEMBERS = 1000
"""Archive entries listed by one listing, nested archives included."""

MAX_UNPACKED_BYTES = 64 * 1024 * 1024
"""Member data one listing may decompress: heads, nested archives read whole, and the data of
compressed streams, which cannot be skipped without decompressing it."""

MAX_ARCHIVE_DEPTH = 3
"""Archives opened inside archives: outer › 1 › 2 › 3. A fourth level is listed, not opened."""

ARCHIVE_HEAD_BYTES = 0x8006
"""The head `looks_like_archive` needs: an ISO 9660 image says `CD001` at 0x8001."""

ARCHIVE_TAIL_BYTES = 22 + 0xFFFF
"""The tail `looks_like_archive` needs to find a zip's end record behind its longest comment."""

MEMBER_SEPARATOR = " › "
"""Between the levels of a nested member's path: `inner.zip › evil.exe`."""


class Extracted(Record):
    """A file carried inside a leaf's content: uuencode or yEnc block in text, or a TNEF
    attachment."""

    name: str  # as the container gives it, may be ""; bytes read as UTF-8, else Latin-1
    content: bytes
    source: str  # "uuencode", "yEnc" or "TNEF"


class Member(Record):
    """One entry of an archive, nested archives flattened with MEMBER_SEPARATOR between levels."""

    path: str  # as stored, "docs/invoice.exe"; inside a nested archive "inner.zip › evil.exe"
    head: bytes  # its first `head_bytes`; b"" if not asked for, not a file, or encrypted
    size: int  # as the archive declares it, else as read to its end; -1 if unknown


class Listing(Record):
    """An archive's members; `unanalysed` says where the listing stopped short, and why."""

    members: list[Member]
    defects: list[str]
    unanalysed: list[str]


# --- uuencode and yEnc blocks in text -------------------------------------------------------

_BLOCK_START = re.compile(rb"begin [0-7]{3,4} |=ybegin (?:[^\r\n]*? )?name=")
_BLOCK_AFTER_LINE_END = re.compile(rb"[\r\n](?=%s)" % _BLOCK_START.pattern)
_LINE_END = re.compile(rb"\r\n?|\n")
_UU_BEGIN = re.compile(rb"begin [0-7]{3,4} (.*)", re.DOTALL)
_UU_ALPHABET = bytes(range(0x20, 0x61))
_YENC_PARAMETER = re.compile(rb"(\w+)=(\S*)")
_YENC_PLAIN = bytes((byte - 42) % 256 for byte in range(256))


class _Block(Record):
    """One block as decoded, before the yEnc parts of a file are joined."""

    file: Extracted
    defects: list[str]
    resume: int  # where the search for the next block starts
    part: int  # yEnc part number; 0 for a file in one block
    whole_crc: int | None  # a last part's crc32= of the whole file, checked once joined


def embedded_files(text: bytes) -> tuple[list[Extracted], list[str]]:
    """uuencoded (`begin 644 name` … `end`) and yEnc (`=ybegin` … `=yend`) blocks of a text
    body, decoded, in order, and what was wrong with them.

    A block cut short is returned with what decoded. Consecutive yEnc parts of one file are
    joined into one file, as newsreaders do. Text without a block costs one regex search.
    """
    files: list[Extracted] = []
    defects: list[str] = []
    chain = -1  # the last part joined onto files[-1] in a chain that began at part 1
    start = _next_block(text, 0)
    for _ in range(MAX_EMBEDDED):
        if start < 0:
            return files, defects
        if text.startswith(b"begin", start):
            block = _uu_block(text, start)
        else:
            block = _yenc_block(text, start)
        defects += block.defects
        if block.part > 1 and block.part == chain + 1 and files[-1].name == block.file.name:
            files[-1] = Extracted(block.file.name, files[-1].content + block.file.content, "yEnc")
            chain = block.part
        else:
            files.append(block.file)
            chain = block.part if block.part == 1 else -1
        whole_crc = block.whole_crc
        if (
            whole_crc is not None
            and chain == block.part
            and whole_crc != zlib.crc32(files[-1].content)
        ):
            defects.append(f'yEnc file "{block.file.name}": CRC mismatch')
        start = _next_block(text, block.resume)
    if start >= 0:
        defects.append(f"more than {MAX_EMBEDDED} uuencode/yEnc blocks")
    return files, defects


def _next_block(text: bytes, position: int) -> int:
    """Where the next block starts, at a line start from `position` on (itself one); -1 if
    none. A lone CR ends a line too, as mail clients read it."""
    if _BLOCK_START.match(text, position):
        return position
    found = _BLOCK_AFTER_LINE_END.search(text, position)
    return -1 if found is None else found.end()


def _lines(text: bytes, position: int) -> Iterator[tuple[bytes, int, int]]:
    """Each line from `position` on without its end (CRLF, LF or a lone CR, as mail clients
    read them), with where it starts and where the next begins."""
    while position < len(text):
        found = _LINE_END.search(text, position)
        if found is None:
            yield text[position:], position, len(text)
            return
        yield text[position : found.start()], position, found.end()
        position = found.end()


def _text_name(raw: bytes) -> str:
    """A name from bytes without a declared charset: UTF-8 if it is, else Latin-1 (lossless)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _uu_block(text: bytes, position: int) -> _Block:
    """A uuencoded block, to its `end` line or the next block. Lines that cannot be uuencode
    (an mbox `>From `, a blank line) are skipped, as ripmime and uudeview do; a line longer
    than its length character says is decoded to that length (encoders put checksums there)."""
    lines = _lines(text, position)
    begin, _, _ = next(lines)
    match = _UU_BEGIN.match(begin)
    name = _text_name(match.group(1) if match else b"")
    chunks: list[bytes] = []
    skipped = long_lines = 0
    resume, terminated = len(text), False
    for line, start, end in lines:
        if line.rstrip() == b"end":
            resume, terminated = end, True
            break
        if _BLOCK_START.match(line):
            resume = start
            break
        decoded = _uu_line(line)
        if decoded is None:
            skipped += 1
            continue
        data, clean = decoded
        chunks.append(data)
        long_lines += not clean
    defects: list[str] = []
    if skipped:
        defects.append(f'uuencode block "{name}": {skipped} lines skipped that are not uuencode')
    if long_lines:
        defects.append(
            f'uuencode block "{name}": {long_lines} lines longer than their length character says'
        )
    if not terminated:
        defects.append(f'uuencode block "{name}" not terminated')
    return _Block(Extracted(name, b"".join(chunks), "uuencode"), defects, resume, 0, None)


def _uu_line(line: bytes) -> tuple[bytes, bool] | None:
    """One uuencoded line's bytes, and whether nothing followed its data; None when the line
    cannot be uuencode. A line shorter than its length is padded with zero bits, as
    binascii does: transports strip the trailing spaces that encoded them."""
    if not line:
        return None
    width = 1 + (((line[0] - 0x20) & 0x3F) + 2) // 3 * 4
    encoded = line[:width]
    if encoded.translate(None, _UU_ALPHABET):
        return None
    return binascii.a2b_uu(encoded), not line[width:].strip(b" `")


def _yenc_block(text: bytes, position: int) -> _Block:
    """A yEnc block (`=ybegin`, optional `=ypart`, data, `=yend`), its size and CRC checked."""
    lines = _lines(text, position)
    header, _, _ = next(lines)
    name_at = header.find(b" name=")
    name = _text_name(header[name_at + 6 :]) if name_at >= 0 else ""
    begin = _yenc_parameters(header[:name_at] if name_at >= 0 else header)
    part = _yenc_number(begin, b"part") or 0
    chunks: list[bytes] = []
    resume, end_line = len(text), None
    for line, start, end in lines:
        if line.startswith(b"=yend"):
            resume, end_line = end, _yenc_parameters(line)
            break
        if _BLOCK_START.match(line):
            resume = start
            break
        if not line.startswith(b"=ypart "):
            chunks.append(_yenc_line(line))
    content = b"".join(chunks)
    defects: list[str] = []
    whole_crc = None
    if end_line is None:
        defects.append(f'yEnc block "{name}" not terminated')
    else:
        size = _yenc_number(end_line, b"size")
        if size is not None and size != len(content):
            defects.append(f'yEnc block "{name}": {len(content)} bytes, its end line says {size}')
        crc = _yenc_number(end_line, b"pcrc32" if part else b"crc32", 16)
        if crc is not None and crc != zlib.crc32(content):
            defects.append(f'yEnc block "{name}": CRC mismatch')
        if part and part == _yenc_number(begin, b"total"):
            whole_crc = _yenc_number(end_line, b"crc32", 16)
    return _Block(Extracted(name, content, "yEnc"), defects, resume, part, whole_crc)


def _yenc_parameters(line: bytes) -> dict[bytes, bytes]:
    return dict(_YENC_PARAMETER.findall(line))


def _yenc_number(parameters: dict[bytes, bytes], key: bytes, base: int = 10) -> int | None:
    try:
        return int(parameters[key], base)
    except (KeyError, ValueError):
        return None


def _yenc_line(line: bytes) -> bytes:
    """Every byte was shifted by 42; after `=` a critical byte was shifted by 64 more."""
    plain, *escaped = line.split(b"=")
    decoded = [plain.translate(_YENC_PLAIN)]
    for run in escaped:
        if run:
            decoded.append(bytes(((run[0] - 106) % 256,)))
            decoded.append(run[1:].translate(_YENC_PLAIN))
    return b"".join(decoded)


# --- TNEF -----------------------------------------------------------------------------------
# Read here rather than with tnefparse: tnefparse loops over 32-bit counts taken from the data
# (a 50-byte winmail.dat claiming 2**32 MAPI properties keeps it busy for hours), strips
# trailing NUL bytes from attachment data, and skips a last attribute of twelve bytes.

_TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"  # 0x223E9F78, little-endian
_TNEF_MAX_DEPTH = 10
"""Messages attached inside messages followed; deeper ones are a defect."""

_ATT_ATTACH_REND_DATA = 0x9002  # opens each attachment
_ATT_ATTACH_TITLE = 0x8010  # its 8.3 name
_ATT_ATTACH_DATA = 0x800F
_ATT_ATTACHMENT = 0x9005  # its MAPI properties
_ATT_OEM_CODEPAGE = 0x9007
_ATTACHMENT_ATTRIBUTES = frozenset(
    (_ATT_ATTACH_REND_DATA, _ATT_ATTACH_TITLE, _ATT_ATTACH_DATA, _ATT_ATTACHMENT)
)
_LEVEL_ATTACHMENT = 2
_PR_ATTACH_DATA = 0x3701  # binary data, or an attached message (an object)
_PR_ATTACH_FILENAME = 0x3704
_PR_ATTACH_LONG_FILENAME = 0x3707
_MAPI_WANTED = frozenset((_PR_ATTACH_DATA, _PR_ATTACH_FILENAME, _PR_ATTACH_LONG_FILENAME))
_MAPI_UNICODE, _MAPI_OBJECT = 0x001F, 0x000D
_MAPI_VARIABLE = frozenset((0x0000, 0x000D, 0x001E, 0x001F, 0x0102))
_MAPI_FIXED = {0x0002: 2, 0x000B: 2, 0x0003: 4, 0x0004: 4, 0x000A: 4, 0x0005: 8, 0x0006: 8}
_MAPI_FIXED |= {0x0007: 8, 0x0014: 8, 0x0040: 8, 0x0048: 16}
_MAPI_MULTIPLE = 0x1000
_IMESSAGE = b"\x07\x03\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"
_CODEPAGE_NAMES = {20127: "ascii", 28591: "latin-1", 65001: "utf-8"}


def looks_like_tnef(head: bytes) -> bool:
    """Whether the content starts with TNEF's signature, whatever its declared type."""
    return head.startswith(_TNEF_SIGNATURE)


class _Cursor:
    """Little-endian fields read in order; struct.error past the end, so no count read from
    the data can make a loop outrun it."""

    def __init__(self, data: bytes, at: int = 0) -> None:
        self.data = data
        self.at = at

    def number(self, size: int) -> int:
        return int.from_bytes(self.take(size), "little")

    def take(self, size: int) -> bytes:
        if size < 0 or self.at + size > len(self.data):
            raise struct.error("past the end")
        self.at += size
        return self.data[self.at - size : self.at]


class _TnefAttachment:
    """What the attributes of one attachment said, gathered until the next one opens."""

    def __init__(self) -> None:
        self.title = b""
        self.data: bytes | None = None
        self.properties: dict[int, tuple[int, bytes]] = {}


def tnef_files(content: bytes) -> tuple[list[Extracted], list[str]]:
    """The attachments of a TNEF body (winmail.dat), each followed by those of the message it
    is when it is an attached message; named by their long file name, else their 8.3 name."""
    if not looks_like_tnef(content):
        return [], ["TNEF: cannot be read (no TNEF signature)"]
    files: list[Extracted] = []
    defects: list[str] = []
    _tnef_message(content, files, defects, 0)
    if len(files) > MAX_EMBEDDED:
        defects.append(f"TNEF: more than {MAX_EMBEDDED} attachments")
    return files[:MAX_EMBEDDED], list(dict.fromkeys(defects))


def _tnef_message(content: bytes, files: list[Extracted], defects: list[str], depth: int) -> None:
    """Adds the attachments of one TNEF stream, and those of the messages attached in it."""
    attachments, codepage = _tnef_attributes(content, defects)
    for attachment in attachments:
        kind, value = attachment.properties.get(_PR_ATTACH_DATA, (0, b""))
        message = b""
        if kind == _MAPI_OBJECT and value.startswith(_IMESSAGE + _TNEF_SIGNATURE):
            message = value[len(_IMESSAGE) :]
        data = attachment.data if attachment.data is not None else message or value
        files.append(Extracted(_tnef_name(attachment, codepage), data, "TNEF"))
        if message and depth == _TNEF_MAX_DEPTH:
            defects.append(f"TNEF: attached messages nested deeper than {_TNEF_MAX_DEPTH}")
        elif message and len(files) <= MAX_EMBEDDED:
            _tnef_message(message, files, defects, depth + 1)


def _tnef_attributes(content: bytes, defects: list[str]) -> tuple[list[_TnefAttachment], str]:
    """The attachments of a TNEF stream, and the code page its 8-bit names are in. An
    attribute cut short is used as far as it goes."""
    attachments: list[_TnefAttachment] = []
    codepage = "cp1252"
    cursor = _Cursor(content, len(_TNEF_SIGNATURE) + 2)  # then a 16-bit key
    while cursor.at < len(content):
        try:
            level, attribute = cursor.number(1), cursor.number(2)
            cursor.take(2)  # the attribute's type, implied by its id
            size = cursor.number(4)
        except struct.error:
            defects.append("TNEF: truncated")
            break
        value = content[cursor.at : cursor.at + size]
        cursor.at += size
        try:
            if cursor.number(2) != sum(value) & 0xFFFF:
                defects.append("TNEF: checksum mismatch")
        except struct.error:
            defects.append("TNEF: truncated")
        if attribute == _ATT_OEM_CODEPAGE and len(value) >= 4:
            number = int.from_bytes(value[:4], "little")
            codepage = _CODEPAGE_NAMES.get(number, f"cp{number}")
        if level != _LEVEL_ATTACHMENT or attribute not in _ATTACHMENT_ATTRIBUTES:
            continue
        if attribute == _ATT_ATTACH_REND_DATA or not attachments:
            attachments.append(_TnefAttachment())
        if attribute == _ATT_ATTACH_TITLE:
            attachments[-1].title = value
        elif attribute == _ATT_ATTACH_DATA:
            attachments[-1].data = value
        elif attribute == _ATT_ATTACHMENT:
            attachments[-1].properties = _mapi_properties(value, defects)
    return attachments, codepage


def _mapi_properties(data: bytes, defects: list[str]) -> dict[int, tuple[int, bytes]]:
    """The type and first value of the wanted attachment properties in a MAPI property list
    (MS-OXTNEF 2.1.3.4): values padded to 4 bytes, variable ones counted, named properties
    led by a GUID."""
    found: dict[int, tuple[int, bytes]] = {}
    cursor = _Cursor(data)
    try:
        for _ in range(cursor.number(4)):
            kind, tag = cursor.number(2), cursor.number(2)
            if tag >= 0x8000:  # named: a GUID, then a number or a name
                cursor.take(16)
                if cursor.number(4) == 0:
                    cursor.take(4)
                else:
                    cursor.take(_padded(cursor.number(4)))
            multiple = kind & _MAPI_MULTIPLE
            kind &= ~_MAPI_MULTIPLE
            if kind in _MAPI_VARIABLE:
                for _ in range(cursor.number(4)):
                    size = cursor.number(4)
                    value = cursor.take(_padded(size))[:size]
                    if tag in _MAPI_WANTED:
                        found.setdefault(tag, (kind, value))
            elif kind in _MAPI_FIXED:
                count = cursor.number(4) if multiple else 1
                cursor.take(_padded(_MAPI_FIXED[kind] * count))
            else:
                raise struct.error(f"unknown MAPI type {kind:#06x}")
    except struct.error:
        defects.append("TNEF: malformed MAPI properties")
    return found


def _padded(size: int) -> int:
    return size + -size % 4


def _tnef_name(attachment: _TnefAttachment, codepage: str) -> str:
    """PR_ATTACH_LONG_FILENAME, else the 8.3 title, else PR_ATTACH_FILENAME."""
    properties = attachment.properties
    for kind, value in (
        properties.get(_PR_ATTACH_LONG_FILENAME, (0, b"")),
        (0, attachment.title),
        properties.get(_PR_ATTACH_FILENAME, (0, b"")),
    ):
        name = _tnef_text(value, "utf-16-le" if kind == _MAPI_UNICODE else codepage)
        if name:
            return name
    return ""


def _tnef_text(value: bytes, codepage: str) -> str:
    """A NUL-terminated name in the stream's code page; an unknown code page read as cp1252."""
    try:
        text = value.decode(codepage, "replace")
    except LookupError:
        text = value.decode("cp1252", "replace")
    return text.split("\x00", 1)[0]


# --- archives -------------------------------------------------------------------------------

_ARCHIVE_SIGNATURES = (
    b"PK\x03\x04",  # zip
    b"PK\x05\x06",  # empty zip
    b"PK\x07\x08",  # zip written as a stream, spanned
    b"7z\xbc\xaf\x27\x1c",
    b"Rar!\x1a\x07",  # RAR 4 and 5
    b"MSCF",  # cab
    b"xar!",
    b"!<arch>\n",  # ar, .deb
    b"070701",  # cpio, new ASCII
    b"070702",
    b"070707",  # cpio, old ASCII
)
_COMPRESSED_STREAM = re.compile(
    rb"\x1f\x8b|BZh[1-9]|\xfd7zXZ\x00|\x28\xb5\x2f\xfd|LZIP|\x1f\x9d"  # gzip bzip2 xz zstd lzip Z
)


_SEEKS_PAST = frozenset((0x10000, 0x30000, 0x40000, 0x50000, 0x70000))
"""libarchive's format families (cpio, tar, ISO 9660, zip, ar) that skip a member's data by
seeking, when no compression filter is on; the others decompress what they skip."""
_ISO_BID_BYTES = 0x8000 + 8 * 2048
"""libarchive recognises an ISO 9660 image only with this much in hand; a smaller image is
valid (mkisofs pads, attackers need not), so it gets zeros appended."""
_ARCHIVE_FATAL = -30
"""libarchive's "no more operations are possible": some formats do not enforce it themselves."""
_OVER_BUDGET = f"archive: more than {MAX_UNPACKED_BYTES >> 20} MB unpacked"
_BLOCK_BYTES = 1 << 20


def looks_like_archive(head: bytes, tail: bytes = b"") -> bool:
    """Magic bytes of an archive or a compressed stream, without importing libarchive. Pass
    at least ARCHIVE_HEAD_BYTES of the content, or ISO 9660 images go unseen, and its last
    ARCHIVE_TAIL_BYTES as `tail` to see a zip behind a prefix (self-extractors, GIF/zip
    polyglots), which Explorer and 7-Zip open by the directory at its end."""
    return (
        head.startswith(_ARCHIVE_SIGNATURES)
        or _COMPRESSED_STREAM.match(head) is not None
        or head[257:262] == b"ustar"
        or head[0x8001:0x8006] == b"CD001"
        or _zip_end(tail) >= 0
    )


def _zip_end(data: bytes) -> int:
    """Where a zip's end-of-directory record is, when it ends `data` exactly; else -1."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - ARCHIVE_TAIL_BYTES))
    if at < 0 or len(data) < at + 22:
        return -1
    return at if at + 22 + int.from_bytes(data[at + 20 : at + 22], "little") == len(data) else -1


def _zip_directory(content: bytes) -> list[tuple[str, int]]:
    """Names and sizes in a zip's central directory, which Explorer and 7-Zip list; [] when
    there is none or it is zip64."""
    end = _zip_end(content)
    if end < 0:
        return []
    count, size = struct.unpack_from("<HI", content, end + 10)
    at = end - size
    if at < 0 or count == 0xFFFF or size == 0xFFFFFFFF:
        return []
    found: list[tuple[str, int]] = []
    for _ in range(min(count, MAX_MEMBERS)):
        if content[at : at + 4] != b"PK\x01\x02" or len(content) < at + 46:
            break
        flags, declared = struct.unpack_from("<H14xI", content, at + 8)
        name_length, extra_length, comment_length = struct.unpack_from("<3H", content, at + 28)
        raw = content[at + 46 : at + 46 + name_length]
        name = raw.decode("utf-8", "replace") if flags & 0x800 else _archive_text(raw)
        found.append((name, -1 if declared == 0xFFFFFFFF else declared))
        at += 46 + name_length + extra_length + comment_length
    return found


class _Native(Record):
    """libarchive calls that libarchive-c does not wrap."""

    pathname_utf8: Callable[[int], bytes | None]
    pathname: Callable[[int], bytes | None]
    is_encrypted: Callable[[int], int]
    format: Callable[[int], int]


@cache
def _native() -> _Native:
    from ctypes import CFUNCTYPE, c_char_p, c_int, c_void_p

    from libarchive import ffi  # type: ignore[import-untyped]

    text = CFUNCTYPE(c_char_p, c_void_p)
    number = CFUNCTYPE(c_int, c_void_p)
    return _Native(
        text(("archive_entry_pathname_utf8", ffi.libarchive)),
        text(("archive_entry_pathname", ffi.libarchive)),
        number(("archive_entry_is_encrypted", ffi.libarchive)),
        number(("archive_format", ffi.libarchive)),
    )


class _Walk:
    """What one listing has found and spent so far, shared by every level of nesting."""

    def __init__(self, head_bytes: int, max_depth: int) -> None:
        self.head_bytes = head_bytes
        self.max_depth = max_depth
        self.members: list[Member] = []
        self.defects: list[str] = []
        self.unanalysed: list[str] = []
        self.unpacked = 0
        self.stopped = False

    @cached_property
    def buffer(self) -> Any:
        """Where libarchive writes member data, one block at a time."""
        from ctypes import create_string_buffer

        return create_string_buffer(_BLOCK_BYTES)

    def give_up(self, reason: str) -> None:
        if reason not in self.unanalysed:
            self.unanalysed.append(reason)

    def stop(self, reason: str) -> None:
        self.give_up(reason)
        self.stopped = True


def archive_members(
    content: bytes, *, head_bytes: int = 0, max_depth: int = MAX_ARCHIVE_DEPTH
) -> Listing:
    """The members of an archive, or of a compressed single file, with nested archives
    listed inside them, within MAX_MEMBERS, MAX_UNPACKED_BYTES and `max_depth`.

    Only the directory and the head of each file are read, except for nested archives, which
    are read whole, and compressed streams, which must be decompressed to be skipped. Content
    that is no archive gives an empty listing; one that cannot be read to its end keeps the
    members read so far and says why in `unanalysed`.
    """
    walk = _Walk(max(head_bytes, 0), max_depth)
    if looks_like_archive(content[:ARCHIVE_HEAD_BYTES], content[-ARCHIVE_TAIL_BYTES:]):
        try:
            _list_archive(content, "", 0, walk)
        except Exception as error:  # libarchive missing, or failing in a way not foreseen
            walk.give_up(f"archive: cannot be read ({type(error).__name__})")
    return Listing(walk.members, walk.defects, walk.unanalysed)


def _list_archive(content: bytes, prefix: str, depth: int, walk: _Walk, raw: bool = False) -> None:
    """Lists one archive into `walk`; a compressed stream that holds no archive is retried
    with libarchive's `raw` format, which shows it as one member."""
    import libarchive

    label = f'archive "{prefix.removesuffix(MEMBER_SEPARATOR)}"' if prefix else "archive"
    if content[0x8001:0x8006] == b"CD001" and len(content) < _ISO_BID_BYTES:
        content += bytes(_ISO_BID_BYTES - len(content))
    first, entries = len(walk.members), 0
    try:
        with libarchive.memory_reader(content, format_name="raw" if raw else "all") as archive:
            for entry in archive:
                if raw and not archive.filter_names:
                    walk.give_up(f"{label}: cannot be read (unknown compression)")
                    return
                if len(walk.members) == MAX_MEMBERS:
                    walk.stop(f"archive: more than {MAX_MEMBERS} members")
                    return
                entries += 1
                _list_entry(archive, entry, prefix, depth, walk, not raw or _names_stream(content))
                if walk.stopped:
                    return
    except libarchive.ArchiveError as error:
        message = _error_message(error)
        if entries == 0 and not raw and _COMPRESSED_STREAM.match(content):
            _list_archive(content, prefix, depth, walk, raw=True)
        elif entries == 0 and "encrypted" in message:
            walk.give_up(f"{label}: encrypted directory")
        else:
            if "truncated" in message.lower():
                walk.defects.append(f"{label}: truncated")
            walk.give_up(f"{label}: cannot be read ({message})")
    if not raw and not walk.stopped:
        _list_directory_only_names(content, prefix, first, walk)


def _list_directory_only_names(content: bytes, prefix: str, first: int, walk: _Walk) -> None:
    """Adds the names of a zip's central directory that libarchive did not give: it names
    members by their local headers, which can say otherwise, and stops at damage the
    directory does not share."""
    listed = {m.path.removeprefix(prefix).replace("\\", "/") for m in walk.members[first:]}
    for name, size in _zip_directory(content):
        if name.replace("\\", "/") in listed:
            continue
        if len(walk.members) == MAX_MEMBERS:
            walk.give_up(f"archive: more than {MAX_MEMBERS} members")
            return
        walk.members.append(Member(prefix + name, b"", size))
        walk.defects.append(f'archive: "{prefix + name}" is in the zip directory only')


def _names_stream(content: bytes) -> bool:
    """Whether a compressed single file stores its name (gzip's FNAME); libarchive calls
    the others `data`."""
    return content[:2] == b"\x1f\x8b" and len(content) > 3 and bool(content[3] & 0x08)


def _error_message(error: Any) -> str:
    message = error.msg
    if isinstance(message, bytes):
        return message.decode("utf-8", "replace")
    return "no reason given" if message is None else str(message)


def _list_entry(
    archive: Any, entry: Any, prefix: str, depth: int, walk: _Walk, named: bool
) -> None:
    """Adds one member, then the members of the archive it is, if it is one."""
    import libarchive

    native = _native()
    path = prefix + (_member_name(native, entry._entry_p) if named else "")
    size = -1 if entry.size is None else entry.size
    if not entry.isreg or native.is_encrypted(entry._entry_p):
        if entry.isreg:
            walk.defects.append(f'archive: encrypted member "{path}"')
        walk.members.append(Member(path, b"", size))
        return
    data = _MemberData(archive, walk)
    try:
        content = _read_entry(archive, data, depth, size)
    except libarchive.ArchiveError as error:
        if error.retcode == _ARCHIVE_FATAL:  # libarchive (CAB) may go on, then crash
            walk.members.append(Member(path, b"", size))
            raise
        walk.defects.append(f'archive: member "{path}" cannot be read ({_error_message(error)})')
        content = b""
    if size < 0 and data.ended:
        size = data.count
    walk.members.append(Member(path, content[: walk.head_bytes], size))
    if walk.stopped or not looks_like_archive(content[:ARCHIVE_HEAD_BYTES]):
        return
    if depth < walk.max_depth:
        _list_archive(content, path + MEMBER_SEPARATOR, depth + 1, walk)
    else:
        walk.give_up(f"archive: nested deeper than {walk.max_depth}")


def _read_entry(archive: Any, data: _MemberData, depth: int, size: int) -> bytes:
    """The member's head, or all of it when it is an archive to be opened. A member whose
    format cannot skip data cheaply is read to its end here, within the budget, rather than
    skipped by libarchive without limit."""
    walk = data.walk
    head = data.read(max(walk.head_bytes, ARCHIVE_HEAD_BYTES))
    if data.ended or walk.stopped:
        return head
    if depth < walk.max_depth and looks_like_archive(head[:ARCHIVE_HEAD_BYTES]):
        if size > MAX_UNPACKED_BYTES - walk.unpacked:
            walk.stop(_OVER_BUDGET)
            return head
        return head + data.read(None)
    if archive.filter_names or _native().format(archive._pointer) & 0xFF0000 not in _SEEKS_PAST:
        data.read(None, keep=False)
    return head


class _MemberData:
    """Reads the current member's data in order, counting every byte against the budget.

    Not libarchive-c's `get_blocks`: it takes the ARCHIVE_WARN (-20) that `archive_read_data`
    returns for a bad CRC for a byte count, and yields its buffer but the last 20 bytes."""

    def __init__(self, archive: Any, walk: _Walk) -> None:
        self.archive_p = archive._pointer
        self.walk = walk
        self.count = 0
        self.ended = False

    def read(self, limit: int | None, keep: bool = True) -> bytes:
        """`limit` more bytes, or all the rest when None, unless the member or the budget
        ends first; a warning from libarchive (a bad CRC) is raised as an ArchiveError."""
        from ctypes import string_at

        from libarchive import ffi

        kept: list[bytes] = []
        got = 0
        while limit is None or got < limit:
            wanted = _BLOCK_BYTES if limit is None else min(limit - got, _BLOCK_BYTES)
            count = ffi.read_data(self.archive_p, self.walk.buffer, wanted)
            if count == 0:
                self.ended = True
                break
            if count < 0:
                raise ffi.archive_error(self.archive_p, count)
            self.count += count
            self.walk.unpacked += count
            if self.walk.unpacked > MAX_UNPACKED_BYTES:
                self.walk.stop(_OVER_BUDGET)
                break
            if keep:
                kept.append(string_at(self.walk.buffer, count))
            got += count
        return b"".join(kept)


def _member_name(native: _Native, entry_p: int) -> str:
    """The stored path as UTF-8 when libarchive can convert it; else its raw bytes, read as
    UTF-8 or, for old zips without the UTF-8 flag, code page 437 (lossless)."""
    converted = native.pathname_utf8(entry_p)
    if converted is not None:
        return converted.decode("utf-8", "replace")
    return _archive_text(native.pathname(entry_p) or b"")


def _archive_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp437")
