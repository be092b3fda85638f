"""The attachments of a TNEF body (winmail.dat, application/ms-tnef), read by a bounded parser:
tnefparse loops over 32-bit counts taken from the data and strips trailing NULs from files."""

from __future__ import annotations

import struct

from qmvc.message.containers.records import MAX_EMBEDDED, Extracted

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
