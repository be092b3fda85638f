"""Files inside a leaf's content: uuencode and yEnc in text, TNEF attachments, archive members.

Every archive is a real file, built here with Python's modules or with the Debian tools
p7zip-full, zip, genisoimage and gcab (each test skips when its tool is missing). RAR cannot be
tested: Debian has no free program that writes RAR.
"""

from __future__ import annotations

import binascii
import bz2
import gzip
import io
import lzma
import os
import random
import shutil
import struct
import subprocess
import sys
import tarfile
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qmvc.message.containers import archives
from qmvc.message.containers.archives import archive_members, looks_like_archive
from qmvc.message.containers.embedded import embedded_files
from qmvc.message.containers.records import (
    ARCHIVE_HEAD_BYTES,
    ARCHIVE_TAIL_BYTES,
    MAX_EMBEDDED,
    MAX_UNPACKED_BYTES,
    Extracted,
    Listing,
    Member,
)
from qmvc.message.containers.tnef import looks_like_tnef, tnef_files
from tests.corpus.attacks.formats import iso9660

# --- building archives ----------------------------------------------------------------------


def zip_of(*members: tuple[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression, compresslevel=1) as archive:
        for name, content in members:
            archive.writestr(name, content)
    return out.getvalue()


def tar_of(compression: str, *members: tuple[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=f"w:{compression}") as archive:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return out.getvalue()


def paths(listing: Listing) -> list[str]:
    return [member.path for member in listing.members]


def needs(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        pytest.skip(f"{tool} is not installed")
    return found


def built_with(command: list[str], files: dict[str, bytes], output: str, where: Path) -> bytes:
    """Runs an archiver over `files` written into a fresh directory; returns what it wrote."""
    source = where / "source"
    source.mkdir()
    for name, content in files.items():
        (source / name).write_bytes(content)
    subprocess.run(command, cwd=source, check=True, capture_output=True)
    return (where / output).read_bytes()


GIGABYTE = 1 << 30


@pytest.fixture(scope="module")
def gigabyte_of_zeros_zip() -> bytes:
    """A 1 MB zip whose one member inflates to 1 GiB of zeros, a classic zip bomb.

    zlib's output for a chunk of zeros after a full flush does not depend on what came before,
    so the deflate stream is one compressed chunk repeated, not 1 GiB compressed here."""
    chunk = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    repeated = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    stream = repeated * (GIGABYTE // len(chunk)) + compressor.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(GIGABYTE // len(chunk)):
        crc = zlib.crc32(chunk, crc)
    name = b"zeros.bin"
    sizes = (crc, len(stream), GIGABYTE, len(name), 0)
    local = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, *sizes) + name
    central = struct.pack(
        "<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, *sizes, 0, 0, 0, 0, 0
    )
    directory = central + name
    end = struct.pack(
        "<4s4H2IH", b"PK\x05\x06", 0, 0, 1, 1, len(directory), len(local) + len(stream), 0
    )
    return local + stream + directory + end


# --- archive listings -----------------------------------------------------------------------


def test_zip_listing_gives_member_paths_and_declared_sizes() -> None:
    content = zip_of(("docs/invoice.pdf.exe", b"MZ" + bytes(98)), ("readme.txt", b"hello"))

    listing = archive_members(content)

    assert listing == Listing(
        [Member("docs/invoice.pdf.exe", b"", 100), Member("readme.txt", b"", 5)], [], []
    )


def test_heads_are_the_first_bytes_asked_for() -> None:
    content = zip_of(("a.exe", b"MZ\x90\x00" + bytes(5000)), ("b.txt", b"hi"))

    assert [m.head for m in archive_members(content, head_bytes=4).members] == [
        b"MZ\x90\x00",
        b"hi",
    ]


def test_directories_are_members_without_a_head() -> None:
    content = zip_of(("folder/", b""), ("folder/x.exe", b"MZ"))

    assert archive_members(content, head_bytes=8).members == [
        Member("folder/", b"", 0),
        Member("folder/x.exe", b"MZ", 2),
    ]


def test_member_names_in_utf8_and_in_old_zip_code_page_are_kept() -> None:
    utf8 = zip_of(("facture é.exe", b"x"))
    code_page_437 = zip_of(("factureA.exe", b"x")).replace(b"factureA.exe", b"facture\x82.exe")

    assert paths(archive_members(utf8)) == ["facture é.exe"]
    assert paths(archive_members(code_page_437)) == ["factureé.exe"]


def test_zip_name_only_its_directory_gives_is_listed_with_a_defect() -> None:
    content = bytearray(zip_of(("invoice.js", b"WScript.Echo(1)")))
    content[30:40] = b"invoice.md"  # the local header's name; the central directory keeps .js

    listing = archive_members(bytes(content))

    assert paths(listing) == ["invoice.md", "invoice.js"]
    assert listing.defects == ['archive: "invoice.js" is in the zip directory only']


def test_zip_behind_a_prefix_is_seen_by_its_tail_and_listed() -> None:
    out = io.BytesIO(b"GIF89a" + bytes(200))
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, "a") as archive:
        archive.writestr("invoice.exe", b"MZ")
    content = out.getvalue()

    assert not looks_like_archive(content[:ARCHIVE_HEAD_BYTES])
    assert looks_like_archive(content[:ARCHIVE_HEAD_BYTES], content[-ARCHIVE_TAIL_BYTES:])
    assert archive_members(content) == Listing([Member("invoice.exe", b"", 2)], [], [])


def test_zip_end_record_not_at_the_end_is_no_archive() -> None:
    content = b"GIF89a" + zip_of(("a.exe", b"MZ")) + b"trailing image data"

    assert not looks_like_archive(content[:ARCHIVE_HEAD_BYTES], content[-ARCHIVE_TAIL_BYTES:])


def test_nested_zip_members_are_flattened_with_the_separator() -> None:
    inner = zip_of(("evil.exe", b"MZ"))
    content = zip_of(("docs/readme.txt", b"hi"), ("inner.zip", inner))

    assert paths(archive_members(content)) == [
        "docs/readme.txt",
        "inner.zip",
        "inner.zip › evil.exe",
    ]


def test_nested_tar_gz_inside_zip_is_listed() -> None:
    content = zip_of(("backup.tgz", tar_of("gz", ("payload.scr", b"MZ"))))

    assert paths(archive_members(content)) == ["backup.tgz", "backup.tgz › payload.scr"]


def test_nesting_deeper_than_the_limit_is_listed_but_not_opened() -> None:
    content = zip_of(("evil.exe", b"MZ"))
    for level in (4, 3, 2, 1):
        content = zip_of((f"level{level}.zip", content))

    listing = archive_members(content)

    assert paths(listing) == [
        "level1.zip",
        "level1.zip › level2.zip",
        "level1.zip › level2.zip › level3.zip",
        "level1.zip › level2.zip › level3.zip › level4.zip",
    ]
    assert listing.unanalysed == ["archive: nested deeper than 3"]


def test_max_depth_zero_opens_no_nested_archive() -> None:
    content = zip_of(("inner.zip", zip_of(("evil.exe", b"MZ"))))

    listing = archive_members(content, max_depth=0)

    assert paths(listing) == ["inner.zip"]
    assert listing.unanalysed == ["archive: nested deeper than 0"]


def test_more_members_than_the_limit_stop_the_listing_quickly() -> None:
    content = zip_of(*((f"file{n}.txt", b"x") for n in range(10_000)))

    started = time.monotonic()
    listing = archive_members(content)

    assert time.monotonic() - started < 2
    assert len(listing.members) == 1000
    assert listing.unanalysed == ["archive: more than 1000 members"]


def test_member_declaring_a_gigabyte_is_read_only_to_its_head(
    gigabyte_of_zeros_zip: bytes,
) -> None:
    tracemalloc.start()
    started = time.monotonic()
    listing = archive_members(gigabyte_of_zeros_zip, head_bytes=8192)
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert listing == Listing([Member("zeros.bin", bytes(8192), GIGABYTE)], [], [])
    assert elapsed < 1
    assert peak < 4 << 20


def test_zip_of_zip_bombs_ends_in_unanalysed_when_the_budget_is_spent(
    gigabyte_of_zeros_zip: bytes,
) -> None:
    copies = MAX_UNPACKED_BYTES // len(gigabyte_of_zeros_zip) + 2
    content = zip_of(*((f"bomb{n}.zip", gigabyte_of_zeros_zip) for n in range(copies)))

    started = time.monotonic()
    listing = archive_members(content)

    assert time.monotonic() - started < 5
    assert listing.unanalysed == ["archive: more than 64 MB unpacked"]
    assert "bomb0.zip › zeros.bin" in paths(listing)
    assert f"bomb{copies - 1}.zip" not in paths(listing)


def test_compressed_stream_longer_than_the_budget_is_not_decompressed_to_its_end() -> None:
    zeros = bytes(MAX_UNPACKED_BYTES + (1 << 20))
    content = tar_of("gz", ("zeros.bin", zeros), ("after.exe", b"MZ"))

    listing = archive_members(content)

    assert paths(listing) == ["zeros.bin"]
    assert listing.unanalysed == ["archive: more than 64 MB unpacked"]


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz"])
def test_compressed_tar_is_listed(compression: str) -> None:
    content = tar_of(compression, ("a/b.txt", b"hello"), ("c.exe", b"MZ"))

    assert archive_members(content, head_bytes=2).members == [
        Member("a/b.txt", b"he", 5),
        Member("c.exe", b"MZ", 2),
    ]


def test_bare_gzip_gives_the_file_name_it_stores() -> None:
    out = io.BytesIO()
    with gzip.GzipFile("invoice.exe", "wb", fileobj=out, mtime=0) as stream:
        stream.write(b"MZ payload")

    assert archive_members(out.getvalue(), head_bytes=2).members == [
        Member("invoice.exe", b"MZ", 10)
    ]


def test_a_gzip_marked_as_text_but_storing_no_name_is_one_unnamed_member() -> None:
    """FTEXT (flag bit 0) is not FNAME (bit 3): libarchive's made-up name `data` is no name."""
    content = bytearray(gzip.compress(b"MZ payload", mtime=0))
    content[3] |= 0x01
    assert archive_members(bytes(content), head_bytes=2).members == [Member("", b"MZ", 10)]


@pytest.mark.parametrize(
    ("header", "names"),
    [
        (b"\x1f\x8b\x08", False),  # cut before the flags: no name, and no IndexError
        (b"\x1f\x8b\x08\x08", True),
        (b"\x1f\x8b\x08\x01", False),
        (b"\x1f\x8c\x08\x08", False),
    ],
)
def test_a_gzip_header_names_its_file_only_with_the_fname_flag(header: bytes, names: bool) -> None:
    assert archives._names_stream(header) is names


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress])
def test_compressed_single_file_without_a_name_is_one_unnamed_member(
    compress: Callable[[bytes], bytes],
) -> None:
    listing = archive_members(compress(b"MZ payload"), head_bytes=2)

    assert listing == Listing([Member("", b"MZ", 10)], [], [])


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"plain text, not an archive\n" * 100,
        random.Random(1).randbytes(4096),
        b"%PDF-1.4\n" + bytes(100),
    ],
    ids=["empty", "text", "random", "pdf"],
)
def test_content_that_is_no_archive_gives_an_empty_listing(content: bytes) -> None:
    assert archive_members(content) == Listing([], [], [])


