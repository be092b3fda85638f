"""What every container gives: the files inside, the members of an archive, and the limits
that bound reading them."""

from __future__ import annotations

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
