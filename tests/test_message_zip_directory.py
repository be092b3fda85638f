"""The zip central directory read by hand (archives._zip_directory): the names Explorer and
7-Zip list even where libarchive, which reads the local headers, sees other names or none.

Each zip here is built byte by byte, because the cases that matter are the ones a zip
library refuses to write: a directory at offset 0 with no member data, a member count or a
directory size that lies, a name flagged UTF-8 that is not, a comment long enough to
overflow a signed 16-bit field.
"""

from __future__ import annotations

import struct
import zipfile
from io import BytesIO

import pytest

from qmvc.message.containers.archives import _zip_directory, _zip_end, archive_members

UTF8_FLAG = 0x800
ENCRYPTED_FLAG = 0x001


def entry(
    name: bytes,
    *,
    flags: int = 0,
    declared: int = 10,
    extra: bytes = b"",
    comment: bytes = b"",
) -> bytes:
    """One central directory header (PK\\x01\\x02) with the fields _zip_directory reads."""
    return (
        b"PK\x01\x02"
        + struct.pack("<HHHHHHIII", 20, 20, flags, 0, 0, 0, 0, 0, declared)
        + struct.pack("<HHHHHII", len(name), len(extra), len(comment), 0, 0, 0, 0)
        + name
        + extra
        + comment
    )


def end_record(count: int, size: int, comment: bytes = b"") -> bytes:
    """The end-of-directory record (PK\\x05\\x06): `count` entries, `size` bytes before it."""
    return (
        b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, count, count, size, 0, len(comment)) + comment
    )


def zip_directory_of(*entries: bytes, prefix: bytes = b"", count: int | None = None,
                     comment: bytes = b"") -> bytes:  # fmt: skip
    """A zip made of `prefix`, the directory entries and the end record (no member data)."""
    directory = b"".join(entries)
    return prefix + directory + end_record(len(entries) if count is None else count,
                                           len(directory), comment)  # fmt: skip


def test_a_directory_with_no_member_data_at_offset_0_is_listed() -> None:
    content = zip_directory_of(entry(b"invoice.js"), entry(b"readme.txt", declared=3))
    assert _zip_directory(content) == [("invoice.js", 10), ("readme.txt", 3)]


def test_entries_after_names_extra_fields_and_comments_are_all_found() -> None:
    content = zip_directory_of(
        entry(b"a.txt", extra=b"\x55\x54\x05\x00\x01abcd", comment=b"first one"),
        entry(b"long-name-" * 5 + b".exe", comment=b"x" * 300),
        entry(b"c.vbs", extra=b"\x00" * 17),
        prefix=b"MZ self-extractor stub " * 4,
    )
    assert [name for name, _ in _zip_directory(content)] == [
        "a.txt",
        "long-name-" * 5 + ".exe",
        "c.vbs",
    ]


def test_a_comment_longer_than_32767_bytes_does_not_hide_the_next_entry() -> None:
    """The lengths are unsigned 16-bit: read signed, 40,000 would step back, not forward."""
    content = zip_directory_of(entry(b"a.txt", comment=b"c" * 40_000), entry(b"payload.exe"))
    assert [name for name, _ in _zip_directory(content)] == ["a.txt", "payload.exe"]


def test_a_member_count_above_32767_still_lists_the_entries_that_are_there() -> None:
    content = zip_directory_of(entry(b"a.txt"), entry(b"b.exe"), count=0x9000)
    assert [name for name, _ in _zip_directory(content)] == ["a.txt", "b.exe"]


def test_declared_sizes_are_unsigned_and_the_zip64_marker_is_unknown() -> None:
    content = zip_directory_of(
        entry(b"bomb.bin", declared=3_000_000_000), entry(b"big.bin", declared=0xFFFFFFFF)
    )
    assert _zip_directory(content) == [("bomb.bin", 3_000_000_000), ("big.bin", -1)]


def test_a_declared_size_of_0xfffffffe_is_kept_as_declared() -> None:
    assert _zip_directory(zip_directory_of(entry(b"a", declared=0xFFFFFFFE))) == [("a", 0xFFFFFFFE)]


def test_a_zip64_member_count_gives_no_listing() -> None:
    """A count of 0xFFFF says "see the zip64 record", which this reader does not parse."""
    assert _zip_directory(zip_directory_of(entry(b"a.txt"), count=0xFFFF)) == []