def test_archive_magic_over_garbage_is_unanalysed_not_raised() -> None:
    listing = archive_members(b"PK\x03\x04" + b"garbage" * 50)

    assert listing.members == []
    assert listing.unanalysed and listing.unanalysed[0].startswith("archive: cannot be read (")


def test_truncated_zip_keeps_the_members_before_the_cut() -> None:
    content = zip_of(
        ("first.txt", os.urandom(4000)),
        ("second.exe", os.urandom(4000)),
        ("third.doc", os.urandom(4000)),
        compression=zipfile.ZIP_STORED,
    )

    listing = archive_members(content[:6000])

    assert paths(listing)[:1] == ["first.txt"]
    assert "third.doc" not in paths(listing)
    assert "archive: truncated" in listing.defects
    assert any(reason.startswith("archive: cannot be read") for reason in listing.unanalysed)


SEED_ARCHIVES = [
    zip_of(("inner.zip", zip_of(("evil.exe", b"MZ" * 500))), ("a.txt", b"hello" * 300)),
    tar_of("gz", ("a.exe", b"MZ" * 800), ("in.zip", zip_of(("b.exe", b"MZ")))),
    tar_of("bz2", ("a.txt", b"z" * 3000)),
    tar_of("xz", ("a.txt", b"q" * 3000)),
]


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(SEED_ARCHIVES),
    st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.binary(max_size=8)), max_size=6),
    st.sampled_from([0, 16, 8192]),
)
def test_damaged_archives_give_a_listing_never_an_exception(
    seed: bytes, damage: list[tuple[float, bytes]], head_bytes: int
) -> None:
    content = bytearray(seed)
    for where, replacement in damage:
        at = int(where * len(content))
        content[at : at + len(replacement)] = replacement

    listing = archive_members(bytes(content), head_bytes=head_bytes)

    assert len(listing.members) <= 1000
    assert all(len(member.head) <= head_bytes for member in listing.members)


