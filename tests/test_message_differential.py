"""qmvc against ripmime, an independent C MIME extractor used as an oracle.

Every file ripmime takes out of a message must be a part qmvc sees, with the same decoded bytes;
when ripmime names the file from the message (not textfileN, its own invention) that name must
be among the part's candidate names. qmvc may see more than ripmime (archive members, yEnc,
Content-Name), never less.

ripmime has habits of its own: it keeps the line break before a boundary, saves the preamble,
numbers repeated names, cuts names at a '?'. Each is one function in the quirk table below,
named for what ripmime does, with a message that shows it (`test_ripmime_still_has_quirk` runs
every example, so a quirk a newer ripmime drops is noticed). One difference is qmvc's by design,
not ripmime's: a lone CR ends a line, as clients read it, so ripmime is given the message with
that one change (`oracle_files`). Nothing else loosens the comparison.

The corpus messages (tests/corpus/*.eml and attacks/*.eml) are compared as they are, then a few
thousand mutations of them (header case, blanks before colons, parameters duplicated or dropped,
boundaries changed, CRLF/LF, truncation, junk lines, filename/filename* flipped, transfer
encodings changed). A mutated message where ripmime extracts a file qmvc has not got is saved
under FAILURES with what each side saw, for a human to judge.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from random import Random

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from qmvc.message import Envelope, MessageFacts
from qmvc.message.mime import clients_line_ends
from tests.corpus import make_corpus

RIPMIME = shutil.which("ripmime")
pytestmark = pytest.mark.skipif(RIPMIME is None, reason="needs Debian's ripmime")

CORPUS = Path(make_corpus.__file__).parent
ENVELOPE = Envelope.from_addresses(make_corpus.SENDER, make_corpus.RECIPIENT)
RIPMIME_SECONDS = 5
"""ripmime's own CPU limit (--timeout): it is quadratic on a 1 MB header. A message it gives
up on has no oracle: a corpus test says so by skipping, a batch of mutations fails when more
than a tenth of it has none."""
MUTATION_BASE_LIMIT = 64 * 1024
"""Corpus messages up to this size that start with a header are mutated: larger ones add time,
not shapes, and random bytes have no structure to change."""
FAILURES = Path(
    os.environ.get(
        "QMVC_DIFFERENTIAL_FAILURES",
        Path(tempfile.gettempdir()) / "qmvc-differential-failures",
    )
)
"""Where a mutated message that shows a difference is kept (NAME.eml, and NAME.txt with what
each side saw), one folder per mutation."""


def corpus_messages() -> list[Path]:
    """Globbed when the tests are collected: attacks/ is still being written."""
    return sorted(CORPUS.glob("*.eml")) + sorted(CORPUS.glob("attacks/*.eml"))


# ---- running ripmime ------------------------------------------------------------------------


@dataclass(frozen=True)
class RipFile:
    """One file ripmime wrote. A part with several names (name= and filename=, say) is written
    once and hard-linked under each other name: those are `names` of one file."""

    names: tuple[bytes, ...]
    content: bytes

    def shown(self) -> str:
        listed = ", ".join(os.fsdecode(name) for name in self.names)
        return f"[{listed}] {len(self.content)} bytes {self.content[:60]!r}"


def rip(message: Path, work: Path) -> list[RipFile] | None:
    """The files ripmime extracts from `message`, or None when it gives up (time limit, crash)."""
    out = Path(tempfile.mkdtemp(dir=work))
    try:
        finished = subprocess.run(
            [RIPMIME, "-i", str(message), "-d", str(out), "--no-paranoid"]
            + ["--timeout", str(RIPMIME_SECONDS)],
            capture_output=True,
            timeout=RIPMIME_SECONDS * 3,
        )
        if finished.returncode != 0:
            return None
        by_inode: dict[int, list[Path]] = {}
        for path in out.iterdir():
            by_inode.setdefault(path.stat().st_ino, []).append(path)
        return sorted(
            (
                RipFile(tuple(sorted(os.fsencode(p.name) for p in paths)), paths[0].read_bytes())
                for paths in by_inode.values()
            ),
            key=lambda file: file.names,
        )
    except subprocess.TimeoutExpired:
        return None
    finally:
        shutil.rmtree(out, ignore_errors=True)


def rip_bytes(raw: bytes, work: Path) -> list[RipFile] | None:
    descriptor, name = tempfile.mkstemp(dir=work, suffix=".eml")
    os.close(descriptor)
    message = Path(name)
    try:
        message.write_bytes(raw)
        return rip(message, work)
    finally:
        message.unlink()


def oracle_files(raw: bytes, work: Path) -> list[RipFile] | None:
    """What ripmime extracts from the message as clients read its line ends: each lone CR made
    a LF by `clients_line_ends`, as qmvc does before it analyses anything. The one
    reconciliation outside the quirk table, for a normalisation of qmvc's own: ripmime keeps a
    lone CR inside the line, so 'Content-Type: text/plain\\rContent-Disposition: attachment;
    filename="x.exe"' is one header to it and two to Thunderbird, Outlook and qmvc (and a
    '\\r\\r' in a header block ends it for clients, not for ripmime, which saves what follows
    as doubleCR.N). A message without a lone CR goes to ripmime as it is; the quirk
    predicates read the message ripmime was given."""
    return rip_bytes(clients_line_ends(raw), work)


def rip_all(raws: Sequence[bytes], work: Path) -> list[list[RipFile] | None]:
    """`oracle_files` of many messages at once: one process each, as many as there are cores."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(lambda raw: oracle_files(raw, work), raws))


# ---- what qmvc sees -------------------------------------------------------------------------


@dataclass(frozen=True)
class SeenPart:
    """A part of qmvc's, reduced to what the comparison reads."""

    path: str
    content: bytes
    declared_type: str
    candidates: frozenset[str]  # every candidate's .raw and .name, and the preferred filename


@dataclass(frozen=True)
class Case:
    """One message as both sides saw it; what quirk predicates may consult."""

    raw: bytes  # as ripmime was given it: see `oracle_files`
    parts: tuple[SeenPart, ...]
    unanalysed: tuple[str, ...]
    files: tuple[RipFile, ...]


def seen_by_qmvc(raw: bytes) -> tuple[tuple[SeenPart, ...], tuple[str, ...]]:
    facts = MessageFacts(raw, ENVELOPE)
    parts = tuple(
        SeenPart(
            part.path,
            part.content,
            part.declared_type,
            frozenset([part.filename] + [c.raw for c in part.names] + [c.name for c in part.names])
            - {""},
        )
        for part in facts.parts
    )
    return parts, tuple(facts.unanalysed)


# ---- ripmime's quirks -----------------------------------------------------------------------
#
# Three kinds. A content quirk is true when ripmime wrote `written` for a part of qmvc's whose
# decoded content is `content`. An extra-file quirk is true when a file of ripmime's is no
# part at all (and so has no name to check). A name quirk is true when ripmime's name for a file
# comes from `candidate`, one of the part's candidate names (or was invented by ripmime).


@dataclass(frozen=True)
class Quirk:
    name: str
    kind: str  # "content", "extra file" or "name"
    example: bytes  # a message that shows the quirk
    example_file: tuple[bytes | None, bytes]  # (name, content) of a file ripmime writes for it
    check: Callable[..., bool]
    runs: int = 1
    """How many runs of ripmime it may take to see the quirk: more than one only where ripmime
    reads uninitialised memory, when the example shows it on some runs (and None as the
    name stands for a name that is nowhere in the example)."""


QUIRKS: dict[str, Quirk] = {}


def quirk(
    kind: str, example: bytes, example_file: tuple[bytes | None, bytes], runs: int = 1
) -> Callable[[Callable[..., bool]], Callable[..., bool]]:
    def register(check: Callable[..., bool]) -> Callable[..., bool]:
        QUIRKS[check.__name__] = Quirk(check.__name__, kind, example, example_file, check, runs)
        return check

    return register


def quirks_of(kind: str) -> list[Quirk]:
    return [q for q in QUIRKS.values() if q.kind == kind]


