"""ClamAV's daemon, spoken to directly over its socket with `zINSTREAM`.

Why no client library: this module sits on the delivery hot path, where every import
costs every message, and the protocol is a dozen lines. Speaking it directly also gives
the control a mail filter needs and libraries get wrong: one deadline covering connect,
send and reply; reading clamd's `INSTREAM size limit exceeded` reply after it has closed
its end mid-upload (the broken-pipe case); and treating any reply not clearly `OK` or
`FOUND` as a failure. The usual clients (clamd, pyclamd) are unmaintained besides.

Protocol: send `zINSTREAM\\0`, then the raw message in chunks each preceded by its
length as 4 bytes big-endian, then a zero-length chunk. clamd parses the MIME itself,
answers one NUL-terminated line per finding (`stream: OK`, `stream: NAME FOUND`,
`... ERROR`) and closes the connection. A new connection per scan keeps concurrent
deliveries, in threads or processes, independent of each other.

clamd names no part in its reply (`stream: NAME FOUND`), so when the message as a whole is
infected the attachments are streamed one by one, within the same deadline, to say which
one held each virus. Only an infected message pays for that.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import struct
import time
from collections.abc import Sequence

from qmvc.scanners.base import AttachmentParts, ScanPart, ScanResult, ScanStatus, no_attachments
from qmvc.scanners.spec import ClamdAddress, ClamdSpec

CHUNK_BYTES = 64 * 1024
MAX_REPLY_BYTES = 64 * 1024
"""clamd's replies are short; more than this is not clamd talking."""

MAX_SCAN_SECONDS = 86_400.0
"""A longer policy timeout means "never"; taken literally (centuries) it overflows the OS timers."""

MAX_CONNECT_SECONDS = 5.0
"""A dead farm member should not eat the whole budget before the next one is tried."""

MAX_LOCATED_PARTS = 20
"""Attachments streamed alone, at most, to find which one held a virus of an infected message."""

SIZE_LIMIT_REPLY = "INSTREAM size limit exceeded"


class ScanTimeout(Exception):
    """The message's deadline passed before clamd finished answering."""


