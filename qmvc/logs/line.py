"""qmvc.log: one line per message, in the spirit of QMVC's original log, easy to grep and parse.

Format (fields separated by `|`; the first eight as in QMVC, then `key=value` fields)::

    qmvc Pid:94935|20011106 09:22:51||Verkehr@wdr.de|E:0+S:0+O:0+R:0+A:1+F:0+C:0|M:1+T:1\
    |RC:99|09:22:52|profile=wdr|outcome=virus|msgid=<x@y>|size=20480|ms=812\
    |viruses=W32/Goner@MM+WORM_SIRCAM.A

(shown on three lines; it is one.)

==  =====================  ==================================================================
 1  `qmvc Pid:N`           process id of the `qmvc deliver` that handled the message
 2  `YYYYMMDD HH:MM:SS`    start, local time, to the second
 3  sender                 envelope sender (SENDER); empty for the null sender `<>`
 4  recipient              envelope recipient (RECIPIENT)
 5  criteria               `name:flag` joined by `+`; flag `1` matched, `0` did not, `-` not
                           evaluated (bypassed); empty when the profile has no criteria
 6  scanners               `name:code` joined by `+`; code `1` virus, `0` clean, `S` skipped,
                           `F` failed, `L` too large, `U` unavailable; may be empty
 7  `RC:N`                 qmail exit code: 0 deliver, 99 handled, 100 bounce, 111 defer
 8  `HH:MM:SS`             end, local time; on the next day when earlier than the start
 9… `key=value`            `profile`, `outcome` (clean, badmail, virus, scanner-failure,
                           too-large), `msgid`, `size` (bytes), `ms` (duration),
                           `viruses` (names joined by `+`); readers ignore unknown keys
==  =====================  ==================================================================

Escaping: in every value, `%`, control characters (CR, LF, NUL, …), DEL, non-ASCII
characters and bytes that are not UTF-8 are written as `%XX` per byte (UTF-8), and so is
every separator where it would end the value: `|` everywhere; `+` and `:` in criterion and
scanner names and flags; `+` in virus names. A line is therefore printable ASCII, always one
line, and `parse_line(format_line(r)) == r` for every record whose times are whole seconds,
whose end is within a day after its start and whose virus names are not empty.
QMVC's own lines (without the scanners field, without key=value fields) parse as well.
"""

from __future__ import annotations

import fcntl
import os
import re
from datetime import datetime, timedelta
from pathlib import Path

from qmvc.engine.verdict import ScannerReport
from qmvc.logs.escape import escape, unescape
from qmvc.record import Record

PREFIX = "qmvc Pid:"
FIELD_SEPARATOR = "|"
LIST_SEPARATOR = "+"
PAIR_SEPARATOR = ":"
START_FORMAT = "%Y%m%d %H:%M:%S"
END_FORMAT = "%H:%M:%S"
LOG_FILE_MODE = 0o640

_STATUS_CODES = {"skipped": "S", "failed": "F", "too-large": "L", "unavailable": "U"}


class LogRecord(Record):
    """Everything qmvc.log says about one message; the tuples keep it hashable and comparable."""

    pid: int
    start: datetime
    end: datetime
    sender: str
    recipient: str
    criteria: tuple[tuple[str, str], ...]
    scanners: tuple[tuple[str, str], ...]
    exit_code: int
    profile: str = ""
    outcome: str = ""
    message_id: str = ""
    size: int = 0
    duration_ms: int = 0
    viruses: tuple[str, ...] = ()


def scanner_code(report: ScannerReport) -> str:
    """The one-letter code of field 6 for a scanner's part in the verdict."""
    if report.status in ("ran", "cached"):
        return "1" if report.viruses else "0"
    return _STATUS_CODES[report.status]


def _format_pairs(pairs: tuple[tuple[str, str], ...]) -> str:
    reserved = FIELD_SEPARATOR + LIST_SEPARATOR + PAIR_SEPARATOR
    return LIST_SEPARATOR.join(
        escape(name, reserved) + PAIR_SEPARATOR + escape(flag, reserved) for name, flag in pairs
    )


def _parse_pairs(field: str) -> tuple[tuple[str, str], ...]:
    if not field:
        return ()
    pairs = []
    for item in field.split(LIST_SEPARATOR):
        name, separator, flag = item.partition(PAIR_SEPARATOR)
        if not separator:
            raise ValueError(f"flag without a name:flag form: {item!r}")
        pairs.append((unescape(name), unescape(flag)))
    return tuple(pairs)


def format_line(record: LogRecord) -> str:
    """The record as one line of printable ASCII, without the trailing newline."""
    value_reserved = FIELD_SEPARATOR
    virus_reserved = FIELD_SEPARATOR + LIST_SEPARATOR
    fields = [
        f"{PREFIX}{record.pid}",
        record.start.strftime(START_FORMAT),
        escape(record.sender, value_reserved),
        escape(record.recipient, value_reserved),
        _format_pairs(record.criteria),
        _format_pairs(record.scanners),
        f"RC:{record.exit_code}",
        record.end.strftime(END_FORMAT),
        f"profile={escape(record.profile, value_reserved)}",
        f"outcome={escape(record.outcome, value_reserved)}",
        f"msgid={escape(record.message_id, value_reserved)}",
        f"size={record.size}",
        f"ms={record.duration_ms}",
        "viruses="
        + LIST_SEPARATOR.join(escape(name, virus_reserved) for name in record.viruses if name),
    ]
    return FIELD_SEPARATOR.join(fields)