def cab_that_crashes_libarchive_when_read_past_a_fatal_error() -> bytes:
    """Found by fuzzing: libarchive 3.6.2 calls the first CFDATA block invalid (ARCHIVE_FATAL),
    still gives the next file's header, and crashes the process if that file is then read."""
    cab = bytearray(3298)
    for offset, field in [
        (0x00, b"MSCF"),
        (0x10, b"\x2c"),
        (0x1A, b"\x01\x00\x02"),
        (0x24, b"\x60\x00\x00\x00\x01\x00\x00\x00\xba\x0b"),
        (0x3C, b"evil.exe"),
        (0x45, b"\xc8\x00\x00\x00\xba\x0b"),
        (0x55, b"r"),
        (0x63, b"\x27\x82\x0c\x00\x40"),
    ]:
        cab[offset : offset + len(field)] = field
    return bytes(cab)


def test_listing_stops_at_a_fatal_error_instead_of_reading_on() -> None:
    program = (
        "import sys; from qmvc.message.containers.archives import archive_members; "
        "print(archive_members(sys.stdin.buffer.read()).unanalysed)"
    )
    ran = subprocess.run(
        [sys.executable, "-c", program],
        input=cab_that_crashes_libarchive_when_read_past_a_fatal_error(),
        capture_output=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=60,
    )

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.decode() == "['archive: cannot be read (Invalid CFDATA)']\n"


def test_encrypted_zip_members_are_listed_with_a_defect(tmp_path: Path) -> None:
    zip_tool = needs("zip")
    content = built_with(
        [zip_tool, "-q", "-P", "SECRET", "../enc.zip", "evil.exe", "readme.txt"],
        {"evil.exe": b"MZ" + bytes(3000), "readme.txt": b"hi"},
        "enc.zip",
        tmp_path,
    )

    listing = archive_members(content, head_bytes=16)

    assert listing.members == [Member("evil.exe", b"", 3002), Member("readme.txt", b"", 2)]
    assert listing.defects == [
        'archive: encrypted member "evil.exe"',
        'archive: encrypted member "readme.txt"',
    ]


def test_7z_members_are_listed(tmp_path: Path) -> None:
    seven_zip = needs("7z")
    content = built_with(
        [seven_zip, "a", "-bd", "../a.7z", "evil.exe", "readme.txt"],
        {"evil.exe": b"MZ" + bytes(3000), "readme.txt": b"hi"},
        "a.7z",
        tmp_path,
    )

    assert archive_members(content, head_bytes=2).members == [
        Member("evil.exe", b"MZ", 3002),
        Member("readme.txt", b"hi", 2),
    ]


def test_7z_with_encrypted_contents_lists_names_with_defects(tmp_path: Path) -> None:
    seven_zip = needs("7z")
    content = built_with(
        [seven_zip, "a", "-bd", "-pSECRET", "../enc.7z", "evil.exe"],
        {"evil.exe": b"MZ" + bytes(3000)},
        "enc.7z",
        tmp_path,
    )

    listing = archive_members(content, head_bytes=2)

    assert listing.members == [Member("evil.exe", b"", 3002)]
    assert listing.defects == ['archive: encrypted member "evil.exe"']


def test_7z_with_encrypted_directory_is_unanalysed(tmp_path: Path) -> None:
    seven_zip = needs("7z")
    content = built_with(
        [seven_zip, "a", "-bd", "-mhe=on", "-pSECRET", "../enc.7z", "evil.exe"],
        {"evil.exe": b"MZ" + bytes(3000)},
        "enc.7z",
        tmp_path,
    )

    assert archive_members(content) == Listing([], [], ["archive: encrypted directory"])


def test_iso_image_is_listed(tmp_path: Path) -> None:
    genisoimage = needs("genisoimage")
    content = built_with(
        [genisoimage, "-quiet", "-R", "-J", "-o", "../cd.iso", "."],
        {"setup.exe": b"MZ" + bytes(100)},
        "cd.iso",
        tmp_path,
    )

    assert looks_like_archive(content[:ARCHIVE_HEAD_BYTES])
    assert Member("setup.exe", b"MZ", 102) in archive_members(content, head_bytes=2).members


def test_iso_image_smaller_than_libarchive_reads_to_recognise_it_is_listed() -> None:
    image = iso9660([("SETUP.EXE", b"MZ" + bytes(100))], min_sectors=0)  # mkisofs would pad

    assert len(image) < 48 * 1024
    assert Member("SETUP.EXE", b"MZ", 102) in archive_members(image, head_bytes=2).members


def test_cab_is_listed(tmp_path: Path) -> None:
    gcab = needs("gcab")
    content = built_with(
        [gcab, "-c", "../a.cab", "setup.exe"], {"setup.exe": b"MZ" + bytes(100)}, "a.cab", tmp_path
    )

    assert archive_members(content, head_bytes=2).members == [Member("setup.exe", b"MZ", 102)]


@pytest.mark.parametrize(
    "head",
    [
        b"PK\x03\x04",
        b"PK\x05\x06",
        b"7z\xbc\xaf\x27\x1c\x00\x04",
        b"Rar!\x1a\x07\x00",
        b"Rar!\x1a\x07\x01\x00",
        b"\x1f\x8b\x08",
        b"BZh9",
        b"\xfd7zXZ\x00",
        b"\x28\xb5\x2f\xfd",
        b"LZIP",
        b"MSCF\x00\x00\x00\x00",
        bytes(257) + b"ustar\x0000",
        bytes(0x8001) + b"CD001",
    ],
)
def test_archive_magic_is_recognised(head: bytes) -> None:
    assert looks_like_archive(head)


@pytest.mark.parametrize("head", [b"", b"MZ\x90\x00", b"%PDF-1.7", b"BZh", b"Hello, world"])
def test_other_heads_are_not_archives(head: bytes) -> None:
    assert not looks_like_archive(head)


def test_iso_is_seen_only_with_a_long_enough_head() -> None:
    image = bytes(0x8001) + b"CD001" + bytes(100)

    assert looks_like_archive(image[:ARCHIVE_HEAD_BYTES])
    assert not looks_like_archive(image[:0x8000])


# --- uuencode and yEnc in text --------------------------------------------------------------


def uuencoded(content: bytes, name: bytes, newline: bytes = b"\n") -> bytes:
    lines = [binascii.b2a_uu(content[at : at + 45]) for at in range(0, len(content), 45)]
    body = b"".join(lines) + b"`\n"
    return (b"begin 644 " + name + b"\n" + body + b"end\n").replace(b"\n", newline)


_YENC_ESCAPED = frozenset(b"\x00\n\r=\t")