def example_message(*parts: bytes, preamble: bytes = b"", boundary: bytes = b"b") -> bytes:
    """A small multipart/mixed message around `parts` (each its headers, a blank line, a body)."""
    head = (
        b"From: Alice <alice@example.org>\nTo: bob@example.com\nSubject: quirk\n"
        b'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="' + boundary + b'"\n\n'
    )
    body = b"".join(b"--" + boundary + b"\n" + part + b"\n" for part in parts)
    return head + preamble + body + b"--" + boundary + b"--\n"


def attachment(disposition: bytes, body: bytes = b"aGVsbG8=", headers: bytes = b"") -> bytes:
    return (
        b"Content-Type: application/octet-stream\n"
        + (headers or b"Content-Transfer-Encoding: base64\n")
        + b"Content-Disposition: attachment; "
        + disposition
        + b"\n\n"
        + body
    )


TEXT_PART = b"Content-Type: text/plain\n\nHello Bob"
LINE_BREAKS = (b"\r\n", b"\n", b"\r")
_UUENCODE_ENCODINGS = rb"(?im)^content-transfer-encoding[ \t]*:[ \t]*(x-)?uue?(ncode)?[ \t]*\r?$"


def as_ripmime_reads(raw: bytes) -> bytes:
    """The message as ripmime's line reader gives it: a raw NUL is a space."""
    return raw.replace(b"\0", b" ")


def declared_boundaries(raw: bytes) -> set[bytes]:
    return set(re.findall(rb'(?i)boundary(?:\*\d*)?[ \t]*=[ \t]*"?([^";\r\n]*[^";\s])', raw))


@quirk("content", example_message(TEXT_PART), (b"textfile1", b"Hello Bob\n"))
def ripmime_keeps_the_line_break_before_a_boundary(
    written: bytes, content: bytes, case: Case
) -> bool:
    """RFC 2046 gives the line break before a boundary line to the boundary; ripmime keeps it
    in the part: 'Hello Bob' before '--b' is written 'Hello Bob\\n'. It keeps it whatever
    else it does, so the comparison also tries every other content quirk with it."""
    return any(written == content + line_break for line_break in LINE_BREAKS)


@quirk(
    "content",
    example_message(attachment(b'filename="cut.bin"', b"aGVsbG8gd29ybGQ")),
    (b"cut.bin", b"hello wor"),
)
def ripmime_drops_an_incomplete_base64_quantum(written: bytes, content: bytes, case: Case) -> bool:
    """Base64 whose letters are not a multiple of four ends in a part of a 3-byte group; ripmime
    drops it, qmvc decodes what is there: 'aGVsbG8gd29ybGQ' is 'hello wor' to ripmime and
    'hello world' to qmvc."""
    return content.startswith(written) and 1 <= len(content) - len(written) <= 2


@quirk(
    "content",
    example_message(attachment(b'filename="pad.bin"', b"aGVs\n=junk\nbG8=")),
    (b"pad.bin", b"hel"),
)
def ripmime_ends_base64_at_the_first_pad_character(
    written: bytes, content: bytes, case: Case
) -> bool:
    """ripmime stops decoding base64 at the first '=', so at a junk line such as '=ybegin' or
    at a closing delimiter it did not recognise; qmvc skips the junk and goes on: 'aGVs',
    '=junk', 'bG8=' is 'hel' to ripmime. So ripmime's file is the start of qmvc's part (qmvc
    sees more, never less), in a message with a part in base64 (or in a variant clients take
    for it, such as 'x-base64')."""
    return (
        0 < len(written) < len(content)
        and content.startswith(written)
        and any(b"base64" in words[0] for words in transfer_encodings(case.raw) if words)
    )


def transfer_encodings(raw: bytes) -> list[list[bytes]]:
    """The words of each Content-Transfer-Encoding, lower case, comments and ';' left out:
    clients go by the first word."""
    values = re.findall(rb"(?im)^content-transfer-encoding[ \t]*:([^\r\n]*)", raw)
    return [re.sub(rb"\([^)]*\)|;", b" ", value).lower().split() for value in values]


@quirk(
    "content",
    example_message(
        b'Content-Type: text/plain\nContent-Disposition: attachment; filename="n.txt"'
        b"\n\nbefore\0after"
    ),
    (b"n.txt", b"before after\n"),
)
def ripmime_reads_a_nul_in_raw_text_as_a_space(written: bytes, content: bytes, case: Case) -> bool:
    """ripmime reads lines as C strings and turns a raw NUL into a space ('before\\0after' is
    written 'before after'); a NUL it decodes (quoted-printable =00) stays."""
    return len(written) == len(content) and all(
        w == c or (c == 0 and w == 0x20) for w, c in zip(written, content, strict=True)
    )


@quirk(
    "content",
    example_message(TEXT_PART)
    .replace(b'; boundary="b"', b"")
    .replace(b"\n--b\n", b"\n--lost\n")
    .replace(b"--b--", b"--lost--"),
    (b"textfile0", b"Hello Bob\n--lost--\n"),
)
def ripmime_keeps_the_closing_delimiter_of_a_boundary_it_guessed(
    written: bytes, content: bytes, case: Case
) -> bool:
    """For a multipart without a boundary parameter ripmime takes the first '--' line as the
    boundary, but not that boundary's closing line, which it keeps in the last part: 'Hello
    Bob' is written 'Hello Bob\\n--lost--\\n' (or, after a quoted-printable soft line break,
    with no line break between them)."""
    declared = declared_boundaries(case.raw)
    return any(
        written == content + line_break + closing
        for closing in re.findall(rb"(?m)^--[^\r\n]+--\r?\n", case.raw)
        if closing.rstrip(b"\r\n")[2:-2] not in declared
        for line_break in (*LINE_BREAKS, b"")
    )


_UU_BEGIN_LINE = re.compile(rb"(?m)^begin [0-7]{3,4} [^\r\n]*\r?\n")
_RIPMIME_UU_FLUSH = 4000
"""ripmime's uudecoder writes its buffer out when it holds this many bytes (uuencode.c)."""


def ripmime_uudecode(block: bytes) -> tuple[bytes, frozenset[str]]:
    """The file ripmime's uudecoder (UUENCODE_decode_uu) writes for the lines after a 'begin'
    line, redone here, and the habits it showed on them: "junk" when it decoded a line that
    is no uuencode (any line is `length character, data` to it: its garbage goes in the
    file), "stop" when it ended at a line of length zero (a '`' or blank length character,
    or an empty line) with data still to come before 'end'. Lines are read to their LF (with
    the CR of a CR LF in them); a line starting 'end' ends the file; a text that ends first
    leaves only what had been written out."""
    written, buffered = bytearray(), bytearray()
    habits: set[str] = set()
    started = False
    lines = re.findall(rb"[^\n]*\n|[^\n]+$", block)
    for index, line in enumerate(lines):
        if not line.endswith(b"\n"):
            return bytes(written), frozenset(habits)
        if line[:3].lower() == b"end":
            break
        if not started and line[:1] in (b"\r", b"\n"):
            continue
        started = True
        size = (line[0] - 32) & 63
        if size == 0 or line[:1] == b"\n":
            if _clean_uudecode(b"".join(lines[index + 1 :])):
                habits.add("stop")
            break
        if _clean_uu_line(line.rstrip(b"\r\n")) is None:
            habits.add("junk")
        expected = (size + 2) // 3 * 4
        buffer = bytearray(line) + b" " * max(0, expected + 2 - len(line))
        buffer[len(line) - 1 : expected + 1] = b" " * len(buffer[len(line) - 1 : expected + 1])
        for at in range(1, expected + 1, 4):
            a, b, c, d = ((byte - 32) & 63 for byte in buffer[at : at + 4])
            group = bytes(((a << 2 | b >> 4) & 255, (b << 4 | c >> 2) & 255, (c << 6 | d) & 255))
            if len(buffered) >= _RIPMIME_UU_FLUSH:
                written += buffered
                buffered.clear()
            buffered += group[: min(size, 3)]
            size -= 3
    return bytes(written + buffered), frozenset(habits)


def _clean_uudecode(block: bytes) -> bytes:
    """The lines after a 'begin' line decoded as uuencode up to 'end' (or the next 'begin'),
    by binascii, every line binascii cannot read left out."""
    decoded = bytearray()
    for line in re.split(rb"\r?\n", block):
        if line.rstrip() == b"end" or _UU_BEGIN_LINE.match(line + b"\n"):
            break
        decoded += _clean_uu_line(line) or b""
    return bytes(decoded)