def _end_after(start: datetime, end_text: str) -> datetime:
    """The end carries only a time of day: it is the first such moment at or after the start."""
    clock = datetime.strptime(end_text, END_FORMAT).time()
    end = datetime.combine(start.date(), clock)
    return end if end >= start else end + timedelta(days=1)


def parse_line(line: str) -> LogRecord:
    """The record `format_line` wrote (or a QMVC 1.x line); ValueError on anything else."""
    fields = line.rstrip("\n").split(FIELD_SEPARATOR)
    if len(fields) < 7 or not fields[0].startswith(PREFIX):
        raise ValueError(f"not a qmvc log line: {line[:80]!r}")
    if len(fields) >= 8 and fields[6].startswith("RC:"):
        criteria, scanners, exit_field, end_text = fields[4:8]
        extra = fields[8:]
    elif fields[5].startswith("RC:"):
        criteria, scanners, exit_field, end_text = fields[4], "", fields[5], fields[6]
        extra = fields[7:]
    else:
        raise ValueError(f"no RC: field where expected: {line[:80]!r}")
    start = datetime.strptime(fields[1], START_FORMAT)
    values = dict(field.partition("=")[::2] for field in extra)
    viruses = values.get("viruses", "")
    return LogRecord(
        pid=int(fields[0][len(PREFIX) :]),
        start=start,
        end=_end_after(start, end_text),
        sender=unescape(fields[2]),
        recipient=unescape(fields[3]),
        criteria=_parse_pairs(criteria),
        scanners=_parse_pairs(scanners),
        exit_code=int(exit_field[len("RC:") :]),
        profile=unescape(values.get("profile", "")),
        outcome=unescape(values.get("outcome", "")),
        message_id=unescape(values.get("msgid", "")),
        size=int(values.get("size") or 0),
        duration_ms=int(values.get("ms") or 0),
        viruses=tuple(unescape(name) for name in viruses.split(LIST_SEPARATOR)) if viruses else (),
    )


QuickFields = tuple[
    str,
    str,
    str,
    tuple[tuple[str, str], ...],
    tuple[tuple[str, str], ...],
    int,
    str,
    str,
    int,
    tuple[str, ...],
]
"""start as written, sender, recipient, criteria, scanners, exit code, profile, outcome,
duration in ms, viruses: what `qmvc report` needs of a line."""

_PLAIN = r"([\x20-\x24\x26-\x7b\x7d\x7e]*)"
"""A value with nothing to unescape: printable ASCII without `%` or `|`."""
_CLOCK = r"(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d"
_QUICK_LINE = re.compile(
    rf"qmvc Pid:\d+\|(\d{{8}} {_CLOCK})\|{_PLAIN}\|{_PLAIN}\|{_PLAIN}\|{_PLAIN}"
    rf"\|RC:(\d+)\|{_CLOCK}\|profile={_PLAIN}\|outcome={_PLAIN}\|msgid={_PLAIN}"
    rf"\|size=\d*\|ms=(\d*)\|viruses={_PLAIN}\n?",
    re.ASCII,
)
_CACHE_LIMIT = 4096
_valid_dates: dict[str, bool] = {}
_pairs_seen: dict[str, tuple[tuple[str, str], ...] | None] = {}


def _valid_date(text: str) -> bool:
    if len(_valid_dates) > _CACHE_LIMIT:
        _valid_dates.clear()
    try:
        valid = datetime.strptime(text, "%Y%m%d").strftime("%Y%m%d") == text
    except ValueError:
        valid = False
    _valid_dates[text] = valid
    return valid


def _cached_pairs(field: str) -> tuple[tuple[str, str], ...] | None:
    if field in _pairs_seen:
        return _pairs_seen[field]
    if len(_pairs_seen) > _CACHE_LIMIT:
        _pairs_seen.clear()
    try:
        pairs: tuple[tuple[str, str], ...] | None = _parse_pairs(field)
    except ValueError:
        pairs = None
    _pairs_seen[field] = pairs
    return pairs


def quick_fields(line: str) -> QuickFields | None:
    """The fields of a line exactly as `format_line` writes it (no escapes), found by one
    regular expression, without building a record: `qmvc report` reads millions of lines.
    None for anything else (escapes, QMVC 1.x, odd fields); then only `parse_line` can say.
    Where this gives fields, `parse_line` gives the same (tests/test_report_quick.py)."""
    match = _QUICK_LINE.fullmatch(line)
    if match is None:
        return None
    start, sender, recipient, criteria_text, scanners_text, exit_text = match.group(
        1, 2, 3, 4, 5, 6
    )
    profile, outcome, _, duration, viruses = match.group(7, 8, 9, 10, 11)
    date = start[:8]
    if not (_valid_dates.get(date) or _valid_date(date)):
        return None
    criteria, scanners = _cached_pairs(criteria_text), _cached_pairs(scanners_text)
    if criteria is None or scanners is None:
        return None
    return (
        start,
        sender,
        recipient,
        criteria,
        scanners,
        int(exit_text),
        profile,
        outcome,
        int(duration or 0),
        tuple(viruses.split(LIST_SEPARATOR)) if viruses else (),
    )


def append_line(path: Path, line: str) -> None:
    """Append `line` and a newline to qmvc.log, safe under concurrent deliveries."""
    append_locked(path, (line + "\n").encode("ascii"))


def append_locked(path: Path, data: bytes) -> None:
    """Append `data` as one write under an exclusive flock.

    Concurrent deliveries never interleave; a write that fails half way (disk full) is cut
    back so the file never holds a torn record. The file is created 0640 (less umask).
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, LOG_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size_before = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except OSError:
            os.ftruncate(fd, size_before)
            raise
    finally:
        os.close(fd)
