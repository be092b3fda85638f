"""What the policy compiler says about a scanner: plain, picklable data, no I/O.

The compiled decision tree carries these; `qmvc.scanners.factory.build_scanner` turns
one into a working engine only when a message actually needs scanning.
"""

from __future__ import annotations

from qmvc.record import Record


class Timeout(Record):
    """A time limit that may grow with the message (`timeout 30s + 10s per MB`)."""

    base_seconds: float
    per_mb_seconds: float = 0.0

    def for_size(self, size_bytes: int) -> float:
        return self.base_seconds + self.per_mb_seconds * size_bytes / 1_048_576


class ClamdAddress(Record):
    """Either a unix socket path or a TCP host and port."""

    socket_path: str | None = None
    host: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        return self.socket_path or f"{self.host}:{self.port}"


class ClamdSpec(Record):
    """clamd reached at one or more addresses, tried in order on connection failure."""

    name: str
    addresses: tuple[ClamdAddress, ...]
    timeout: Timeout
    update_command: tuple[str, ...] = ("freshclam",)


class CommandSpec(Record):
    """A command-line engine: argv with `{dir}` standing for the directory of parts.

    `virus_pattern` is a regular expression applied to each output line; its group
    `name` (or else its first group) is the virus name.
    """

    name: str
    argv: tuple[str, ...]
    clean_codes: frozenset[int]
    infected_codes: frozenset[int]
    virus_pattern: str
    timeout: Timeout
    update_command: tuple[str, ...] = ()


ScannerSpec = ClamdSpec | CommandSpec
