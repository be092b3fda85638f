"""uuencode and yEnc blocks inside a text body: Outlook Express and newsreaders show them as
attachments."""

from __future__ import annotations

import binascii
import re
import zlib
from collections.abc import Iterator

from qmvc.message.containers.records import MAX_EMBEDDED, Extracted
from qmvc.record import Record

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
    joined into one file, as newsreaders do. Text without a block costs one bytes.find.
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
    if text.find(b"begin ", position) < 0:  # memchr speed: most text has neither block
        return -1
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
    try:
        data = binascii.a2b_uu(encoded)
    except binascii.Error:  # bits set in the padding past the length: "trailing garbage"
        return None
    return data, not line[width:].strip(b" `")


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
