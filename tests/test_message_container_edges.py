"""Edges of the archive and embedded-file readers that a message rarely reaches but a hostile
one can: libarchive missing, its error texts, nested damage, backslash names, uuencode
padding, names in no declared charset."""

from __future__ import annotations

import io
import os
import sys
import zipfile
from types import SimpleNamespace

import pytest

from qmvc.message.containers.archives import _error_message, archive_members, looks_like_archive
from qmvc.message.containers.embedded import _text_name, _uu_line, embedded_files
from qmvc.message.containers.records import MAX_UNPACKED_BYTES
from tests.corpus.attacks.formats import iso9660

SEPARATOR = " › "


def zip_of(*members: tuple[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, content in members:
            archive.writestr(name, content)
    return out.getvalue()


def test_libarchive_missing_leaves_the_archive_unanalysed_naming_the_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "libarchive", None)  # `import libarchive` raises
    listing = archive_members(zip_of(("a.exe", b"MZ")))
    assert listing.unanalysed == ["archive: cannot be read (ModuleNotFoundError)"]


@pytest.mark.parametrize(
    ("message", "text"),
    [
        (None, "no reason given"),
        (b"Truncated \xff input", "Truncated \ufffd input"),
        ("Damaged header", "Damaged header"),
    ],
)
def test_libarchive_error_texts_are_shown_whatever_their_type(message: object, text: str) -> None:
    assert _error_message(SimpleNamespace(msg=message)) == text


def test_a_damaged_nested_archive_is_named_by_its_path_in_the_defect() -> None:
    inner = zip_of(("first.txt", os.urandom(4000)), ("second.exe", os.urandom(4000)))
    outer = zip_of(("inner.zip", inner[:5000]))

    listing = archive_members(outer)

    assert 'archive "inner.zip": truncated' in listing.defects
    assert any(
        reason.startswith('archive "inner.zip": cannot be read') for reason in listing.unanalysed
    )
    assert f"inner.zip{SEPARATOR}first.txt" in [member.path for member in listing.members]


def test_backslash_names_are_the_same_name_in_the_directory_and_the_listing() -> None:
    content = zip_of(("dir\\payload.exe", b"MZ"), ("other\\b.txt", b"b"))
    listing = archive_members(content)
    assert not [defect for defect in listing.defects if "zip directory only" in defect]


def test_every_name_only_the_directory_gives_is_listed_after_a_name_both_give() -> None:
    content = bytearray(zip_of(("a.txt", b"aaaa"), ("invoice.js", b"WScript.Echo(1)")))
    second = content.index(b"PK\x03\x04", 4)
    content[second + 30 : second + 40] = b"invoice.md"  # its local name; the directory keeps .js

    listing = archive_members(bytes(content))

    assert [member.path for member in listing.members] == ["a.txt", "invoice.md", "invoice.js"]
    assert listing.defects == ['archive: "invoice.js" is in the zip directory only']


def test_archive_magic_is_seen_in_an_iso_image_and_in_an_empty_zip_tail() -> None:
    image = iso9660([("README.TXT", b"hello")])
    assert looks_like_archive(image[: 0x8000 + 16 * 2048])
    assert looks_like_archive(b"not a zip", b"PK\x05\x06" + bytes(18))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"#86)C", (b"abc", True)),
        (b"#86)C``", (b"abc", True)),  # padding backticks after the data
        (b"#86)C  ", (b"abc", True)),  # and padding spaces
        (b"#86)CXX", (b"abc", False)),  # anything else follows the data
    ],
)
def test_a_uuencoded_line_says_whether_only_padding_follows_its_data(
    line: bytes, expected: tuple[bytes, bool]
) -> None:
    assert _uu_line(line) == expected


def test_a_uuencoded_line_with_bits_past_its_length_is_no_uuencode() -> None:
    """Found by hypothesis in CI: binascii raised "Trailing garbage" out of the analysis."""
    assert _uu_line(b"$      !") is None
    assert embedded_files(b"begin 644 a.exe\n$      !\n") is not None


def test_an_embedded_name_that_is_not_utf8_is_read_as_latin1() -> None:
    assert _text_name("café.exe".encode("latin-1")) == "café.exe"
    assert _text_name("café.exe".encode()) == "café.exe"


def test_a_truncated_iso_image_is_truncated_its_members_past_the_cut_not_invented() -> None:
    """A small image is padded with zeros only up to what libarchive needs to recognise it;
    members past the cut are not read as zeros."""
    image = iso9660([("README.TXT", b"hello world" * 3000), ("B.TXT", b"second file")])
    listing = archive_members(image[:45000], head_bytes=64)
    assert listing.defects == ["archive: truncated"]
    assert "B.TXT" not in [member.path for member in listing.members]


def test_after_the_unpacking_budget_is_spent_no_zip_directory_is_read() -> None:
    """A gzip bomb (of no archive: zeros would read as an empty tar) with a zip directory
    behind it: the listing stops at the budget."""
    import gzip

    bomb = gzip.compress(b"A" * (MAX_UNPACKED_BYTES + (1 << 20)), compresslevel=1)
    listing = archive_members(bomb + zip_of(("hidden.exe", b"MZ")), head_bytes=64)
    assert any("unpacked" in reason for reason in listing.unanalysed)
    assert not [defect for defect in listing.defects if "zip directory only" in defect]