def test_a_directory_size_larger_than_what_precedes_the_end_gives_no_listing() -> None:
    """A lying size would point before the content; a fake entry placed in the end record's
    comment must not be read from a negative offset."""
    fake = entry(b"ghost.exe")
    content = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, 60, 0, len(fake)) + fake
    assert _zip_directory(content) == []


@pytest.mark.parametrize(
    ("name", "flags", "expected"),
    [
        (b"caf\xc3\xa9.txt", UTF8_FLAG, "café.txt"),
        (b"bad\xff.exe", UTF8_FLAG, "bad\ufffd.exe"),  # flagged UTF-8 but is not: replaced
        (b"\x81ber.exe", 0, "über.exe"),  # no flag and not UTF-8: code page 437
        (b"\x81ber.exe", ENCRYPTED_FLAG, "über.exe"),  # other flag bits change nothing
        (b"caf\xc3\xa9.txt", 0, "café.txt"),  # no flag but valid UTF-8: read as UTF-8
    ],
)
def test_names_are_decoded_as_the_utf8_flag_says(name: bytes, flags: int, expected: str) -> None:
    assert _zip_directory(zip_directory_of(entry(name, flags=flags))) == [(expected, 10)]


def test_an_entry_that_is_not_a_directory_header_ends_the_listing() -> None:
    """The count says 3 but only 2 entries are there; what follows is the end record, whose
    comment is long enough to be misread as a third entry."""
    content = zip_directory_of(entry(b"a.txt"), entry(b"b.txt"), count=3, comment=b"\x00" * 60)
    assert [name for name, _ in _zip_directory(content)] == ["a.txt", "b.txt"]


def test_an_entry_header_cut_short_by_the_end_of_content_is_not_read() -> None:
    """A directory size of 8 puts the only entry's 46-byte header past the end of content."""
    content = b"PK\x01\x02" + b"\x00" * 4 + end_record(1, 8)
    assert _zip_directory(content) == []


def test_an_entry_header_ending_exactly_at_the_end_of_content_is_read() -> None:
    """46 bytes from the entry to the end of the content are a whole header (no name; its
    last fields overlap the end record, as a hostile zip may arrange)."""
    content = b"PK\x01\x02" + b"\x00" * 20 + end_record(1, 24)
    assert len(content) == 46
    assert [name for name, _ in _zip_directory(content)] == [""]


def test_a_real_zip_agrees_with_zipfile() -> None:
    """An independent reader of the same directory: Python's zipfile."""
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("plain.txt", b"hello")
        archive.writestr("ünïcode/naïve.exe", b"x" * 1000)
        archive.writestr(zipfile.ZipInfo("noted.txt"), b"abc")
        archive.comment = b"archive comment"
    content = buffer.getvalue()
    with zipfile.ZipFile(BytesIO(content)) as archive:
        expected = [(info.filename, info.file_size) for info in archive.infolist()]
    assert _zip_directory(content) == expected


def test_names_only_the_directory_gives_reach_the_listing_with_their_sizes() -> None:
    content = zip_directory_of(entry(b"only-here.js", declared=77))
    listing = archive_members(content)
    assert [(member.path, member.size) for member in listing.members] == [("only-here.js", 77)]
    assert 'archive: "only-here.js" is in the zip directory only' in listing.defects


def test_the_end_record_is_found_at_offset_0_and_after_a_comment() -> None:
    empty = end_record(0, 0)
    assert _zip_end(empty) == 0
    commented = zip_directory_of(entry(b"a.txt"), comment=b"made by a tool\x00\xff")
    assert _zip_end(commented) == len(commented) - 22 - 16


def test_the_last_end_record_is_the_zips_own_not_one_stored_inside_it() -> None:
    """A zip storing another zip uncompressed holds two end records; the inner one's comment
    length does not reach the end, so finding it first would hide the outer zip."""
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("inner.zip", zip_directory_of(entry(b"x.exe")))
        archive.writestr("after.txt", b"data after the inner zip")
    outer = buffer.getvalue()
    assert _zip_end(outer) == len(outer) - 22


def test_no_end_record_or_one_not_ending_the_content_is_minus_one() -> None:
    assert _zip_end(b"") == -1
    assert _zip_end(b"PK\x05\x06 truncated") == -1
    assert _zip_end(end_record(0, 0) + b"trailing bytes") == -1
