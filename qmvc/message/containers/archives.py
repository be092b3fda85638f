"""The members of an archive through libarchive (zip, 7z, rar, tar with gz/bz2/xz, iso, cab),
imported only when an archive is met."""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from functools import cache, cached_property
from typing import Any

from qmvc.message.containers.records import (
    ARCHIVE_HEAD_BYTES,
    ARCHIVE_TAIL_BYTES,
    MAX_ARCHIVE_DEPTH,
    MAX_MEMBERS,
    MAX_UNPACKED_BYTES,
    MEMBER_SEPARATOR,
    Listing,
    Member,
)
from qmvc.record import Record

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
@cache
def _quiet(libarchive: Any) -> None:
    """libarchive-c logs libarchive's warnings ("ZIP bad CRC") through logging, which without a
    handler writes them to stderr: qmail's log, one line per warning. What matters of them is in
    the listing's defects."""
    import logging

    logger = logging.getLogger(libarchive.__name__)
    logger.addHandler(logging.NullHandler())
    logger.propagate = False


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

    _quiet(libarchive)
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