def yencoded(
    content: bytes, name: bytes, line_length: int = 128, newline: bytes = b"\n", part: int = 0
) -> bytes:
    """A tiny yEnc encoder (yEnc 1.3): bytes shifted by 42, NUL LF CR = and TAB escaped."""
    lines, line = [], bytearray()
    for byte in content:
        shifted = (byte + 42) % 256
        line += b"=%c" % ((shifted + 64) % 256) if shifted in _YENC_ESCAPED else bytes((shifted,))
        if len(line) >= line_length:
            lines.append(bytes(line))
            line = bytearray()
    if line:
        lines.append(bytes(line))
    crc = b"%08x" % zlib.crc32(content)
    size = b"%d" % len(content)
    if part:
        begin = b"=ybegin part=%d line=%d size=%s name=%s" % (part, line_length, size, name)
        end = b"=yend size=%s part=%d pcrc32=%s" % (size, part, crc)
    else:
        begin = b"=ybegin line=%d size=%s name=%s" % (line_length, size, name)
        end = b"=yend size=%s crc32=%s" % (size, crc)
    return newline.join([begin, *lines, end]) + newline


names = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=40)
newlines = st.sampled_from([b"\n", b"\r\n", b"\r"])  # a lone CR ends a line too


def test_text_without_a_block_gives_nothing() -> None:
    text = (
        b"Dear customer,\nplease begin 644 reading the end of this\n=ybegin without a name\n" * 100
    )

    assert embedded_files(text) == ([], [])


def test_uuencode_block_in_the_middle_of_a_crlf_body_is_decoded() -> None:
    payload = b"MZ\x90\x00" + bytes(range(256)) * 3
    text = b"Hello,\r\nsee the file.\r\n\r\n" + uuencoded(payload, b"invoice.exe", b"\r\n")
    text += b"\r\nRegards\r\n"

    assert embedded_files(text) == ([Extracted("invoice.exe", payload, "uuencode")], [])


def test_unterminated_uuencode_keeps_what_decoded() -> None:
    payload = bytes(range(200))
    cut = uuencoded(payload, b"cut.exe").split(b"`\nend\n")[0]

    files, defects = embedded_files(cut)

    assert files == [Extracted("cut.exe", payload, "uuencode")]
    assert defects == ['uuencode block "cut.exe" not terminated']


def test_lines_that_cannot_be_uuencode_inside_a_block_are_skipped() -> None:
    payload = bytes(range(256)) * 2
    lines = uuencoded(payload, b"setup.exe").split(b"\n")
    lines[5:5] = [b">From the mbox escaping", b""]

    assert embedded_files(b"\n".join(lines)) == (
        [Extracted("setup.exe", payload, "uuencode")],
        ['uuencode block "setup.exe": 2 lines skipped that are not uuencode'],
    )


def test_uuencode_block_without_end_runs_to_the_next_block() -> None:
    text = b"begin 644 a.exe\n" + binascii.b2a_uu(b"MZ") + b"thanks, bye\n"
    text += uuencoded(b"second", b"b.txt")

    assert embedded_files(text) == (
        [Extracted("a.exe", b"MZ", "uuencode"), Extracted("b.txt", b"second", "uuencode")],
        [
            'uuencode block "a.exe": 1 lines skipped that are not uuencode',
            'uuencode block "a.exe" not terminated',
        ],
    )


def test_uuencode_lines_with_garbage_after_their_data_are_salvaged_with_one_defect() -> None:
    lines = [binascii.b2a_uu(b"abcdefghij")[:-1] + b"zz junk\n" for _ in range(3)]
    text = b"begin 0644 x.bin\n" + b"".join(lines) + b"`\nend\n"

    files, defects = embedded_files(text)

    assert files == [Extracted("x.bin", b"abcdefghij" * 3, "uuencode")]
    assert defects == ['uuencode block "x.bin": 3 lines longer than their length character says']


def test_uuencode_lines_whose_trailing_spaces_were_stripped_still_decode() -> None:
    payload = bytes(44) + b"\x01"
    lines = uuencoded(payload, b"z.bin").split(b"\n")
    text = b"\n".join(line.rstrip(b" ") for line in lines)

    assert embedded_files(text) == ([Extracted("z.bin", payload, "uuencode")], [])


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2000), names, newlines)
def test_uuencode_round_trips_any_content_and_name(
    content: bytes, name: str, newline: bytes
) -> None:
    text = b"some text\n" + uuencoded(content, name.encode(), newline) + b"more text\n"

    assert embedded_files(text) == ([Extracted(name, content, "uuencode")], [])


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2000), names, st.integers(1, 200), newlines)
def test_yenc_round_trips_any_content_and_name(
    content: bytes, name: str, line_length: int, newline: bytes
) -> None:
    text = b"intro\n" + yencoded(content, name.encode(), line_length, newline) + b"outro\n"

    assert embedded_files(text) == ([Extracted(name, content, "yEnc")], [])


def test_yenc_escapes_of_critical_bytes_decode() -> None:
    payload = bytes((0x100 - 42, 0x100 - 42 + 10, 0x100 - 42 + 13, 61 - 42, 9 - 42 + 0x100)) * 50
    text = yencoded(payload, b"critical.bin", line_length=16, newline=b"\r\n")

    assert text.count(b"=@") == 50 and text.count(b"=J") == 50 and text.count(b"=}") == 50
    assert embedded_files(text) == ([Extracted("critical.bin", payload, "yEnc")], [])


def test_yenc_crc_mismatch_is_a_defect() -> None:
    text = yencoded(b"hello world", b"h.txt").replace(b"crc32=", b"crc32=1")

    assert embedded_files(text)[1] == ['yEnc block "h.txt": CRC mismatch']


def test_yenc_size_mismatch_is_a_defect() -> None:
    text = yencoded(b"hello world", b"h.txt").replace(b"=yend size=11", b"=yend size=12")

    assert embedded_files(text)[1] == ['yEnc block "h.txt": 11 bytes, its end line says 12']


def test_unterminated_yenc_keeps_what_decoded() -> None:
    text = yencoded(b"partial payload", b"p.bin").split(b"=yend")[0]

    assert embedded_files(text) == (
        [Extracted("p.bin", b"partial payload", "yEnc")],
        ['yEnc block "p.bin" not terminated'],
    )


def test_yenc_parts_of_one_file_are_joined() -> None:
    payload = os.urandom(3000)
    first, second = payload[:1000], payload[1000:]
    text = yencoded(first, b"big.exe", part=1).replace(b"=ybegin part=1", b"=ybegin part=1 total=2")
    text = text.replace(b"\n", b"\n=ypart begin=1 end=1000\n", 1)
    later = yencoded(second, b"big.exe", part=2).replace(
        b"=ybegin part=2", b"=ybegin part=2 total=2"
    )
    later = later.replace(b"\n", b"\n=ypart begin=1001 end=3000\n", 1)
    later = later.replace(b"pcrc32=", b"crc32=%08x pcrc32=" % zlib.crc32(payload))

    assert embedded_files(text + b"\n" + later) == ([Extracted("big.exe", payload, "yEnc")], [])


