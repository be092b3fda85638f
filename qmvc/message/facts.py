"""The facts rules test, computed from the raw message only when first asked and at most once.

A rule on the envelope never parses the message; a rule on headers parses only the header
block; body and attachment rules split the whole tree once; files inside text (uuencode, yEnc)
and TNEF are extracted when parts are first asked for; archives are listed, and libmagic
loaded, only when a rule asks for names or sniffed types.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Protocol

from qmvc.message.envelope import Envelope
from qmvc.record import Record
from qmvc.scanners.base import ScanPart

HEADERS_ALONE_ABOVE = 128 * 1024
"""Messages larger than this have their header block parsed alone for header facts."""
MEMBER_SCAN_BYTES = 16 * 1024 * 1024
"""Members handed to scanners are cut here (the archive's unpacked-size limit bounds the sum)."""
_RAR_MAGIC = b"Rar!\x1a\x07"
MEMBER_SEPARATOR = " › "
"""Between an archive's name and a member's path, as explain shows it; the same as inside a
nested member's path (containers.MEMBER_SEPARATOR), which facts does not import up front."""

if TYPE_CHECKING:
    from email.message import Message

    from qmvc.message.containers.records import Extracted, Listing
    from qmvc.message.mime import Leaf, MimeTree
    from qmvc.message.names import NameCandidate
    from qmvc.message.received import IPAddress


class _Content(Protocol):
    @property
    def content(self) -> bytes: ...

    def head(self, size: int) -> bytes: ...


class _Bytes(Record):
    """Content already decoded: a file extracted from inside a leaf."""

    content: bytes

    def head(self, size: int) -> bytes:
        return self.content[:size]


class Attachment(Record):
    """A part a client shows as a file, or the message's own text (`is_body`): a MIME leaf, or a
    file found inside one. Content, size, sniffed type and archive members come on first use."""

    names: list[NameCandidate]
    declared_type: str
    path: str
    depth: int
    is_body: bool
    _source: _Content

    @property
    def filename(self) -> str:
        """The name clients prefer, normalised; "" for an unnamed part."""
        return self.names[0].name if self.names else ""

    @property
    def content(self) -> bytes:
        """The decoded bytes (transfer encoding undone)."""
        return self._source.content

    @cached_property
    def size(self) -> int:
        return len(self._source.content)

    @cached_property
    def sniffed_type(self) -> str:
        from qmvc.message.sniff import SNIFF_BYTES, sniff_type

        return sniff_type(self._source.head(SNIFF_BYTES))

    @cached_property
    def is_archive(self) -> bool:
        from qmvc.message.containers.archives import looks_like_archive
        from qmvc.message.containers.records import ARCHIVE_HEAD_BYTES, ARCHIVE_TAIL_BYTES

        head = self._source.head(ARCHIVE_HEAD_BYTES)
        return looks_like_archive(head, tail=self._source.content[-ARCHIVE_TAIL_BYTES:])

    @cached_property
    def _directory(self) -> Listing | None:
        """The archive's member list, read without unpacking members (except nested archives)."""
        if "_members_with_heads" in self.__dict__:
            return self._members_with_heads
        return self._list_archive(0)

    @cached_property
    def _members_with_heads(self) -> Listing | None:
        from qmvc.message.sniff import SNIFF_BYTES

        return self._list_archive(SNIFF_BYTES)

    def _list_archive(self, head_bytes: int) -> Listing | None:
        from qmvc.message.containers.archives import archive_members
        from qmvc.message.containers.records import Listing

        try:
            if not self.is_archive:
                return None
            return archive_members(self.content, head_bytes=head_bytes)
        except Exception as error:  # a bug must not decide a delivery: the policy does
            return Listing([], [], [f"archive not readable ({type(error).__name__})"])

    def members_for_scanners(self) -> list[tuple[str, bytes]]:
        """The members of a RAR archive (path, content), each whole up to MEMBER_SCAN_BYTES:
        Debian's ClamAV cannot unpack RAR (its unrar is non-free), libarchive can."""
        if not self._source.head(len(_RAR_MAGIC)).startswith(_RAR_MAGIC):
            return []
        listing = self._list_archive(MEMBER_SCAN_BYTES)
        if listing is None:
            return []
        return [(m.path, m.head) for m in listing.members if m.head]

    @property
    def shown_name(self) -> str:
        return self.filename or f"part {self.path}"

    @cached_property
    def member_names(self) -> list[NameCandidate]:
        """Each archive member as a candidate: its path as stored, its last segment as saved."""
        from qmvc.message.names import NameCandidate, normalise

        listing = self._directory
        if listing is None:
            return []
        where = f"member of {self.shown_name}"
        return [
            NameCandidate(m.path, normalise(m.path.rsplit(MEMBER_SEPARATOR, 1)[-1]), where)
            for m in listing.members
        ]

    @cached_property
    def name_values(self) -> list[tuple[str, str]]:
        """Every string a name rule tests for this part, with where it came from as explain
        shows it: each candidate normalised and raw, and each archive member."""
        values: list[tuple[str, str]] = []
        seen: set[str] = set()
        for candidate in self.names:
            for text in (candidate.name, candidate.raw):
                if text not in seen:
                    seen.add(text)
                    values.append((text, _origin(candidate, f"part {self.path}")))
        for member in self.member_names:
            shown = f"{self.shown_name}{MEMBER_SEPARATOR}{member.raw}"
            for text in (member.name, member.raw):
                if text not in seen:
                    seen.add(text)
                    values.append((text, shown))
        return values

    @cached_property
    def type_values(self) -> list[tuple[str, str]]:
        """The sniffed type of this part and of each archive member's head."""
        values = [(self.sniffed_type, f"part {self.path}")]
        listing = self._members_with_heads
        if listing is not None:
            from qmvc.message.sniff import sniff_type

            values.extend(
                (sniff_type(m.head), f"{self.shown_name}{MEMBER_SEPARATOR}{m.path}")
                for m in listing.members
                if m.head
            )
        return values

    @cached_property
    def archive_defects(self) -> tuple[list[str], list[str]]:
        """(defects, unanalysed) of the archive listing; empty for anything else."""
        listing = self._directory
        if listing is None:
            return [], []
        where = f"part {self.path} ({self.shown_name})"
        return (
            [f"{where}: {d}" for d in listing.defects],
            [f"{where}: {u}" for u in listing.unanalysed],
        )


def _origin(candidate: NameCandidate, where: str) -> str:
    raw = f", raw {candidate.raw!r}" if candidate.raw != candidate.name else ""
    return f"{where}, {candidate.source}{raw}"


class MessageFacts:
    """Lazy facts over one raw message and its envelope. Never raises on any input: what is
    wrong with the message is reported in `defects`."""

    def __init__(self, raw: bytes, envelope: Envelope) -> None:
        self.raw = raw
        self.envelope = envelope
        self.size = len(raw)
        self._header_values: dict[str, list[str]] = {}
        self._client_ips: dict[str, IPAddress | None] = {}

    @cached_property
    def scan_message(self) -> bytes:
        """The message as scanners get it: a lone CR made a line end, as clients (and qmvc's own
        analysis) read it and clamd's MIME parser does not."""
        from qmvc.message.mime import clients_line_ends

        return clients_line_ends(self.raw)

    @cached_property
    def _tree(self) -> MimeTree:
        from qmvc.message.mime import analyse

        return analyse(self.scan_message)

    @cached_property
    def _headers(self) -> Message:
        """The header block alone for a large message (a header rule then never reads its body);
        a small one is split whole at once, since a later body rule would split it again."""
        if "_tree" in self.__dict__ or self.size <= HEADERS_ALONE_ABOVE:
            return self._tree.root
        from qmvc.message.mime import parse_headers

        return parse_headers(self.raw)

    def header(self, name: str) -> list[str]:
        """Every value of the header `name` (any case), decoded as a person reads it."""
        key = name.lower()
        if key not in self._header_values:
            from qmvc.message.mime import decode_header_value

            values = self._headers.get_all(key, [])
            self._header_values[key] = [decode_header_value(str(value)) for value in values]
        return self._header_values[key]

    def raw_header(self, name: str) -> list[str]:
        """Every value of the header `name` as written, folding kept and nothing decoded: for
        parsers that must read what the writer wrote (received.py)."""
        key = name.lower()
        return [value for header, value in self._headers.raw_items() if header.lower() == key]

    def client_ip(self, our_host: str) -> IPAddress | None:
        """The SMTP client's address as this host's qmail-smtpd (writing `by our_host`)
        recorded it, or None; read once per host name."""
        if our_host not in self._client_ips:
            from qmvc.message.received import trusted_client_ip

            self._client_ips[our_host] = trusted_client_ip(self.raw_header("received"), our_host)
        return self._client_ips[our_host]

    @cached_property
    def subject(self) -> str:
        return next(iter(self.header("subject")), "")

    @cached_property
    def message_id(self) -> str:
        return next(iter(self.header("message-id")), "")

    @cached_property
    def body_text(self) -> str:
        """Every inline text part (attached messages' too), decoded; HTML reduced to text."""
        return "\n".join(leaf.text() for leaf in self._tree.leaves if leaf.is_inline_text)

    @cached_property
    def _extracted(self) -> list[tuple[Leaf, list[Attachment], list[str]]]:
        """Files inside leaves: uuencode and yEnc blocks in text, attachments of TNEF."""
        from qmvc.message.names import candidates

        found = []
        for leaf in self._tree.leaves:
            try:
                files, defects = _inner_files(leaf)
            except Exception as error:  # a bug must not decide a delivery: the policy does
                leaf.failures.append(f"part {leaf.path}: files inside not readable ({error!r:.60})")
                continue
            if not files and not defects:
                continue
            where = f"part {leaf.path}"
            parts = [
                Attachment(
                    candidates([(file.name, f"{file.source} in {where}")]),
                    "application/octet-stream",
                    f"{leaf.path}#{number}",
                    leaf.depth + 1,
                    False,
                    _Bytes(file.content),
                )
                for number, file in enumerate(files, 1)
            ]
            found.append((leaf, parts, [f"{where}: {d}" for d in defects]))
        return found

    @cached_property
    def parts(self) -> list[Attachment]:
        """Every analysed leaf in document order, the message's own text included, each followed
        by the files found inside it."""
        inner = {id(leaf): parts for leaf, parts, _ in self._extracted}
        result: list[Attachment] = []
        for leaf in self._tree.leaves:
            result.append(
                Attachment(
                    leaf.names, leaf.declared_type, leaf.path, leaf.depth, leaf.is_body, leaf
                )
            )
            result.extend(inner.get(id(leaf), []))
        return result

    @cached_property
    def attachments(self) -> list[Attachment]:
        """Every part that is not the message's own inline text."""
        return [part for part in self.parts if not part.is_body]

    @cached_property
    def unanalysed(self) -> list[str]:
        """Why some content was never analysed (too many parts, too deep, unparsable MIME, an
        archive past its limits): a rule then cannot see all of the message. Each of these is
        also in `defects`."""
        found = list(self._tree.unanalysed)
        for attachment in self.attachments:  # names were read with the parts, archives now
            found.extend(attachment.archive_defects[1])
        for leaf in self._tree.leaves:
            found.extend(leaf.failures)
        return found

    @cached_property
    def defects(self) -> list[str]:
        """Faults of structure, of each leaf's decoding, of files inside leaves, of archives,
        NUL bytes; at most MAX_DEFECTS listed."""
        from qmvc.message.mime import MAX_DEFECTS

        found = list(self._tree.defects)
        for leaf in self._tree.leaves:
            found.extend(leaf.defects)
        for _leaf, _parts, defects in self._extracted:
            found.extend(defects)
        for attachment in self.attachments:
            archive_defects, archive_unanalysed = attachment.archive_defects
            found.extend(archive_unanalysed + archive_defects)
        if b"\0" in self.raw:
            found.append("message: contains NUL bytes")
        if len(found) > MAX_DEFECTS:
            found[MAX_DEFECTS:] = [f"message: {len(found) - MAX_DEFECTS} more defects not listed"]
        return found

    def hidden_scan_parts(self) -> list[ScanPart]:
        """What an engine that parses MIME itself would not find: files inside text and TNEF
        (uuencode, yEnc), and members of archives it may not open (RAR)."""
        found = [
            ScanPart(part.filename, part.content, self._locations[part.path])
            for _leaf, parts, _defects in self._extracted
            for part in parts
        ]
        for attachment in self.attachments:
            for path, content in attachment.members_for_scanners():
                found.append(
                    ScanPart(
                        f"{attachment.shown_name}{MEMBER_SEPARATOR}{path}",
                        content,
                        f"{self._locations[attachment.path]}{MEMBER_SEPARATOR}{path}",
                    )
                )
        return found

    def scan_parts(self) -> list[ScanPart]:
        """Every part decoded, files found inside text and TNEF too, for scanners that read
        files; names as the message gave them."""
        locations = self._locations
        return [ScanPart(part.filename, part.content, locations[part.path]) for part in self.parts]

    def attachment_scan_parts(self) -> list[ScanPart]:
        """Every attachment decoded, for an engine that found a virus in the whole message to say
        which attachment held it. A part holding others (an attached message, a file with files
        inside) comes after them all, so that the innermost part carrying a virus names it."""
        locations = self._locations
        paths = locations.keys()
        holders = {
            next((p for p in _enclosing_paths(part.path) if p in paths), "") for part in self.parts
        }
        ordered = sorted(self.attachments, key=lambda part: part.path in holders)
        return [ScanPart(part.filename, part.content, locations[part.path]) for part in ordered]

    @cached_property
    def _locations(self) -> dict[str, str]:
        """Where a person finds each part, by path: its name after those of the parts holding it
        (`forwarded.eml › invoice.zip`, `winmail.dat › setup.exe`), as evidence writes an
        archive member; "" for the message's own text."""
        locations: dict[str, str] = {}
        for part in self.parts:
            outer = next((locations[p] for p in _enclosing_paths(part.path) if p in locations), "")
            if part.is_body:
                locations[part.path] = ""
            elif outer:
                locations[part.path] = f"{outer}{MEMBER_SEPARATOR}{part.shown_name}"
            else:
                locations[part.path] = part.shown_name
        return locations


def _enclosing_paths(path: str) -> list[str]:
    """The paths of everything that may hold a part, nearest first: for a file found inside a
    leaf (`1.2#1`) that leaf, then each MIME ancestor (an attached message keeps its number)."""
    leaf, inside, _number = path.partition("#")
    numbers = leaf.split(".")
    ancestors = [".".join(numbers[:count]) for count in range(len(numbers) - 1, 0, -1)]
    return [leaf, *ancestors] if inside else ancestors


_TNEF_TYPES = frozenset(("application/ms-tnef", "application/vnd.ms-tnef"))


def _inner_files(leaf: Leaf) -> tuple[list[Extracted], list[str]]:
    """uuencode and yEnc blocks of a text leaf, the attachments of a TNEF leaf, and a uuencoded
    file sent as the body of any other part under a wrong transfer encoding (ripmime and
    uudecoding clients find it by its `begin` line)."""
    from qmvc.message.containers.embedded import embedded_files
    from qmvc.message.mime import UUENCODINGS

    if leaf.declared_type.startswith("text/"):
        return embedded_files(leaf.content)
    from qmvc.message.containers.tnef import looks_like_tnef, tnef_files

    if leaf.declared_type in _TNEF_TYPES or looks_like_tnef(leaf.head(4)):
        return tnef_files(leaf.content)
    if leaf.transfer_encoding not in UUENCODINGS and b"begin " in leaf.raw_body:
        return embedded_files(leaf.raw_body)
    return [], []
