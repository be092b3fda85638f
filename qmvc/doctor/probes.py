"""Talking to the servers a delivery needs: clamd's PING and VERSION, the SMTP greeting.

Each probe opens its own connection, as a delivery does, within one deadline covering
connect, send and reply, and raises OSError (TimeoutError included) or ProbeError when
the peer does not answer as it should.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from datetime import datetime

from qmvc.scanners.spec import ClamdAddress

MAX_REPLY_BYTES = 4096
MAX_CONNECT_SECONDS = 5.0  # as qmvc.scanners.clamd gives each address of a farm


class ProbeError(Exception):
    """The peer answered, but not what it should have."""


@dataclass(frozen=True, slots=True)
class ClamdVersion:
    """clamd's VERSION reply: `ClamAV 1.0.7/27461/Mon Nov 24 09:33:00 2026`. The database
    version and date come from the daily database; a clamd without one reports neither."""

    engine: str
    database: int | None = None
    database_date: datetime | None = None


def clamd_command(address: ClamdAddress, command: str, seconds: float) -> str:
    """Send `zCOMMAND\\0` on a new connection; clamd's NUL-terminated reply, without the NUL."""
    deadline = time.monotonic() + seconds
    with _connect(address, deadline) as connection:
        connection.settimeout(_remaining(deadline))
        connection.sendall(b"z" + command.encode("ascii") + b"\0")
        reply = bytearray()
        while not reply.endswith(b"\0"):
            connection.settimeout(_remaining(deadline))
            data = connection.recv(MAX_REPLY_BYTES)
            if not data:
                break
            reply += data
            if len(reply) > MAX_REPLY_BYTES:
                raise ProbeError(f"a reply longer than {MAX_REPLY_BYTES} bytes to {command}")
    if not reply.endswith(b"\0"):
        raise ProbeError(f"an unterminated reply to {command}: {bytes(reply[:200])!r}")
    return reply[:-1].decode("utf-8", errors="replace").strip()


def parse_version(reply: str) -> ClamdVersion:
    """The engine version and, when clamd has a daily database, its version and date."""
    if not reply.startswith("ClamAV "):
        raise ProbeError(f"VERSION answered {reply[:200]!r}")
    fields = reply.split("/", 2)
    if len(fields) < 3:
        return ClamdVersion(fields[0])
    try:
        database = int(fields[1])
        # clamd prints ctime(3) in its own local time: "Mon Nov  3 09:33:00 2026"
        date = datetime.strptime(" ".join(fields[2].split()), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        raise ProbeError(f"VERSION answered {reply[:200]!r}") from None
    return ClamdVersion(fields[0], database, date)


def smtp_greeting(host: str, port: int, seconds: float) -> str:
    """The server's 220 greeting (its first line), after which the probe says QUIT."""
    deadline = time.monotonic() + seconds
    with socket.create_connection((host, port), min(seconds, MAX_CONNECT_SECONDS)) as connection:
        lines = _reply_lines(connection, deadline)
        if not lines[-1].startswith("220 "):
            raise ProbeError(f"greeted with {lines[0][:200]!r}, not 220")
        connection.settimeout(_remaining(deadline))
        connection.sendall(b"QUIT\r\n")
    return lines[0]


def _reply_lines(connection: socket.socket, deadline: float) -> list[str]:
    """One SMTP reply: lines `NNN-…` up to the last one, `NNN …`."""
    received = bytearray()
    while True:
        lines = received.decode("utf-8", errors="replace").split("\r\n")
        complete = lines[:-1]
        if complete and (len(complete[-1]) < 4 or complete[-1][3] != "-"):
            return complete
        if len(received) > MAX_REPLY_BYTES:
            raise ProbeError(f"a greeting longer than {MAX_REPLY_BYTES} bytes")
        connection.settimeout(_remaining(deadline))
        data = connection.recv(MAX_REPLY_BYTES)
        if not data:
            raise ProbeError(f"the server closed the connection after {bytes(received[:200])!r}")
        received += data


def _connect(address: ClamdAddress, deadline: float) -> socket.socket:
    connect_seconds = min(_remaining(deadline), MAX_CONNECT_SECONDS)
    if address.socket_path is None:
        target = (address.host or "", address.port or 0)
        return socket.create_connection(target, connect_seconds)
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.settimeout(connect_seconds)
        connection.connect(address.socket_path)
    except OSError:
        connection.close()
        raise
    return connection


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("no answer within the timeout")
    return left