def test_yenc_part_whose_whole_file_crc_mismatches_is_a_defect() -> None:
    text = yencoded(b"only part", b"one.bin", part=1).replace(
        b"=ybegin part=1", b"=ybegin part=1 total=1"
    )
    text = text.replace(b"pcrc32=", b"crc32=00000000 pcrc32=")

    assert embedded_files(text)[1] == ['yEnc file "one.bin": CRC mismatch']


def test_uuencode_and_yenc_blocks_come_in_text_order() -> None:
    text = uuencoded(b"first", b"1.txt") + b"between\n" + yencoded(b"second", b"2.txt")
    text += uuencoded(b"third", b"3.txt")

    assert [f.name for f in embedded_files(text)[0]] == ["1.txt", "2.txt", "3.txt"]


def test_more_blocks_than_the_limit_is_a_defect() -> None:
    text = b"".join(uuencoded(b"x", b"%d.txt" % n) for n in range(MAX_EMBEDDED + 5))

    files, defects = embedded_files(text)

    assert len(files) == MAX_EMBEDDED
    assert defects == [f"more than {MAX_EMBEDDED} uuencode/yEnc blocks"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                [b"begin 644 a.exe", b"=ybegin line=128 size=3 name=b", b"=yend", b"end"]
            ),
            st.sampled_from([b"`", b"M", b"=ypart begin=1 end=9", b"=", b"", b"\r"]),
            st.binary(max_size=80).filter(lambda line: b"\n" not in line),
        ),
        max_size=30,
    )
)
def test_any_text_gives_files_and_defects_never_an_exception(lines: list[bytes]) -> None:
    files, defects = embedded_files(b"\n".join(lines))

    assert len(files) <= MAX_EMBEDDED
    assert all(isinstance(defect, str) for defect in defects)


# --- TNEF -----------------------------------------------------------------------------------

MESSAGE, ATTACHMENT = 1, 2
IMESSAGE_SIGNATURE = b"\x07\x03\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"


def tnef_attribute(level: int, attribute: int, kind: int, data: bytes, checksum: int = -1) -> bytes:
    """One TNEF attribute: level, id, type, length, data, and the 16-bit sum of the data."""
    if checksum < 0:
        checksum = sum(data) & 0xFFFF
    return (
        struct.pack("<BHHI", level, attribute, kind, len(data)) + data + struct.pack("<H", checksum)
    )


def mapi_property(kind: int, tag: int, value: bytes) -> bytes:
    """One MAPI property of a variable-length type: one value, padded to 4 bytes."""
    padded = value + bytes(-len(value) % 4)
    return struct.pack("<HHII", kind, tag, 1, len(value)) + padded


def tnef_stream(attachments: list[bytes], code_pages: bytes = struct.pack("<II", 1252, 0)) -> bytes:
    """A winmail.dat: signature, key, version, attOemCodepage (`code_pages`: the primary and
    secondary code page, 32 bits each), then the attachments' attributes."""
    header = b"\x78\x9f\x3e\x22" + struct.pack("<H", 0x1234)
    version = tnef_attribute(MESSAGE, 0x9006, 0x0008, struct.pack("<I", 0x10000))
    code_page = tnef_attribute(MESSAGE, 0x9007, 0x0006, code_pages)
    return header + version + code_page + b"".join(attachments)


def tnef_attachment(
    data: bytes, title: bytes, long_name: bytes = b"", data_checksum: int = -1
) -> bytes:
    """attAttachRendData opens an attachment; attAttachTitle is the 8.3 name; the long name
    is the MAPI property PR_ATTACH_LONG_FILENAME inside attAttachment."""
    parts = [
        tnef_attribute(ATTACHMENT, 0x9002, 0x0006, struct.pack("<HIIHI", 1, 0xFFFFFFFF, 0, 0, 0)),
        tnef_attribute(ATTACHMENT, 0x8010, 0x0001, title + b"\x00"),
        tnef_attribute(ATTACHMENT, 0x800F, 0x0006, data, data_checksum),
    ]
    if long_name:
        properties = struct.pack("<I", 1) + mapi_property(0x001E, 0x3707, long_name + b"\x00")
        parts.append(tnef_attribute(ATTACHMENT, 0x9005, 0x0006, properties))
    return b"".join(parts)


def test_tnef_attachments_are_named_by_their_long_file_name() -> None:
    winmail = tnef_stream(
        [
            tnef_attachment(b"MZ\x90\x00payload", b"INVOIC~1.EXE", b"invoice 2024.pdf.exe"),
            tnef_attachment(b"plain", b"NOTES.TXT"),
        ]
    )

    assert looks_like_tnef(winmail[:4])
    assert tnef_files(winmail) == (
        [
            Extracted("invoice 2024.pdf.exe", b"MZ\x90\x00payload", "TNEF"),
            Extracted("NOTES.TXT", b"plain", "TNEF"),
        ],
        [],
    )


def test_tnef_short_names_in_a_windows_code_page_are_decoded() -> None:
    winmail = tnef_stream([tnef_attachment(b"data", b"CAF\xc9.EXE")])

    assert tnef_files(winmail) == ([Extracted("CAFÉ.EXE", b"data", "TNEF")], [])


def test_tnef_message_attached_inside_tnef_gives_its_attachments_too() -> None:
    inner = tnef_stream([tnef_attachment(b"MZ inner payload", b"INNER.EXE")])
    embedded = struct.pack("<I", 1) + mapi_property(0x000D, 0x3701, IMESSAGE_SIGNATURE + inner)
    outer = tnef_stream(
        [
            tnef_attribute(ATTACHMENT, 0x9002, 0x0006, bytes(14))
            + tnef_attribute(ATTACHMENT, 0x8010, 0x0001, b"FORWARD.MSG\x00")
            + tnef_attribute(ATTACHMENT, 0x9005, 0x0006, embedded)
        ]
    )

    files, defects = tnef_files(outer)

    assert [(f.name, f.source) for f in files] == [("FORWARD.MSG", "TNEF"), ("INNER.EXE", "TNEF")]
    assert files[1].content == b"MZ inner payload"
    assert defects == []


def test_tnef_checksum_mismatch_is_a_defect_and_the_file_is_kept() -> None:
    winmail = tnef_stream([tnef_attachment(b"data", b"A.BIN", data_checksum=1)])

    assert tnef_files(winmail) == (
        [Extracted("A.BIN", b"data", "TNEF")],
        ["TNEF: checksum mismatch"],
    )


@pytest.mark.parametrize("content", [b"", b"not tnef at all"], ids=["empty", "text"])
def test_content_without_the_tnef_signature_cannot_be_read(content: bytes) -> None:
    assert tnef_files(content) == ([], ["TNEF: cannot be read (no TNEF signature)"])