class ClamdScanner:
    """A Scanner backed by one or more clamd addresses, tried in order on connection failure."""

    def __init__(self, spec: ClamdSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.wants_parts = False  # clamd parses MIME itself; it gets only what it cannot find

    def signature_version(self) -> str | None:
        return signature_version(self.spec)

    def scan(
        self,
        message: bytes,
        parts: Sequence[ScanPart],
        attachments: AttachmentParts = no_attachments,
    ) -> ScanResult:
        """Scans the message, then each of `parts` (files qmvc found that clamd's own MIME
        parser does not: yEnc blocks, members of archives it cannot open) while all is clean.
        An infected part (its location, else its name) is where its viruses are; an infected
        message has its viruses located among `attachments` (see `_locate`)."""
        started = time.monotonic()
        size = len(message) + sum(len(part.content) for part in parts)
        deadline = started + min(self.spec.timeout.for_size(size), MAX_SCAN_SECONDS)
        unreachable: list[str] = []
        for address in self.spec.addresses:
            try:
                connection = _connect(address, deadline)
            except (OSError, ValueError, OverflowError) as error:
                unreachable.append(f"{address} unreachable ({_describe(error)})")
                continue
            with connection:
                status, viruses, said = _exchange(connection, message, deadline)
            locations: tuple[tuple[str, str], ...] = ()
            if status == "infected":
                locations = _locate(address, viruses, attachments, deadline)
            for part in parts:
                if status != "clean":
                    break
                status, viruses, said = _scan_part(address, part, deadline)
                where = part.location or part.name  # a hidden part is always a file
                if status == "infected" and where:
                    locations = tuple((virus, where) for virus in viruses)
            detail = "; ".join([*unreachable, f"{address}: {said}"])
            return ScanResult(status, viruses, time.monotonic() - started, detail, locations)
        detail = "; ".join(unreachable) or "no clamd address configured"
        return ScanResult("failed", (), time.monotonic() - started, detail)


def signature_version(spec: ClamdSpec, seconds: float = 5.0) -> str | None:
    """The signature database's version from `zVERSION` (`ClamAV 1.0.7/27461/date` →
    `27461`, the whole reply when it has no database part); None when no address answers.
    The verdict cache keys on it, so a signature update invalidates cached verdicts."""
    deadline = time.monotonic() + seconds
    for address in spec.addresses:
        try:
            with _connect(address, deadline) as connection:
                connection.settimeout(_remaining(deadline))
                connection.sendall(b"zVERSION\0")
                reply = _read_reply(connection, deadline)
        except (OSError, ValueError, OverflowError, ScanTimeout):
            continue
        text = reply.rstrip(b"\0\n").decode("ascii", "replace")
        if text.startswith("ClamAV "):
            fields = text.split("/")
            return fields[1] if len(fields) > 1 else text
    return None


def _locate(
    address: ClamdAddress, viruses: Sequence[str], attachments: AttachmentParts, deadline: float
) -> tuple[tuple[str, str], ...]:
    """(virus, location) for each of `viruses` that an attachment streamed alone also carries.

    At most MAX_LOCATED_PARTS attachments, stopping once every virus has its attachment, at
    the deadline, or when clamd fails to answer. This only names attachments: no fault here,
    a bug included, may change the verdict, so any fault leaves the viruses unlocated.
    """
    wanted = set(viruses)
    located: dict[str, str] = {}
    try:
        candidates = (part for part in attachments() if part.location)
        for part in itertools.islice(candidates, MAX_LOCATED_PARTS):
            status, found, _said = _scan_part(address, part, deadline)
            if status == "failed":  # the deadline passed, or clamd stopped answering
                break
            for virus in wanted.intersection(found):
                located.setdefault(virus, part.location)
            if located.keys() >= wanted:
                break
    except Exception:
        return ()
    return tuple((virus, located[virus]) for virus in viruses if virus in located)


def _scan_part(
    address: ClamdAddress, part: ScanPart, deadline: float
) -> tuple[ScanStatus, tuple[str, ...], str]:
    """One more stream on the address that took the message; unreachable now is a failure."""
    shown = repr(part.name[:80])
    try:
        connection = _connect(address, deadline)
    except (OSError, ValueError, OverflowError) as error:
        return "failed", (), f"part {shown}: unreachable ({_describe(error)})"
    with connection:
        status, viruses, said = _exchange(connection, part.content, deadline)
    return status, viruses, said if status == "clean" else f"part {shown}: {said}"


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ScanTimeout
    return left


def _connect(address: ClamdAddress, deadline: float) -> socket.socket:
    """Opens a connection; raises OSError (timeouts included) or ValueError when unusable."""
    try:
        connect_seconds = min(_remaining(deadline), MAX_CONNECT_SECONDS)
    except ScanTimeout as timeout:
        raise TimeoutError("deadline passed before connecting") from timeout
    if address.socket_path is not None:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.settimeout(connect_seconds)
            connection.connect(address.socket_path)
        except OSError:
            connection.close()
            raise
        return connection
    return socket.create_connection((address.host or "", address.port or 0), connect_seconds)


def _exchange(
    connection: socket.socket, message: bytes, deadline: float
) -> tuple[ScanStatus, tuple[str, ...], str]:
    """Uploads the message and interprets the reply; every fault becomes `failed`.

    clamd hangs up early over its size limit, and its reply then says so. A clean answer
    to an upload it stopped reading cannot vouch for the part it never read.
    """
    uploaded = False
    try:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            _send_message(connection, message, deadline)
            uploaded = True
        reply = _read_reply(connection, deadline)
    except (ScanTimeout, TimeoutError):
        return "failed", (), "timed out"
    except OSError as error:
        return "failed", (), f"connection failed ({_describe(error)})"
    if len(reply) > MAX_REPLY_BYTES:
        return "failed", (), f"reply longer than {MAX_REPLY_BYTES} bytes: {reply[:200]!r}"
    status, viruses, said = parse_reply(reply)
    if status == "clean" and not uploaded:
        return "failed", (), f"clean answer to an upload cut short: {said}"
    return status, viruses, said


def _send_message(connection: socket.socket, message: bytes, deadline: float) -> None:
    connection.settimeout(_remaining(deadline))
    connection.sendall(b"zINSTREAM\0")
    for offset in range(0, len(message), CHUNK_BYTES):
        chunk = message[offset : offset + CHUNK_BYTES]
        connection.settimeout(_remaining(deadline))
        connection.sendall(struct.pack(">I", len(chunk)) + chunk)
    connection.settimeout(_remaining(deadline))
    connection.sendall(struct.pack(">I", 0))


def _read_reply(connection: socket.socket, deadline: float) -> bytes:
    """Everything clamd says until it closes the connection (it does after each command).

    When clamd closed with part of our upload unread, the kernel reports the close as a
    reset instead of end-of-file, after the reply it did send: that also ends the reply.
    """
    received = bytearray()
    while len(received) <= MAX_REPLY_BYTES:
        connection.settimeout(_remaining(deadline))
        try:
            data = connection.recv(4096)
        except ConnectionResetError:
            if not received:
                raise
            break
        if not data:
            break
        received += data
    return bytes(received)


def parse_reply(reply: bytes) -> tuple[ScanStatus, tuple[str, ...], str]:
    """Status, virus names and a description of clamd's raw reply.

    Only a complete reply made wholly of `FOUND` lines is infected, only a single
    `stream: OK` is clean and only a single size-limit line is too-large; anything else
    (UNKNOWN, ERROR, empty, truncated, a mixture) is failed.
    """
    text = reply.decode("utf-8", errors="replace")
    lines = text.split("\0")
    if not text:
        return "failed", (), "empty reply"
    if lines[-1] != "":
        return "failed", (), f"truncated reply {text[:200]!r}"
    lines = [line.strip() for line in lines[:-1]]
    said = " | ".join(lines)[:500]
    if len(lines) == 1 and lines[0].startswith(SIZE_LIMIT_REPLY):
        return "too-large", (), said
    if lines == ["stream: OK"]:
        return "clean", (), said
    viruses = tuple(_found_name(line) for line in lines)
    if all(viruses):
        return "infected", viruses, said
    return "failed", (), f"unrecognised reply {said!r}"


def _found_name(line: str) -> str:
    """The virus name of a `stream: NAME FOUND` line, or '' when the line is not one."""
    prefix, suffix = "stream: ", " FOUND"
    if line.startswith(prefix) and line.endswith(suffix):
        return line[len(prefix) : -len(suffix)].strip()
    return ""


def _describe(error: Exception) -> str:
    """The human part of an error (`No such file or directory`), without errno noise."""
    reason = error.strerror if isinstance(error, OSError) else None
    return reason or str(error) or type(error).__name__