def _clean_uu_line(line: bytes) -> bytes | None:
    """One uuencode line by binascii (characters past what its length character says, a
    checksum some encoders add, left out); None for an empty line, one whose length character
    is outside the uuencode alphabet (binascii does not check it: a tab would be 41 bytes),
    or one binascii refuses."""
    if not line or not 0x20 <= line[0] <= 0x60:
        return None
    try:
        return binascii.a2b_uu(line[: 1 + (((line[0] - 32) & 63) + 2) // 3 * 4])
    except binascii.Error:
        return None


@functools.lru_cache(maxsize=16)
def _uuencode_blocks(text: bytes) -> tuple[tuple[bytes, frozenset[str], bytes], ...]:
    """(ripmime's file, its habits, the clean decode) of each uuencode block in `text`; ripmime
    reads a raw NUL as a space (`as_ripmime_reads`)."""
    return tuple(
        (
            *ripmime_uudecode(as_ripmime_reads(text[begin.end() :])),
            _clean_uudecode(text[begin.end() :]),
        )
        for begin in _UU_BEGIN_LINE.finditer(text)
    )


def _uuencode_habit(habit: str, written: bytes, content: bytes, case: Case) -> bool:
    """Whether a uuencode block of the message (as it stands, or in a part's decoded text)
    is `written` as ripmime decodes it, showing `habit`, and `content` decoded cleanly."""
    return written != content and any(
        habit in habits and ripmime_file == written and clean == content
        for text in (case.raw, *(part.content for part in case.parts))
        for ripmime_file, habits, clean in _uuencode_blocks(text)
    )


@quirk(
    "content",
    example_message(b"Content-Type: text/plain\n\nbegin 644 x.bin\n#86)C\n>From x\n#9&5F\n`\nend"),
    (b"x.bin", ripmime_uudecode(b"#86)C\n>From x\n#9&5F\n`\nend\n")[0]),
)
def ripmime_decodes_junk_lines_inside_uuencode(written: bytes, content: bytes, case: Case) -> bool:
    """After a 'begin 644 name' line ripmime decodes every line by its length character until
    'end', text and junk included: '#86)C', '>From x' (an mbox escape), '#9&5F' is 'abc', 30
    bytes of garbage, 'def' to it; qmvc skips the lines that cannot be uuencode and has
    'abcdef', as binascii decodes the block without them. Checked on the message: ripmime's
    decoder, redone on a block, gives ripmime's file through such a line, and binascii, on
    the block's uuencode lines alone, gives qmvc's."""
    return _uuencode_habit("junk", written, content, case)


@quirk(
    "content",
    example_message(b"Content-Type: text/plain\n\nbegin 644 x.bin\n#86)C\n`\n#9&5F\n`\nend"),
    (b"x.bin", b"abc"),
)
def ripmime_ends_uuencode_at_a_line_of_length_zero(
    written: bytes, content: bytes, case: Case
) -> bool:
    """A uuencode line whose length character is '`' or a blank says 'no bytes', and an empty
    line (a blank line in the block, or a lone CR made a line end) has none; ripmime ends the
    file there, Thunderbird (and qmvc) decode on to the 'end' line: '#86)C', '`', '#9&5F' is
    'abc' to ripmime and 'abcdef' to them. Checked on the message: ripmime's decoder, redone
    on a block, gives ripmime's file, stopping before data, and binascii gives qmvc's."""
    return _uuencode_habit("stop", written, content, case)


@quirk(
    "content",
    b"Return-Path: <alice@example.org>\n\nFrom: alice@example.org\nContent-Type: text/plain\n\n"
    b"Hello Bob\n",
    (b"textfile0", b"Hello Bob\n"),
)
def ripmime_reads_on_past_a_blank_line_in_a_header_block(
    written: bytes, content: bytes, case: Case
) -> bool:
    """A blank line ends a header block (RFC 5322), but when more header lines follow it
    ripmime reads them as headers too; qmvc, like clients, has them as the first lines of the
    body: 'Return-Path: <a>', blank, 'From: a', 'Content-Type: text/plain', blank, 'Hello Bob'
    is 'Hello Bob' to ripmime, and 'From: a ... Hello Bob' to qmvc."""
    headers = content[: len(content) - len(written)]
    return (
        len(written) < len(content)
        and content.endswith(written)
        and re.fullmatch(rb"(?:[!-9;-~]+[ \t]*:[^\n]*\n(?:[ \t][^\n]*\n)*)+\r?\n", headers)
        is not None
    )


_BLANK_THEN_HEADER = re.compile(rb"\r?\n\r?\n(?=[!-9;-~]+[ \t]*:)")


@quirk(
    "extra file",
    b"Return-Path: <a@example.org>\n\n"
    + example_message(TEXT_PART, attachment(b'filename="hello.txt"')),
    (b"hello.txt", b"hello"),
)
def ripmime_reads_the_message_header_on_past_a_blank_line(file: RipFile, case: Case) -> bool:
    """When header lines follow the blank line that ends the message's header block, ripmime
    reads them as headers and finds the MIME structure they declare; qmvc, like clients, has
    all of it as the text of part 1. Reconciled by reading the message as ripmime does, that
    blank line removed: then qmvc must see every file ripmime wrote (a second blank line of
    that kind is this quirk again)."""
    blank = _BLANK_THEN_HEADER.search(case.raw)
    if blank is None:
        return False
    joined = case.raw[: blank.start()] + b"\n" + case.raw[blank.end() :]
    return not compare(joined, list(case.files)).differences


def ripmime_base64(text: bytes) -> bytes:
    """Base64 decoded as ripmime does: characters outside the alphabet skipped, four letters
    at a time, up to the group holding the first '=' (an incomplete last group dropped)."""
    letters = re.sub(rb"[^A-Za-z0-9+/=]", b"", text)
    decoded = bytearray()
    for start in range(0, len(letters) - 3, 4):
        group = letters[start : start + 4]
        with contextlib.suppress(binascii.Error):
            decoded += base64.b64decode(group)
        if b"=" in group:
            break
    return bytes(decoded)


@quirk(
    "content",
    example_message(
        attachment(b'filename="x.txt"', b"aGVsbG8=", b"Content-Transfer-Encoding: 8bit base64\n")
    ),
    (b"x.txt", b"hello"),
)
def ripmime_decodes_any_encoding_that_contains_base64(
    written: bytes, content: bytes, case: Case
) -> bool:
    """ripmime looks for 'base64' anywhere in Content-Transfer-Encoding, so '8bit base64' is
    base64 to it; clients (and qmvc) read the first word only and keep the text. ('base64
    (encoded)', with a comment, and 'x-base64', a variant, are base64 to clients too: not this
    quirk.)"""
    return any(
        b"base64" not in first and b"base64" in b" ".join(rest)
        for first, *rest in transfer_encodings(case.raw)
        if first
    ) and written == ripmime_base64(content)


@quirk(
    "extra file",
    example_message(TEXT_PART, preamble=b"This is a multi-part message in MIME format.\n"),
    (b"textfile0", b"This is a multi-part message in MIME format.\n"),
)
def ripmime_saves_the_preamble_as_a_file(file: RipFile, case: Case) -> bool:
    """The text before a multipart's first boundary (the preamble, 'This is a multi-part message
    in MIME format.') is no part; ripmime saves it as textfileN (an empty one when there is no
    preamble), or under a name the multipart itself was given."""
    text = file.content.rstrip(b"\r\n")
    return any(
        case.raw[start:end].rstrip(b"\r\n") == text
        and all(
            re.fullmatch(rb"textfile\d+", name) or name in case.raw[header:start]
            for name in file.names
        )
        for header, start, end in preambles(case.raw)
    )


def preambles(raw: bytes) -> list[tuple[int, int, int]]:
    """(header, start, end) of each header block that declares a boundary, and of the text
    after it up to that boundary's first delimiter (or, when it has none, the first line that
    starts with '--')."""
    found = []
    for declared in re.finditer(rb'(?i)boundary(?:\*0?)?[ \t]*=[ \t]*"?([^";\r\n]*)', raw):
        blank = re.compile(rb"\r?\n\r?\n").search(raw, declared.end())
        if blank is None:
            continue
        before = [m.end() for m in re.finditer(rb"\n\r?\n", raw[: declared.start()])]
        delimiter = re.compile(rb"(?m)^--" + re.escape(declared.group(1).rstrip())).search(
            raw, blank.end()
        ) or re.compile(rb"(?m)^--").search(raw, blank.end())
        end = delimiter.start() if delimiter else len(raw)
        found.append((before[-1] if before else 0, blank.end(), end))
    return found


@quirk(
    "extra file",
    example_message(TEXT_PART, boundary=b"lost").replace(b'boundary="lost"', b'boundary="gone"'),
    (b"textfile0", b"--lost\nContent-Type: text/plain\n\nHello Bob\n--lost--\n"),
)
def ripmime_saves_mime_it_cannot_split_as_one_text_file(file: RipFile, case: Case) -> bool:
    """When a multipart's declared boundary never appears, or is garbage, ripmime writes its
    body as it stands (delimiters, part headers, encoded data) to one textfileN; qmvc splits
    it at the delimiters the body does have, so that text is no part of qmvc's. The parts
    inside are compared on their own. Checked on the message: the file is the body of a header
    block that declares a boundary, and holds part headers."""
    text = file.content.rstrip(b"\r\n")
    return re.search(rb"(?im)^content-[a-z-]+[ \t]*:", text) is not None and any(
        as_ripmime_reads(case.raw).startswith(text, start) for _, start, _ in preambles(case.raw)
    )


@quirk(
    "extra file",
    example_message(TEXT_PART, boundary=b"lost").replace(
        b'boundary="lost"', b'boundary="gone"\nContent-Transfer-Encoding: base64'
    ),
    (b"textfile0", ripmime_base64(b"--lost\nContent-Type: text/plain\n\nHello Bob\n--lost--\n")),
)
def ripmime_decodes_mime_it_cannot_split_by_the_multipart_encoding(
    file: RipFile, case: Case
) -> bool:
    """A multipart in base64 (which RFC 2045 forbids) whose boundary never appears is written
    as one textfileN, as `ripmime_saves_mime_it_cannot_split_as_one_text_file` says, but
    decoded as base64 first: delimiters and part headers become bytes no client shows ('--lost',
    'Content-Type: text/plain', ... is 27 bytes of garbage). Checked on the message: the file
    is the body of a header block that declares a boundary and a base64 encoding, decoded as
    ripmime decodes base64."""
    return any(
        re.search(rb"(?im)^content-transfer-encoding[ \t]*:[^\r\n]*base64", case.raw[header:start])
        and file.content == ripmime_base64(case.raw[start:])
        for header, start, _ in preambles(case.raw)
    )


def _runs_to_an_end(text: bytes, body: bytes) -> bool:
    """Whether `text` is in `body` up to its end or up to a delimiter line (`--...`)."""
    at = body.find(text)
    rest = body[at + len(text) :].lstrip(b"\r\n") if at >= 0 else b"x"
    return not rest or rest.startswith(b"--")


@quirk(
    "extra file",
    example_message(TEXT_PART, attachment(b'filename="x.exe"')).replace(b'; boundary="b"', b""),
    (b"textfile0", b"Hello Bob\n--b\n" + attachment(b'filename="x.exe"') + b"\n--b--\n"),
)
def ripmime_runs_a_part_to_the_end_of_a_multipart_without_boundary(
    file: RipFile, case: Case
) -> bool:
    """For a multipart without a boundary parameter ripmime still finds the parts, but also
    writes the first part's body on to the end of the multipart (later delimiters, headers and
    encoded data included) as one textfileN, decoded by that part's transfer encoding (soft
    breaks of quoted-printable gone). Checked on the message: the file runs to its end or to a
    delimiter line, and a multipart Content-Type there has no boundary value."""
    text = file.content.rstrip(b"\r\n")
    headers = re.finditer(rb"(?im)^content-type[ \t]*:[ \t]*multipart/[^\r\n]*", case.raw)
    reads = as_ripmime_reads(case.raw)
    return (
        len(text) > 0
        and any(_runs_to_an_end(text, body) for body in (reads, binascii.a2b_qp(reads)))
        and any(
            re.search(rb'(?i)boundary[ \t]*=[ \t]*"?[^";\s]', header.group(0)) is None
            for header in headers
        )
    )


@quirk(
    "extra file",
    example_message(TEXT_PART, attachment(b'filename="x.exe"')).replace(
        b"\n--b\nContent-Type: application", b"\n---b Content-Type: application"
    ),
    (b"x.exe", b"hello"),
)
def ripmime_takes_a_line_holding_the_boundary_as_a_delimiter(file: RipFile, case: Case) -> bool:
    """ripmime looks for the boundary anywhere near the start of a line, so '---b Content-Type:
    ...' (a dash too many, text after it) is a delimiter to it; to RFC 2046, clients and qmvc
    it is a line of the part before. Checked on the message: such a line is there, and the
    file's name or encoded content follows it."""
    for boundary in declared_boundaries(case.raw):
        delimiter = re.escape(b"--" + boundary)
        for line in re.finditer(rb"(?m)^[^\r\n]*" + delimiter + rb"[^\r\n]*", case.raw):
            if re.fullmatch(delimiter + rb"(--)?[ \t]*\r?", line.group(0)):
                continue
            after = case.raw[line.end() :]
            if _shows_file(file, after):
                return True
    return False


def _shows_file(file: RipFile, text: bytes) -> bool:
    """Whether `text` holds one of the file's names, or its start plainly or in base64."""
    if any(name in text for name in file.names if not re.fullmatch(rb"textfile\d+", name)):
        return True
    head = file.content[:48]
    compact = re.sub(rb"\s+", b"", text)
    return bool(head) and (head in text or base64.b64encode(head)[:60] in compact)


@quirk(
    "extra file",
    example_message(
        b"Content-Type: text/plain\n\nHello Bob\n--other\n" + attachment(b'filename="x.exe"')
    ),
    (b"x.exe", b"hello"),
)
def ripmime_unpacks_mime_it_finds_inside_a_part(file: RipFile, case: Case) -> bool:
    """ripmime reads every file it writes again as a message, so part headers and encoded data
    inside a part's body (after a line that is not a delimiter of this message, or after a
    blank line that ended the part's headers early) come out as files; a client shows that
    body as it is, and so has qmvc. Checked on the files: another of ripmime's files holds this
    one's headers or encoded content, and is a part of qmvc's as it stands (a NUL in it written
    as a space: ripmime_reads_a_nul_in_raw_text_as_a_space)."""
    contents = {p.content for p in case.parts} | {
        p.content.replace(b"\0", b" ") for p in case.parts
    }
    return any(
        other != file
        and re.search(rb"(?im)^content-[a-z-]+[ \t]*:", other.content) is not None
        and _shows_file(file, other.content)
        and any(
            other.content in (content, *(content + ending for ending in LINE_BREAKS))
            for content in contents
        )
        for other in case.files
    )


@quirk(
    "extra file",
    example_message(TEXT_PART, preamble=b"begin 644 junk.exe\n#86)C\n`\nend\n"),
    (b"junk.exe", b"abc"),
)
def ripmime_decodes_uuencode_in_the_preamble(file: RipFile, case: Case) -> bool:
    """ripmime looks for uuencode in the preamble too, which no client shows and qmvc does not
    read. Checked on the message: the 'begin' line naming the file lies in a preamble."""
    return any(
        re.search(rb"(?m)^begin [0-7]{3,4} " + re.escape(name) + rb"\r?$", case.raw[start:end])
        for name in file.names
        for _, start, end in preambles(case.raw)
    )


@quirk(
    "extra file",
    example_message(
        b"Content-Type: text/plain\n\nbegin 644 cut.exe\n"
        + b"\n".join(binascii.b2a_uu(bytes(45 * [n])).rstrip(b"\n") for n in (1, 2))
    ),
    (b"cut.exe", b""),
)
def ripmime_writes_an_empty_file_when_its_decoder_finds_nothing(file: RipFile, case: Case) -> bool:
    """ripmime writes an empty file for a uuencoded file whose lines never come to a short
    (or zero-length) last line, as when it is cut short; for a part declared x-uuencode
    without a 'begin' line; and for base64 whose first line starts with '=' (a junk line such
    as '=ybegin'). An empty file carries nothing to compare."""
    if file.content:
        return False
    return (
        re.search(_UUENCODE_ENCODINGS, case.raw) is not None
        or re.search(rb"\n\r?\n[^A-Za-z0-9+/\r\n]*=", case.raw) is not None
        or all(
            re.search(rb"(?m)^begin [0-7]{3,4} " + re.escape(name) + rb"\r?$", case.raw)
            for name in file.names
        )
    )


@quirk(
    "extra file",
    example_message(TEXT_PART, preamble=b"This is a multi-part message in MIME format.\n").replace(
        b'boundary="b"', b'boundary="b"\nContent-Transfer-Encoding: base64'
    ),
    (b"textfile0", ripmime_base64(b"This is a multi-part message in MIME format.\n")),
)
def ripmime_decodes_the_preamble_by_the_multipart_encoding(file: RipFile, case: Case) -> bool:
    """A multipart declared base64 (which RFC 2045 forbids) has its preamble saved, as
    `ripmime_saves_the_preamble_as_a_file` says, but decoded as base64 first: 'This is a
    multi-part message in MIME format.' is 24 bytes of garbage, no part of any client's.
    Checked on the message: the file is a preamble under a header block that declares a
    base64 encoding, decoded as ripmime decodes base64, and named textfileN."""
    return (
        bool(file.content)
        and all(re.fullmatch(rb"textfile\d+", name) for name in file.names)
        and any(
            re.search(
                rb"(?im)^content-transfer-encoding[ \t]*:[^\r\n]*base64", case.raw[header:start]
            )
            and file.content == ripmime_base64(case.raw[start:end])
            for header, start, end in preambles(case.raw)
        )
    )


_RAW_PART_UUENCODE = (
    b"From: Alice <alice@example.org>\nTo: bob@example.com\nSubject: quirk\n"
    b"Content-Type: text/plain\nContent-Transfer-Encoding: binary\n\n"
    b"See:\nbegin 644 x.bin\n#86)C\n`\nend\n"
)


@quirk("extra file", _RAW_PART_UUENCODE, (None, b""), runs=40)
def ripmime_names_the_uuencoded_file_of_a_raw_part_from_uninitialised_memory(
    file: RipFile, case: Case
) -> bool:
    """ripmime writes a part whose transfer encoding is 'binary' or one it does not know as it
    stands (MIME_decode_raw), then decodes uuencode in it without clearing the buffer for the
    file's name, which so holds whatever was on the stack: on some runs it writes the file as
    'x.bin', on others an empty file named '\\x02' or by bytes of a stack address. Such a
    file carries nothing to compare. Checked on the message: the file is empty, none of its
    names is in the message, and a part declared neither 7bit, 8bit, quoted-printable,
    base64 nor uuencode holds a 'begin' line."""
    if file.content or any(name in case.raw for name in file.names):
        return False
    for header in re.finditer(rb"(?im)^content-transfer-encoding[ \t]*:([^\r\n]*)", case.raw):
        words = re.sub(rb"\([^)]*\)|;", b" ", header.group(1)).lower().split()
        known = (b"7bit", b"8bit", b"quoted-printable")
        if words and words[0] not in known and not re.search(rb"base64|uu", words[0]):
            body = re.compile(rb"\r?\n\r?\n").search(case.raw, header.end())
            if body and _UU_BEGIN_LINE.search(case.raw, body.end()):
                return True
    return False


@quirk("name", example_message(TEXT_PART), (b"textfile1", b"Hello Bob\n"))
def ripmime_names_unnamed_parts_textfile_n(name: bytes, candidate: str, case: Case) -> bool:
    """A part without a name (or whose name ripmime cannot read, such as one with a
    quoted-pair) is written as textfile0, textfile1, ... in the order ripmime meets them: an
    invented name, never one of the part's."""
    return re.fullmatch(rb"textfile\d+", name) is not None


@quirk(
    "name",
    example_message(attachment(b'filename="../../etc/passwd"')),
    (b"passwd", b"hello"),
)
def ripmime_keeps_only_the_last_path_segment(name: bytes, candidate: str, case: Case) -> bool:
    """ripmime cuts a name after its last '/' (or, with none, its last '\\'): '../../etc/passwd'
    is written 'passwd', Content-Location 'http://host/a/b.exe' 'b.exe'. It does so before
    undoing quoted-pairs, so "run.e\\xe" (which is run.exe) is written 'xe'."""
    for separator in ("/", "\\"):
        if separator in candidate:
            return os.fsencode(candidate.rsplit(separator, 1)[1]) == name
    return re.search(rb"[/\\]" + re.escape(name) + rb'"', case.raw) is not None


@quirk(
    "name",
    example_message(attachment(b'filename="setup.exe?.txt"')),
    (b"setup.exe", b"hello"),
)
def ripmime_cuts_names_at_a_question_mark(name: bytes, candidate: str, case: Case) -> bool:
    """To stop names passing parameters to a program, ripmime cuts a name at its first '?'
    that does not follow '=' ('setup.exe?.txt' is written 'setup.exe'), and a leading '?'
    becomes '-'."""
    mark = candidate.find("?")
    if mark < 0:
        return False
    if mark == 0:
        return os.fsencode("-" + candidate[1:]) == name
    return candidate[mark - 1] != "=" and os.fsencode(candidate[:mark]) == name


@quirk(
    "name",
    example_message(attachment(b"filename=Invoice 48213.exe")),
    (b"Invoice", b"hello"),
)
def ripmime_ends_an_unquoted_name_at_a_blank(name: bytes, candidate: str, case: Case) -> bool:
    """An unquoted value ends at the first blank for ripmime ('filename=Invoice 48213.exe' is
    written 'Invoice'); clients take the value up to the ';'."""
    pattern = rb"(?i)name\*?[ \t]*=[ \t]*" + re.escape(name) + rb"[ \t]"
    return re.search(pattern, as_ripmime_reads(case.raw)) is not None


@quirk(
    "name",
    example_message(attachment(b'filename="run.exe\0.txt"')),
    (b"run.exe .txt", b"hello"),
)
def ripmime_reads_a_nul_in_a_header_as_a_space(name: bytes, candidate: str, case: Case) -> bool:
    """As in text, a raw NUL in a header is a space to ripmime: 'run.exe\\0.txt' is written
    'run.exe .txt' (and a NUL in an unquoted value ends it, as a blank does)."""
    return "\0" in candidate and os.fsencode(candidate.replace("\0", " ")) == name


@quirk(
    "name",
    example_message(attachment(b"filename*=UTF-8''M%E4rz.exe")),
    (b"M\xe4rz.exe", b"hello"),
)
def ripmime_writes_undecodable_name_bytes_as_they_are(
    name: bytes, candidate: str, case: Case
) -> bool:
    """Bytes that are not valid in the declared charset ('filename*=UTF-8''M%E4rz.exe', a
    Latin-1 byte) are written by ripmime as they are; qmvc's name has U+FFFD for them."""
    return "\ufffd" in candidate and name.decode("utf-8", "replace") == candidate


@quirk(
    "name",
    example_message(attachment(b'filename="' + b"n" * 200 + b'.exe"')),
    (b"n" * 128, b"hello"),
)
def ripmime_cuts_names_at_128_bytes(name: bytes, candidate: str, case: Case) -> bool:
    """ripmime keeps the first 128 bytes of a longer name (and so may lose its extension)."""
    encoded = os.fsencode(candidate)
    return len(name) == 128 and len(encoded) > 128 and encoded.startswith(name)


@quirk(
    "name",
    example_message(attachment(b'filename="=?iso-8859-1?Q?M=E4rz.pdf?="')),
    (b"M\xe4rz.pdf", b"hello"),
)
def ripmime_writes_names_in_their_own_charset(name: bytes, candidate: str, case: Case) -> bool:
    """ripmime decodes RFC 2047 and RFC 2231 names to bytes and writes those bytes, whatever
    the charset: '=?iso-8859-1?Q?M=E4rz.pdf?=' becomes the Latin-1 bytes of 'März.pdf'."""
    for charset in ("latin-1", "cp1252", "iso-8859-15", "koi8-r", "shift_jis", "iso-2022-jp"):
        try:
            if candidate.encode(charset) == name:
                return True
        except UnicodeEncodeError:
            continue
    return False


@quirk(
    "name",
    example_message(attachment(b'filename="=?utf-8?Q?report=0D=0AX-Injected:_1.pdf?="')),
    (b"report", b"hello"),
)
def ripmime_cuts_names_at_a_line_break_or_nul(name: bytes, candidate: str, case: Case) -> bool:
    """A decoded name is a C string to ripmime, cut at the first CR, LF or NUL:
    '=?utf-8?Q?report=0D=0AX-Injected:_1.pdf?=' is written 'report'."""
    cut = re.split(r"[\r\n\0]", candidate, maxsplit=1)
    return len(cut) == 2 and os.fsencode(cut[0]) == name


@quirk(
    "name",
    example_message(attachment(b"filename=\"a.txt\"; filename*=UTF-8''b.exe")),
    (b"a.txtb.exe", b"hello"),
)
def ripmime_glues_filename_and_filename_star(name: bytes, candidate: str, case: Case) -> bool:
    """When a name parameter comes in several forms (filename= and filename*=, or RFC 2231
    sections), ripmime appends the values of that parameter in the order written (from one
    occurrence to the last), and cuts the result as `ripmime_keeps_only_the_last_path_segment`
    says: 'filename="a.txt"; filename*=UTF-8''b.exe' gives 'a.txtb.exe', 'filename="a.j\\s";
    filename*=UTF-8''b.exe' gives 'sb.exe', sections 1 before 0 stay in that order. Checked
    by redoing the join on the message's own header lines."""
    return name in glued_names(case.raw)


_PARAMETER_HEADER = re.compile(
    rb"(?im)^content-(?:disposition|type)[ \t]*:([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)"
)
_PARAMETER = re.compile(rb'(?i)(?:^|[;\s])((?:file)?name)(\*[0-9]*\*?)?\s*=\s*("[^"]*"?|[^;\s\0]*)')
"""An unquoted value ends at a NUL too (`ripmime_reads_a_nul_in_a_header_as_a_space`)."""


@functools.lru_cache(maxsize=4)
def glued_names(raw: bytes) -> frozenset[bytes]:
    """Every name ripmime's concatenation could make from the message's parameter headers."""
    glued = set()
    for header in _PARAMETER_HEADER.finditer(raw):
        value = re.sub(rb"\r?\n[ \t]", b" ", header.group(1))
        for parameter in (b"filename", b"name"):
            pieces = [
                _ripmime_piece(match.group(2) or b"", match.group(3))
                for match in _PARAMETER.finditer(value)
                if match.group(1).lower() == parameter
            ]
            for start in range(len(pieces)):
                for end in range(start + 2, len(pieces) + 1):
                    whole = b"".join(pieces[start:end])
                    separator = b"/" if b"/" in whole else b"\\"
                    glued.update((whole, whole.rsplit(separator, 1)[-1]))
    return frozenset(glued)


def _ripmime_piece(star: bytes, value: bytes) -> bytes:
    """One parameter value as ripmime appends it: quotes trimmed, and for a name*...* form the
    charset'language' prefix dropped and %XX decoded."""
    value = value.strip(b'"')
    if star.endswith(b"*"):
        if value.count(b"'") >= 2:
            value = value.split(b"'", 2)[2]
        value = urllib.parse.unquote_to_bytes(value)
    return value


@quirk(
    "name",
    example_message(
        attachment(b'filename="report.pdf"'), attachment(b'filename="report.pdf"', b"d29ybGQ=")
    ),
    (b"report_1.pdf", b"world"),
)
def ripmime_numbers_repeated_names(name: bytes, candidate: str, case: Case) -> bool:
    """A second file of the same name is written with a number before its extension:
    'report.pdf' twice gives 'report.pdf' and 'report_1.pdf'."""
    numbered = re.fullmatch(rb"(.*)_\d+(\.[^.]*)?", name)
    return numbered is not None and os.fsencode(candidate) in (
        numbered.group(1) + (numbered.group(2) or b""),
        numbered.group(1) + b"_" + (numbered.group(2) or b"").lstrip(b"."),
    )


@quirk(
    "name",
    example_message(
        attachment(
            b"",
            headers=b"Content-Transfer-Encoding: base64\n"
            b"Content-Location: http://example.net/dl/run%2Eexe\n",
        ).replace(b"Content-Disposition: attachment; \n", b"")
    ),
    (b"run%2Eexe", b"hello"),
)
def ripmime_keeps_the_escapes_of_a_content_location(
    name: bytes, candidate: str, case: Case
) -> bool:
    """A name from Content-Location keeps its URL escapes: 'http://example.net/dl/run%2Eexe'
    is written 'run%2Eexe', which a browser or client saves as 'run.exe'."""
    return b"%" in name and urllib.parse.unquote(os.fsdecode(name)) == candidate


@quirk(
    "name",
    example_message(attachment(b"filename*=UTF-8''%3D%3Futf-8%3FQ%3Fa.exe%3F%3D")),
    (b"=?utf-8?Q?a.exe?=", b"hello"),
)
def ripmime_leaves_encoded_words_in_a_percent_encoded_name(
    name: bytes, candidate: str, case: Case
) -> bool:
    """An RFC 2047 word inside an RFC 2231 value is decoded by ripmime only when written as is;
    percent-encoded ('%3D%3Futf-8%3FQ%3Fa.exe%3F%3D') it stays '=?utf-8?Q?a.exe?=', where qmvc
    decodes it to 'a.exe' (in a charset that cannot decode it, such as 'punycode', by the
    fallback `_decoded_word` describes). (A name ending in '?=' has no extension a rule could
    miss.)"""
    decoded, words = _ENCODED_WORD.subn(_decoded_word, name)
    return words > 0 and os.fsdecode(decoded) == candidate


_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def _decoded_word(word: re.Match[bytes]) -> bytes:
    """One RFC 2047 word as UTF-8 (kept as written when it does not decode). Bytes its
    charset cannot decode (an unknown charset, or a codec that is no charset, such as
    'punycode') are read as UTF-8, else cp1252, else Latin-1, as qmvc reads any text whose
    declared charset fails (qmvc.message.text.decode_bytes): '=?punycode?Q?=E4=FC.pdf?=' is
    'äü.pdf'."""
    charset, encoding, text = word.groups()
    try:
        if encoding in b"bB":
            data = base64.b64decode(text + b"=" * (-len(text) % 4))
        else:
            data = binascii.a2b_qp(text, header=True)
    except (binascii.Error, ValueError):
        return word.group(0)
    for decoding in (charset.decode("ascii", "replace"), "utf-8", "cp1252", "latin-1"):
        with contextlib.suppress(LookupError, UnicodeError, ValueError, TypeError):
            return data.decode(decoding).encode()
    return word.group(0)


# ---- the comparison -------------------------------------------------------------------------


@dataclass
class Comparison:
    """What the comparison found: differences (each a sentence), the quirks that explained the
    rest, and whether ripmime gave an answer at all."""

    differences: list[str] = field(default_factory=list)
    quirks_used: set[str] = field(default_factory=set)
    oracle_gave_up: bool = False


UNANALYSED = "qmvc says part of the message went unanalysed"
"""Not a quirk: qmvc stopped (too many parts, too deep) and says so in `unanalysed`, which the
default policy makes a badmail. What ripmime found beyond that point is not a difference."""


def compare(raw: bytes, files: list[RipFile] | None) -> Comparison:
    result = Comparison()
    if files is None:
        result.oracle_gave_up = True
        return result
    parts, unanalysed = seen_by_qmvc(raw)
    case = Case(clients_line_ends(raw), parts, unanalysed, tuple(files))
    for file in files:
        matched = _parts_with_content(file, case, result)
        for name in file.names if matched else ():
            _check_name(name, file, matched, case, result)
    return result


EMPTY_FILE_QUIRKS = (
    "ripmime_writes_an_empty_file_when_its_decoder_finds_nothing",
    "ripmime_names_the_uuencoded_file_of_a_raw_part_from_uninitialised_memory",
)


def _parts_with_content(file: RipFile, case: Case, result: Comparison) -> list[SeenPart]:
    """The qmvc parts whose content is this file's; none when the file is an extra file a quirk
    explains, or a difference (then recorded)."""
    for empty in EMPTY_FILE_QUIRKS:  # else any empty part, of other names, would be it
        if not file.content and QUIRKS[empty].check(file, case):
            result.quirks_used.add(empty)
            return []
    exact = [part for part in case.parts if part.content == file.content]
    if exact:
        return exact
    line_break = QUIRKS["ripmime_keeps_the_line_break_before_a_boundary"]
    for written, credit in [(file.content, [])] + [
        (file.content[: -len(ending)], [line_break.name])
        for ending in LINE_BREAKS
        if file.content.endswith(ending)
    ]:
        for content_quirk in quirks_of("content"):
            matched = [p for p in case.parts if content_quirk.check(written, p.content, case)]
            if matched:
                result.quirks_used.update([content_quirk.name, *credit])
                return matched
    for extra in quirks_of("extra file"):
        if extra.check(file, case):
            result.quirks_used.add(extra.name)
            return []
    if case.unanalysed:
        result.quirks_used.add(UNANALYSED)
        return []
    result.differences.append(f"ripmime extracted {file.shown()}; no qmvc part has that content")
    return []


def _check_name(
    name: bytes, file: RipFile, parts: list[SeenPart], case: Case, result: Comparison
) -> None:
    candidates = set().union(*(part.candidates for part in parts))
    if os.fsdecode(name) in candidates:
        return
    for name_quirk in quirks_of("name"):
        if any(name_quirk.check(name, c, case) for c in candidates | {""}):
            result.quirks_used.add(name_quirk.name)
            return
    where = ", ".join(part.path for part in parts)
    result.differences.append(
        f"ripmime names {file.shown()} {os.fsdecode(name)!r}; qmvc part {where} has the "
        f"candidates {sorted(candidates)}"
    )


def judge(raw: bytes, files: list[RipFile] | None, work: Path) -> Comparison:
    """The comparison, unless ripmime's answer is not reproducible: with some malformed input
    (a uuencode 'begin' line ending in CR LF) it writes files named from uninitialised
    memory, differently on each run. A difference is only believed when a second run of
    ripmime gives the same files."""
    comparison = compare(raw, files)
    if comparison.differences and oracle_files(raw, work) != files:
        return Comparison(oracle_gave_up=True)
    return comparison


def report(raw: bytes, files: list[RipFile] | None, comparison: Comparison) -> str:
    """Both sides' view of one message, for a person judging a difference."""
    lines = ["differences:", *(f"  {d}" for d in comparison.differences), "ripmime wrote:"]
    lines += [f"  {file.shown()}" for file in files or []]
    lines.append("qmvc has:")
    try:
        parts, unanalysed = seen_by_qmvc(raw)
        lines += [
            f"  {p.path} {p.declared_type} {sorted(p.candidates)} {len(p.content)} bytes "
            f"{p.content[:60]!r}"
            for p in parts
        ]
        lines += [f"  unanalysed: {u}" for u in unanalysed]
    except Exception as error:  # the report must come out whatever qmvc does
        lines.append(f"  qmvc raised {error!r}")
    return "\n".join(lines)


def save_failure(folder: str, raw: bytes, text: str) -> Path:
    directory = FAILURES / folder
    directory.mkdir(parents=True, exist_ok=True)
    stem = hashlib.sha1(raw).hexdigest()[:12]
    (directory / f"{stem}.txt").write_text(text + "\n", "utf-8", "backslashreplace")
    saved = directory / f"{stem}.eml"
    saved.write_bytes(raw)
    return saved


# ---- mutations ------------------------------------------------------------------------------
#
# Each takes a message and a seeded Random and returns the message changed in one place (or
# unchanged when it has no place for this change). They work on bytes: 8-bit names survive.

Mutation = Callable[[bytes, Random], bytes]
MUTATIONS: dict[str, Mutation] = {}


def mutation(function: Mutation) -> Mutation:
    MUTATIONS[function.__name__] = function
    return function


_HEADER_NAME = re.compile(rb"(?m)^([A-Za-z][A-Za-z0-9-]*)([ \t]*):")
_MIME_HEADER_NAME = re.compile(rb"(?im)^(content-[a-z-]+|mime-version)([ \t]*):")
_ANY_PARAMETER = re.compile(
    rb';[ \t]*(?:\r?\n[ \t]+)?([A-Za-z0-9*_.-]+)[ \t]*=[ \t]*("(?:[^"\\\r\n]|\\.)*"|[^;\s]*)'
)
_BOUNDARY = re.compile(rb'(?i)boundary[ \t]*=[ \t]*("([^"\r\n]*)"|([^;\s]+))')
_TRANSFER_ENCODING = re.compile(rb"(?im)^(content-transfer-encoding[ \t]*:[ \t]*)([^\r\n]*)")
_CONTENT_TYPE_LINE = re.compile(rb"(?im)^content-type[ \t]*:[^\r\n]*\r?\n")
_PLAIN_NAME = re.compile(rb'(?i)(?<![\w*])((?:file)?name)[ \t]*=[ \t]*"([^"\r\n]*)"')
_STAR_NAME = re.compile(rb"(?i)(?<![\w*])((?:file)?name)\*[ \t]*=[ \t]*([^';\s]*)'[^']*'([^;\s]*)")
ENCODINGS = [
    b"base64",
    b"BASE64",
    b"quoted-printable",
    b"7bit",
    b"8bit",
    b"binary",
    b"x-uuencode",
    b"x-base64",
    b" base64 ",
    b"bogus",
]
JUNK_LINES = [
    b"junk without a colon",
    b" a folded continuation",
    b"",
    b"--",
    b"-- ",
    b"From x@y Mon",
    b">From x",
    b"Content-Type: text/plain",
    b"begin 644 junk.exe",
    b"=?utf-8?B?",
    b"\t",
    b'Content-Disposition: attachment; filename="decoy.exe"',
    b"=ybegin line=128 size=3 name=y",
]


def _pick(pattern: re.Pattern[bytes], raw: bytes, chance: Random) -> re.Match[bytes] | None:
    found = list(pattern.finditer(raw))
    return chance.choice(found) if found else None


def _line_starts(raw: bytes) -> list[int]:
    return [0] + [match.end() for match in re.finditer(rb"\n", raw)]


@mutation
def header_name_case(raw: bytes, chance: Random) -> bytes:
    found = _pick(_HEADER_NAME, raw, chance)
    if not found:
        return raw
    name = bytes(
        byte ^ 0x20 if chr(byte).isalpha() and chance.random() < 0.5 else byte
        for byte in found.group(1)
    )
    return raw[: found.start(1)] + name + raw[found.end(1) :]


@mutation
def whitespace_before_colon(raw: bytes, chance: Random) -> bytes:
    found = _pick(_MIME_HEADER_NAME, raw, chance) or _pick(_HEADER_NAME, raw, chance)
    if not found:
        return raw
    blank = chance.choice([b" ", b"\t", b"  ", b" \t"])
    return raw[: found.end(1)] + blank + raw[found.end(1) :]


def _pick_parameter(raw: bytes, chance: Random) -> re.Match[bytes] | None:
    """A parameter of a Content-Type or Content-Disposition field (not text that looks like
    one inside encoded data)."""
    found = [
        parameter
        for field in _PARAMETER_HEADER.finditer(raw)
        for parameter in _ANY_PARAMETER.finditer(raw, field.start(), field.end())
    ]
    return chance.choice(found) if found else None


@mutation
def duplicate_parameter(raw: bytes, chance: Random) -> bytes:
    found = _pick_parameter(raw, chance)
    if not found:
        return raw
    copy = found.group(0)
    if chance.random() < 0.5 and found.group(1).lower().rstrip(b"*").endswith(b"name"):
        copy = b"; " + found.group(1) + b'="decoy.exe"'
    return raw[: found.end()] + copy + raw[found.end() :]


@mutation
def drop_parameter(raw: bytes, chance: Random) -> bytes:
    found = _pick_parameter(raw, chance)
    if not found:
        return raw
    return raw[: found.start()] + raw[found.end() :]


@mutation
def change_boundary(raw: bytes, chance: Random) -> bytes:
    found = _pick(_BOUNDARY, raw, chance)
    if not found:
        return raw
    old = found.group(2) if found.group(2) is not None else found.group(3)
    new = chance.choice([b"=_changed", old[:-1] or b"x", old + b"x", old + b" ", b"b"])
    how = chance.choice(["everywhere", "header only", "one delimiter"])
    header = raw[: found.start(1)] + b'"' + new + b'"' + raw[found.end(1) :]
    if how == "header only":
        return header
    if how == "everywhere":
        return re.sub(rb"(?m)^--" + re.escape(old), lambda _: b"--" + new, header)
    delimiters = [m.start() for m in re.finditer(rb"(?m)^--" + re.escape(old), raw)]
    if not delimiters:
        return raw
    at = chance.choice(delimiters)
    return raw[:at] + b"--" + new + raw[at + 2 + len(old) :]


@mutation
def swap_line_endings(raw: bytes, chance: Random) -> bytes:
    how = chance.choice(["to CRLF", "to LF", "a stretch to CRLF", "lone CR"])
    lf = raw.replace(b"\r\n", b"\n")
    if how == "to CRLF":
        return lf.replace(b"\n", b"\r\n")
    if how == "to LF":
        return lf
    start = chance.randrange(len(raw) + 1)
    end = chance.randrange(start, len(raw) + 1)
    if how == "lone CR":
        return raw[:start] + raw[start:end].replace(b"\n", b"\r") + raw[end:]
    return raw[:start] + raw[start:end].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + raw[end:]


@mutation
def truncate(raw: bytes, chance: Random) -> bytes:
    return raw[: chance.randrange(len(raw) + 1)]


@mutation
def insert_junk_line(raw: bytes, chance: Random) -> bytes:
    at = chance.choice(_line_starts(raw))
    ending = b"\r\n" if b"\r\n" in raw else b"\n"
    return raw[:at] + chance.choice(JUNK_LINES) + ending + raw[at:]


@mutation
def flip_filename_star(raw: bytes, chance: Random) -> bytes:
    plain, star = _pick(_PLAIN_NAME, raw, chance), _pick(_STAR_NAME, raw, chance)
    if plain and (not star or chance.random() < 0.5):
        encoded = urllib.parse.quote_from_bytes(plain.group(2), safe=b"")
        flipped = plain.group(1) + b"*=UTF-8''" + encoded.encode()
        return raw[: plain.start()] + flipped + raw[plain.end() :]
    if star:
        value = urllib.parse.unquote_to_bytes(star.group(3))
        flipped = star.group(1) + b'="' + value + b'"'
        return raw[: star.start()] + flipped + raw[star.end() :]
    return raw


@mutation
def change_transfer_encoding(raw: bytes, chance: Random) -> bytes:
    found = _pick(_TRANSFER_ENCODING, raw, chance)
    encoding = chance.choice(ENCODINGS)
    if found:
        return raw[: found.start(2)] + encoding + raw[found.end(2) :]
    content_type = _pick(_CONTENT_TYPE_LINE, raw, chance)
    if not content_type:
        return raw
    return (
        raw[: content_type.end()]
        + b"Content-Transfer-Encoding: "
        + encoding
        + b"\n"
        + raw[content_type.end() :]
    )


# ---- tests ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def work() -> Iterable[Path]:
    directory = Path(tempfile.mkdtemp(prefix="qmvc-differential-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("name", sorted(QUIRKS))
def test_ripmime_still_has_quirk(name: str, work: Path) -> None:
    """Each quirk's example makes ripmime write the file its description says."""
    example = QUIRKS[name]
    expected_name, expected_content = example.example_file
    for _ in range(example.runs):
        files = rip_bytes(example.example, work)
        assert files is not None
        written = {(file_name, file.content) for file in files for file_name in file.names}
        if expected_name is None:
            written = {
                (None, content)
                for file_name, content in written
                if file_name not in example.example
            }
        if (expected_name, expected_content) in written:
            return
    pytest.fail(f"not in {example.runs} runs: {[file.shown() for file in files]}")


@pytest.mark.parametrize("name", sorted(QUIRKS))
def test_quirk_example_agrees_through_that_quirk(name: str, work: Path) -> None:
    """qmvc and ripmime agree on each quirk's example, and the quirk is what reconciles them:
    the table has no quirk that explains nothing."""
    example = QUIRKS[name]
    for _ in range(example.runs):
        comparison = compare(example.example, oracle_files(example.example, work))
        assert comparison.differences == []
        if name in comparison.quirks_used:
            return
    pytest.fail(f"{name} explained nothing in {example.runs} runs")


def test_ripmime_agrees_on_lone_crs_once_they_end_lines(work: Path) -> None:
    """The one reconciliation, `oracle_files`, is needed and is enough: a message with classic
    Mac line ends (CR only) is one doubleCR.N file to ripmime as it stands, and qmvc's parts
    once each lone CR ends a line."""
    raw = example_message(TEXT_PART, attachment(b'filename="x.exe"')).replace(b"\n", b"\r")
    assert compare(raw, rip_bytes(raw, work)).differences
    assert compare(raw, oracle_files(raw, work)).differences == []


@pytest.mark.parametrize("message", corpus_messages(), ids=lambda path: path.name)
def test_qmvc_sees_every_file_ripmime_extracts_from_corpus_message(
    message: Path, work: Path
) -> None:
    raw = message.read_bytes()
    files = oracle_files(raw, work)
    if files is None:
        pytest.skip("ripmime gives up on this message (time limit or crash): no oracle")
    comparison = judge(raw, files, work)
    assert not comparison.differences, report(raw, files, comparison)


def mutation_bases() -> list[bytes]:
    return [
        path.read_bytes()
        for path in corpus_messages()
        if path.stat().st_size <= MUTATION_BASE_LIMIT
        and re.match(rb"[A-Za-z-]+:", path.read_bytes())
    ]


BASES = mutation_bases()
BATCH = 50
"""Mutated messages per hypothesis example: ripmime runs a batch in parallel."""


def mutated(base: int, steps: Sequence[tuple[str, int]]) -> bytes:
    raw = BASES[base]
    for name, seed in steps:
        raw = MUTATIONS[name](raw, Random(seed))
    return raw


def plans(primary: str) -> st.SearchStrategy[tuple[int, list[tuple[str, int]]]]:
    """A base message and its mutations: `primary` first, then up to two others."""
    seeds = st.integers(0, 2**32 - 1)
    others = st.lists(st.tuples(st.sampled_from(sorted(MUTATIONS)), seeds), max_size=2)
    return st.tuples(
        st.integers(0, len(BASES) - 1),
        st.tuples(seeds, others).map(lambda drawn: [(primary, drawn[0]), *drawn[1]]),
    )


@pytest.mark.parametrize("primary", sorted(MUTATIONS))
def test_qmvc_sees_every_file_ripmime_extracts_from_mutated_messages(
    primary: str, work: Path
) -> None:
    """Every batch runs (a difference is collected, not raised, so one qmvc bug in a corpus
    message does not hide the rest); then the differences fail the test, each message saved."""
    failed: list[tuple[Path, bytes, str]] = []
    checked = 0

    @settings(
        max_examples=5,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.lists(plans(primary), min_size=BATCH, max_size=BATCH))
    def batch_agrees(batch: list[tuple[int, list[tuple[str, int]]]]) -> None:
        nonlocal checked
        raws = [mutated(base, steps) for base, steps in batch]
        gave_up = 0
        for raw, files in zip(raws, rip_all(raws, work), strict=True):
            comparison = judge(raw, files, work)
            gave_up += comparison.oracle_gave_up
            if comparison.differences:
                text = report(raw, files, comparison)
                failed.append((save_failure(primary, raw, text), raw, text))
        checked += len(raws)
        assert gave_up <= len(raws) // 10, f"ripmime gave no answer for {gave_up} messages"

    batch_agrees()
    if failed:
        saved, raw, text = failed[0]
        shown = raw[:3000].decode("utf-8", "backslashreplace")
        pytest.fail(
            f"{len(failed)} of {checked} mutated messages ({primary}) have a file ripmime "
            f"extracts and qmvc has not got; saved under {saved.parent}\n"
            f"first, {saved.name}:\n{text}\n--- the message ---\n{shown}"
        )