def test_truncated_tnef_keeps_what_was_read() -> None:
    winmail = tnef_stream([tnef_attachment(b"0123456789" * 10, b"CUT.EXE")])

    assert tnef_files(winmail[:-50]) == (
        [Extracted("CUT.EXE", (b"0123456789" * 10)[:52], "TNEF")],
        ["TNEF: truncated"],
    )


def test_tnef_claiming_four_billion_properties_is_read_quickly() -> None:
    properties = struct.pack("<IHHI", 0xFFFF_FFFF, 0x0003, 0x0E20, 1)
    winmail = tnef_stream(
        [tnef_attachment(b"data", b"A.EXE") + tnef_attribute(ATTACHMENT, 0x9005, 6, properties)]
    )

    started = time.monotonic()
    files, defects = tnef_files(winmail)

    assert time.monotonic() - started < 1
    assert files == [Extracted("A.EXE", b"data", "TNEF")]
    assert defects == ["TNEF: malformed MAPI properties"]


def test_tnef_attachment_data_in_a_mapi_property_keeps_its_trailing_nul_bytes() -> None:
    payload = b"MZ" + bytes(30)
    properties = struct.pack("<I", 1) + mapi_property(0x0102, 0x3701, payload)
    winmail = tnef_stream(
        [
            tnef_attribute(ATTACHMENT, 0x9002, 0x0006, bytes(14))
            + tnef_attribute(ATTACHMENT, 0x8010, 0x0001, b"PADDED.EXE\x00")
            + tnef_attribute(ATTACHMENT, 0x9005, 0x0006, properties)
        ]
    )

    assert tnef_files(winmail) == ([Extracted("PADDED.EXE", payload, "TNEF")], [])


def test_tnef_unicode_long_name_after_named_and_fixed_properties_is_found() -> None:
    named = struct.pack("<HH", 0x0003, 0x8005) + bytes(16) + struct.pack("<III", 0, 0x8233, 7)
    fixed_short = struct.pack("<HHH", 0x000B, 0x7FFE, 1) + bytes(2)
    long_name = mapi_property(0x001F, 0x3707, "facture été.exe\x00".encode("utf-16-le"))
    properties = struct.pack("<I", 3) + named + fixed_short + long_name
    winmail = tnef_stream(
        [
            tnef_attachment(b"data", b"FACTUR~1.EXE")
            + tnef_attribute(ATTACHMENT, 0x9005, 6, properties)
        ]
    )

    assert tnef_files(winmail) == ([Extracted("facture été.exe", b"data", "TNEF")], [])


def test_tnef_signature_is_recognised_only_at_the_start() -> None:
    assert looks_like_tnef(b"\x78\x9f\x3e\x22\x01\x00")
    assert not looks_like_tnef(b"x\x78\x9f\x3e\x22")


def test_more_tnef_attachments_than_the_limit_is_a_defect() -> None:
    attachments = [tnef_attachment(b"data", b"%d.TXT" % n) for n in range(MAX_EMBEDDED + 1)]

    files, defects = tnef_files(tnef_stream(attachments))

    assert len(files) == MAX_EMBEDDED
    assert defects == [f"TNEF: more than {MAX_EMBEDDED} attachments"]


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 400), st.binary(min_size=1, max_size=6))
def test_damaged_tnef_gives_files_or_a_defect_never_an_exception(at: int, damage: bytes) -> None:
    winmail = bytearray(tnef_stream([tnef_attachment(b"MZ payload", b"A.EXE", b"long a.exe")]))
    winmail[at : at + len(damage)] = damage

    files, defects = tnef_files(bytes(winmail))

    assert all(isinstance(file, Extracted) for file in files)
    assert all(isinstance(defect, str) for defect in defects)


PS_PUBLIC_STRINGS = bytes.fromhex("2903020000000000c000000000000046")
"""{00020329-0000-0000-C000-000000000046}, the GUID of string-named MAPI properties."""
PSETID_COMMON = bytes.fromhex("0820060000000000c000000000000046")
"""{00062008-0000-0000-C000-000000000046}, the GUID of Outlook's common named properties."""


def long_name_after(first_property: bytes) -> bytes:
    """A winmail.dat whose attachment has the short name INVOIC~1.EXE and, in its MAPI
    properties, `first_property` and then the long name `invoice 2024.pdf.exe`."""
    long_name = mapi_property(0x001E, 0x3707, b"invoice 2024.pdf.exe\x00")
    properties = struct.pack("<I", 2) + first_property + long_name
    return tnef_stream(
        [
            tnef_attachment(b"MZ", b"INVOIC~1.EXE")
            + tnef_attribute(ATTACHMENT, 0x9005, 6, properties)
        ]
    )


def test_tnef_long_name_after_the_first_named_property_is_found() -> None:
    """Outlook numbers its named properties from 0x8000: that first one is led by a GUID too,
    and reading it as an ordinary property would lose the long name behind it."""
    smart_no_attach = struct.pack("<II", 0, 0x8514) + struct.pack("<HH", 1, 0)  # a boolean
    named = struct.pack("<HH", 0x000B, 0x8000) + PSETID_COMMON + smart_no_attach

    assert tnef_files(long_name_after(named)) == (
        [Extracted("invoice 2024.pdf.exe", b"MZ", "TNEF")],
        [],
    )


def test_tnef_long_name_after_a_property_named_by_a_string_is_found() -> None:
    """A named property can be named by a UTF-16 string rather than a number; its length
    is a 32-bit count, and misreading it would hide the long name that follows."""
    name = "Keywords\x00".encode("utf-16-le")
    named = (
        struct.pack("<HH", 0x0003, 0x8001)
        + PS_PUBLIC_STRINGS
        + struct.pack("<II", 1, len(name))
        + name
        + bytes(-len(name) % 4)
        + struct.pack("<I", 1)
    )

    assert tnef_files(long_name_after(named)) == (
        [Extracted("invoice 2024.pdf.exe", b"MZ", "TNEF")],
        [],
    )


def test_tnef_long_name_after_a_multi_valued_property_is_found() -> None:
    """A multi-valued fixed-size property holds a count and that many values: skipping it
    as a single value would read its values as the next property and lose the long name."""
    multi_valued = struct.pack("<HHIii", 0x1003, 0x7FFD, 2, 7, 9)

    assert tnef_files(long_name_after(multi_valued)) == (
        [Extracted("invoice 2024.pdf.exe", b"MZ", "TNEF")],
        [],
    )


def attached_message(inner: bytes, title: bytes) -> bytes:
    """An attachment that is a message: its PR_ATTACH_DATA an object, the IMessage GUID
    followed by the TNEF stream `inner`."""
    embedded = struct.pack("<I", 1) + mapi_property(0x000D, 0x3701, IMESSAGE_SIGNATURE + inner)
    return (
        tnef_attribute(ATTACHMENT, 0x9002, 0x0006, bytes(14))
        + tnef_attribute(ATTACHMENT, 0x8010, 0x0001, title + b"\x00")
        + tnef_attribute(ATTACHMENT, 0x9005, 0x0006, embedded)
    )


@pytest.mark.parametrize(
    "code_pages",
    [struct.pack("<II", 65001, 1252), struct.pack("<I", 65001)],
    ids=["primary-and-secondary", "primary-only"],
)
def test_tnef_short_names_are_read_in_the_code_page_the_stream_declares(code_pages: bytes) -> None:
    """attOemCodepage gives the primary code page in its first 32 bits, then perhaps a
    secondary one; a name read in another code page than the one declared (or taken from
    another attribute) would be mangled, and a rule on file names would not match it."""
    winmail = tnef_stream([tnef_attachment(b"data", "CAFÉ.EXE".encode())], code_pages)

    assert tnef_files(winmail) == ([Extracted("CAFÉ.EXE", b"data", "TNEF")], [])


@pytest.mark.parametrize(
    ("code_page", "title"),
    [(65001, b"A\xff.EXE"), (0, b"A\x81.EXE")],
    ids=["invalid-utf8", "unknown-code-page"],
)
def test_tnef_names_with_bytes_their_code_page_cannot_read_keep_the_rest(
    code_page: int, title: bytes
) -> None:
    """A hostile winmail.dat can put bytes in a name that its code page (or cp1252, used when
    the code page is unknown) does not define: the name is still read, with a replacement
    character, rather than being read in another code page or failing the whole message."""
    winmail = tnef_stream([tnef_attachment(b"data", title)], struct.pack("<II", code_page, 0))

    assert tnef_files(winmail) == ([Extracted("A\ufffd.EXE", b"data", "TNEF")], [])


def test_tnef_name_ends_at_its_first_nul() -> None:
    """A title padded with NUL bytes, as fixed-size fields are, is named by what precedes the
    first NUL: reading on to the last would give a name no rule on extensions matches."""
    winmail = tnef_stream([tnef_attachment(b"MZ", b"A.EXE\x00\x00\x00")])

    assert tnef_files(winmail) == ([Extracted("A.EXE", b"MZ", "TNEF")], [])


def test_tnef_attachment_without_name_or_data_is_extracted_unnamed_and_empty() -> None:
    """An attachment the winmail.dat opens but neither names nor fills is reported as it is,
    an empty file without a name, not given a made-up name or content."""
    winmail = tnef_stream(
        [tnef_attribute(ATTACHMENT, 0x9002, 0x0006, bytes(14)), tnef_attachment(b"MZ", b"A.EXE")]
    )

    assert tnef_files(winmail) == (
        [Extracted("", b"", "TNEF"), Extracted("A.EXE", b"MZ", "TNEF")],
        [],
    )


def test_tnef_object_attachment_that_is_no_message_keeps_all_its_data() -> None:
    """An OLE object embedded by Outlook has PR_ATTACH_DATA of the object type too, but is
    no attached message: it is scanned whole, not read as a message without its first bytes."""
    ole_object = bytes.fromhex("0b0d020000000000c000000000000046") + b"MZ embedded object"
    properties = struct.pack("<I", 1) + mapi_property(0x000D, 0x3701, ole_object)
    winmail = tnef_stream(
        [
            tnef_attribute(ATTACHMENT, 0x9002, 0x0006, bytes(14))
            + tnef_attribute(ATTACHMENT, 0x8010, 0x0001, b"OBJECT.BIN\x00")
            + tnef_attribute(ATTACHMENT, 0x9005, 0x0006, properties)
        ]
    )

    assert tnef_files(winmail) == ([Extracted("OBJECT.BIN", ole_object, "TNEF")], [])


def test_tnef_attachment_attributes_qmvc_does_not_use_open_no_attachment() -> None:
    """An attachment's dates (attAttachModifyDate) given before attAttachRendData belong to
    the attachment it opens: they add no nameless empty file before it."""
    modified = tnef_attribute(ATTACHMENT, 0x8013, 0x0003, bytes(14))
    winmail = tnef_stream([modified + tnef_attachment(b"MZ", b"A.EXE")])

    assert tnef_files(winmail) == ([Extracted("A.EXE", b"MZ", "TNEF")], [])


def test_tnef_cut_inside_an_attribute_header_keeps_the_attachments_and_is_a_defect() -> None:
    """A winmail.dat cut in the middle of an attribute's header keeps the attachments read
    before, and the cut is reported rather than read as more (empty) attributes."""
    winmail = tnef_stream([tnef_attachment(b"MZ", b"A.EXE")]) + struct.pack("<BH", 2, 0x800F)

    assert tnef_files(winmail) == (
        [Extracted("A.EXE", b"MZ", "TNEF")],
        ["TNEF: truncated"],
    )


def test_tnef_long_name_after_an_empty_property_is_found() -> None:
    """A variable-length property can hold zero bytes (an empty PR_ATTACH_ENCODING): that is
    no malformed list, and the long name after it is read."""
    empty = mapi_property(0x0102, 0x3702, b"")

    assert tnef_files(long_name_after(empty)) == (
        [Extracted("invoice 2024.pdf.exe", b"MZ", "TNEF")],
        [],
    )


def nested_messages(depth: int) -> bytes:
    """A winmail.dat whose attachment L1.MSG is a message whose attachment L2.MSG is a message,
    and so on to L`depth`.MSG, a message whose attachment is PAYLOAD.EXE."""
    winmail = tnef_stream([tnef_attachment(b"MZ", b"PAYLOAD.EXE")])
    for level in range(depth, 0, -1):
        winmail = tnef_stream([attached_message(winmail, b"L%d.MSG" % level)])
    return winmail


def test_tnef_messages_nested_to_the_limit_are_read_and_deeper_ones_are_a_defect() -> None:
    """Messages attached in messages are followed ten deep, so that the payload at the bottom
    of an ordinary chain of forwards is scanned; deeper nesting stops with a defect."""
    files, defects = tnef_files(nested_messages(10))

    assert [f.name for f in files] == [f"L{n}.MSG" for n in range(1, 11)] + ["PAYLOAD.EXE"]
    assert files[-1].content == b"MZ"
    assert defects == []

    files, defects = tnef_files(nested_messages(11))

    assert [f.name for f in files] == [f"L{n}.MSG" for n in range(1, 12)]
    assert defects == ["TNEF: attached messages nested deeper than 10"]


def test_tnef_attachments_to_the_limit_are_no_defect_but_a_message_overflowing_it_is() -> None:
    """Exactly the limit of attachments is no defect; but when the last of them is a message
    whose own attachments go past the limit, the files left out are reported."""
    plain = [tnef_attachment(b"data", b"%d.TXT" % n) for n in range(MAX_EMBEDDED - 1)]
    inner = tnef_stream([tnef_attachment(b"MZ", b"INNER.EXE")])

    files, defects = tnef_files(tnef_stream([*plain, tnef_attachment(b"data", b"LAST.TXT")]))

    assert (len(files), defects) == (MAX_EMBEDDED, [])

    files, defects = tnef_files(tnef_stream([*plain, attached_message(inner, b"LAST.MSG")]))

    assert len(files) == MAX_EMBEDDED
    assert files[-1].name == "LAST.MSG"
    assert defects == [f"TNEF: more than {MAX_EMBEDDED} attachments"]


# --- yEnc multi-part posts: names, parts and CRCs -------------------------------------------


def yenc_post(
    content: bytes,
    name: bytes,
    total: int,
    whole_crc: int | None = None,
    crc_on_every_part: bool = False,
) -> list[bytes]:
    """`content` as a multi-part yEnc post (yEnc 1.3), one block per part: `=ybegin part= total=`
    with the whole size, `=ypart begin= end=`, the data, `=yend size= part= pcrc32=`. The last
    part's `=yend` (every part's, as some encoders write) also gives the whole file's `crc32`:
    `whole_crc`, the right one unless given."""
    whole = zlib.crc32(content) if whole_crc is None else whole_crc
    cut = -(-len(content) // total)
    blocks = []
    for part in range(1, total + 1):
        first, last = (part - 1) * cut, min(part * cut, len(content))
        piece = content[first:last]
        data = yencoded(piece, name).split(b"\n")[1:-2]
        header = b"=ybegin part=%d total=%d line=128 size=%d name=%s" % (
            part,
            total,
            len(content),
            name,
        )
        ypart = b"=ypart begin=%d end=%d" % (first + 1, last)
        end = b"=yend size=%d part=%d pcrc32=%08x" % (len(piece), part, zlib.crc32(piece))
        if part == total or crc_on_every_part:
            end += b" crc32=%08x" % whole
        blocks.append(b"\n".join([header, ypart, *data, end]) + b"\n")
    return blocks


YENC_PAYLOAD = bytes(range(256)) * 8


def test_yenc_name_is_the_rest_of_the_header_line_even_when_it_looks_like_parameters() -> None:
    """yEnc decoders take `name=` as the last parameter, the rest of the line: a name that
    itself holds ` name=` or ` part=1` must be read whole, not cut at its last ` name=` (qmvc
    would check a name the user never sees) nor taken for parameters (a fake part number would
    keep the parts apart, and the assembled file would go unchecked)."""
    name = b"setup.exe name=readme.txt part=1"
    text = b"Here it is:\n" + b"\n".join(yenc_post(YENC_PAYLOAD, name, 2)) + b"bye\n"

    assert embedded_files(text) == ([Extracted(name.decode(), YENC_PAYLOAD, "yEnc")], [])


def test_yenc_part_whose_pcrc32_mismatches_is_a_defect() -> None:
    """Each part's `pcrc32=` checks that part: a part altered on its way (or forged to differ
    from what its `=yend` claims) is reported, even when the parts are still joined."""
    first, second = yenc_post(YENC_PAYLOAD, b"big.exe", 2)
    second = second.replace(b"pcrc32=", b"pcrc32=1")

    assert embedded_files(first + second) == (
        [Extracted("big.exe", YENC_PAYLOAD, "yEnc")],
        ['yEnc block "big.exe": CRC mismatch'],
    )


def test_yenc_whole_file_crc32_on_every_part_is_checked_only_on_the_joined_file() -> None:
    """Encoders may give the whole file's `crc32=` on every part's `=yend`: it is checked once
    the last part is joined, not against the first part alone (a false defect on every
    well-formed multi-part post)."""
    text = b"".join(yenc_post(YENC_PAYLOAD, b"big.exe", 3, crc_on_every_part=True))

    assert embedded_files(text) == ([Extracted("big.exe", YENC_PAYLOAD, "yEnc")], [])


def test_yenc_whole_file_crc32_in_hex_that_mismatches_the_joined_file_is_a_defect() -> None:
    """The last part's `crc32=` is hexadecimal, like `0a1b2c3d`: a hostile post whose parts
    each check out but whose joined file does not match it (parts swapped or forged) must be
    reported, not skipped because the hex digits do not parse as decimal."""
    text = b"".join(yenc_post(YENC_PAYLOAD, b"big.exe", 2, whole_crc=0x0A1B2C3D))

    assert zlib.crc32(YENC_PAYLOAD) != 0x0A1B2C3D
    assert embedded_files(text) == (
        [Extracted("big.exe", YENC_PAYLOAD, "yEnc")],
        ['yEnc file "big.exe": CRC mismatch'],
    )


def test_uuencode_end_line_with_trailing_blanks_ends_the_block() -> None:
    """Gateways pad lines with blanks; `end  ` still ends the block, as uudecode reads it:
    not a defect, and the text after it is not taken for the file's data."""
    payload = bytes(range(200))
    block = uuencoded(payload, b"patch.exe").replace(b"\nend\n", b"\nend  \n")
    assert embedded_files(block + b"M" * 61 + b"\n") == (
        [Extracted("patch.exe", payload, "uuencode")],
        [],
    )


def test_a_uuencode_block_is_no_first_part_for_a_yenc_part_two_of_the_same_name() -> None:
    """Only yEnc parts are joined, from part 1 on: a uuencoded `a.exe` followed by a yEnc
    part 2 named `a.exe` are two files, each tested as it is, not one file glued together."""
    first = bytes(range(90))
    _, second = yenc_post(YENC_PAYLOAD, b"a.exe", 2)
    files, _ = embedded_files(uuencoded(first, b"a.exe") + second)
    assert [(file.name, file.source) for file in files] == [
        ("a.exe", "uuencode"),
        ("a.exe", "yEnc"),
    ]
    assert files[0].content == first


def test_a_checksum_character_after_a_full_uuencode_line_is_a_long_line_not_data() -> None:
    """Some encoders put a checksum character after each line's data: a full 45-byte line
    (`M` and 60 characters) followed by one decodes to its 45 bytes, with the defect that
    says so, as uudecode reads it."""
    payload = bytes(range(45))
    block = uuencoded(payload, b"full.exe")
    data_line = binascii.b2a_uu(payload).rstrip(b"\n")
    assert len(data_line) == 61
    block = block.replace(data_line + b"\n", data_line + b"A\n", 1)
    assert embedded_files(block) == (
        [Extracted("full.exe", payload, "uuencode")],
        ['uuencode block "full.exe": 1 lines longer than their length character says'],
    )
