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
                           `viruses` (names joined by `+`), and `bypass` (`badmail`, `scan`
                           joined by `+`) only when a profile's bypass applied; readers
                           ignore unknown keys
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
from contextlib import suppress
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

_LONGEST_NUMBER = 18
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
    bypassed: tuple[str, ...] = ()
    """What a profile's `bypass` skipped: `badmail`, `scan`; written only when not empty."""


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
    if record.bypassed:
        fields.append(
            "bypass="
            + LIST_SEPARATOR.join(escape(name, virus_reserved) for name in record.bypassed)
        )
    return FIELD_SEPARATOR.join(fields)


def _end_after(start: datetime, end_text: str) -> datetime:
    """The end carries only a time of day: it is the first such moment at or after the start."""
    clock = datetime.strptime(end_text, END_FORMAT).time()
    end = datetime.combine(start.date(), clock)
    return end if end >= start else end + timedelta(days=1)


def _number(text: str, what: str) -> int:
    """A pid, a size or a duration, at most 18 digits (31 million years of milliseconds): a
    longer one is not one qmvc wrote; `int` would refuse one of 4,300, and no report could
    take a mean of a duration of 309 as a float."""
    if len(text) > _LONGEST_NUMBER:
        raise ValueError(f"a {what} of {len(text)} digits")
    return int(text)


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
    bypassed = values.get("bypass", "")
    return LogRecord(
        pid=_number(fields[0][len(PREFIX) :], "pid"),
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
        size=_number(values.get("size") or "0", "size"),
        duration_ms=_number(values.get("ms") or "0", "duration"),
        viruses=tuple(unescape(name) for name in viruses.split(LIST_SEPARATOR)) if viruses else (),
        bypassed=tuple(unescape(name) for name in bypassed.split(LIST_SEPARATOR))
        if bypassed
        else (),
    )


class Shape:
    """What a line shares with thousands of others: rules, scanners, exit code, profile,
    outcome and viruses. One object per distinct text, hashed by identity, so a reader can
    key its counts by it without hashing nested tuples for every line."""

    __slots__ = ("criteria", "scanners", "exit_code", "profile", "outcome", "viruses")

    def __init__(
        self,
        criteria: tuple[tuple[str, str], ...],
        scanners: tuple[tuple[str, str], ...],
        exit_code: int,
        profile: str,
        outcome: str,
        viruses: tuple[str, ...],
    ) -> None:
        self.criteria, self.scanners, self.exit_code = criteria, scanners, exit_code
        self.profile, self.outcome, self.viruses = profile, outcome, viruses


QuickParts = tuple[str, str, str, Shape, int]
"""start as written, sender, recipient, shape, duration in ms."""

_CACHE_LIMIT = 4096
_SECONDS = frozenset(f":{second:02d}" for second in range(60))
_MINUTES = frozenset(f"{hour:02d}:{minute:02d}" for hour in range(24) for minute in range(60))
_CLOCK_TAILS = frozenset(
    f":{minute:02d}:{second:02d}" for minute in range(60) for second in range(60)
)
"""`:MM:SS` of a start, as strftime writes it."""
_HOURS = frozenset(f" {hour:02d}" for hour in range(24))
_UNSEEN = Shape((), (), 0, "", "", ())
_shapes: dict[tuple[str, ...], Shape | None] = {}
_valid_hours: dict[str, bool] = {}


def _valid_hour(text: str) -> bool:
    """`YYYYMMDD HH` exactly as strftime writes a real date and hour: then `strptime` reads
    the whole stamp back to the same text."""
    if len(_valid_hours) > _CACHE_LIMIT:
        _valid_hours.clear()
    date = text[:8]
    try:
        valid = datetime.strptime(date, "%Y%m%d").strftime("%Y%m%d") == date
    except ValueError:
        valid = False
    valid = _valid_hours[text] = valid and text[8:] in _HOURS
    return valid


def _shape(key: tuple[str, ...]) -> Shape | None:
    """The shape of fields 5-7, 9, 10 and 14 as `parse_line` reads them; None where it would
    not (or might not) read them this way."""
    if len(_shapes) > _CACHE_LIMIT:
        _shapes.clear()
    criteria, scanners, exit_field, profile, outcome, viruses = key
    viruses = viruses.rstrip("\n")
    shape = None
    if (
        exit_field.startswith("RC:")
        and profile.startswith("profile=")
        and outcome.startswith("outcome=")
        and viruses.startswith("viruses=")
    ):
        names = viruses[len("viruses=") :]
        with suppress(ValueError):
            shape = Shape(
                _parse_pairs(criteria),
                _parse_pairs(scanners),
                int(exit_field[len("RC:") :]),
                unescape(profile[len("profile=") :]),
                unescape(outcome[len("outcome=") :]),
                tuple(unescape(name) for name in names.split(LIST_SEPARATOR)) if names else (),
            )
    _shapes[key] = shape
    return shape


def quick_parts(line: str, escaped: bool = False) -> QuickParts | None:
    """What `qmvc report` needs of a line laid out exactly as `format_line` writes it, found
    without building a record: for the lines `quick_rows` gives back whole, and for those
    of a block it could not cut into rows. So: one `str.split`; the fields most lines share
    looked up as one key in a cache of shapes; the other fields checked by slices against
    sets of the texts strftime and `format_line` write, the hour of the start against a
    cache of valid hours.
    None for anything else (QMVC 1.x, more or fewer fields, a clock strptime might read
    differently, a number `int` reads but `format_line` never writes), and for an escaped
    sender or recipient unless `escaped` (unescaping costs a call, and most lines have
    none); then only `parse_line` can say. Where this gives parts, `parse_line` gives the
    same values (tests/test_report_quick.py)."""
    fields = line.split(FIELD_SEPARATOR)
    if len(fields) != 14:
        if len(fields) != 15 or not fields[14].startswith("bypass="):
            return None
        del fields[14]  # the report counts no bypass: any value parse_line reads will do
    (
        pid, start, sender, recipient, criteria, scanners, exit_field,
        end, profile, outcome, message_id, size, duration, viruses,
    ) = fields  # fmt: skip
    shape = _shapes.get((criteria, scanners, exit_field, profile, outcome, viruses), _UNSEEN)
    if shape is _UNSEEN:
        shape = _shape((criteria, scanners, exit_field, profile, outcome, viruses))
    milliseconds = duration[3:]
    if (
        shape is None
        or not pid.startswith(PREFIX)
        or start[11:] not in _CLOCK_TAILS
        or end[5:] not in _SECONDS
        or end[:5] not in _MINUTES
        or not message_id.startswith("msgid=")
        or not size.startswith("size=")
        or not duration.startswith("ms=")
        or not pid[9:].isdecimal()
        or not size[5:].isdecimal()
        or not milliseconds.isdecimal()
        or len(pid) > len(PREFIX) + _LONGEST_NUMBER
        or len(size) > len("size=") + _LONGEST_NUMBER
        or len(milliseconds) > _LONGEST_NUMBER
        or not (_valid_hours.get(start[:11]) or _valid_hour(start[:11]))
    ):
        return None
    if "%" in sender or "%" in recipient:
        if not escaped:
            return None
        sender, recipient = unescape(sender), unescape(recipient)
    return start, sender, recipient, shape, int(milliseconds)


_QUICK_ROW = r"""^(?:
    {stamp}qmvc\x20Pid:[0-9]{{1,{longest}}}+\|
    (([0-9]{{8}}\x20[0-9]{{2}}):[0-5][0-9]:[0-5][0-9])\|   # start, its hour
    ([^|]*+)\|([^|]*+)\|                         # sender, recipient
    ([^|]*+\|[^|]*+\|[^|]*+)\|                   # criteria|scanners|RC:N
    (?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\| # end
    ([^|]*+\|[^|]*+)\|                           # profile=…|outcome=…
    msgid=[^|]*+\|size=[0-9]{{1,{longest}}}+\|ms=([0-9]{{1,{longest}}}+)\|
    (.*+)\n                                      # viruses=…, and any fields after it
    |(.*+\n))"""
_QUICK_ROWS = re.compile(
    _QUICK_ROW.format(stamp="", longest=_LONGEST_NUMBER), re.MULTILINE | re.VERBOSE
)
_QUICK_ROWS_STAMPED = re.compile(
    # multilog's stamp, as strip_stamp takes it
    _QUICK_ROW.format(stamp=r"@4000.{20}\x20", longest=_LONGEST_NUMBER),
    re.MULTILINE | re.VERBOSE,
)
"""What a row's fields hold that is part of its shape (`RC:`, `profile=`, ...) is left to
`row_shape`, once a shape. `[^|]*+` rather than `[^|\n]*`: a possessive repeat of one
excluded character is what the regular expression engine does fastest (each is followed by
the one character it excludes, so nothing is lost by never giving any back). A row that
runs over a line's end is caught by counting."""
QuickRow = tuple[str, str, str, str, str, str, str, str, str]
"""start, its hour, sender, recipient, `criteria|scanners|RC:N`, `profile=…|outcome=…`,
milliseconds, `viruses=…` and any fields after it; or, for a line of any other form, eight
empty strings and the line."""


def quick_rows(block: str) -> list[QuickRow] | None:
    """Each line of `block` (whole lines, each ending in a newline) as a QuickRow: one
    regular expression over thousands of lines, without a string for each line or a call
    for each field. A row is laid out as `quick_parts` wants it, but its sender and
    recipient may be escaped, and its hour and its shape are left to the caller
    (`valid_hour`, `row_shape`), who sees the same few thousand again and again. Any other
    line comes back whole. None when the rows are not one a line (a value ran over a
    line's end, past a line too short): then only the lines one by one can say."""
    rows = (_QUICK_ROWS_STAMPED if block[0] == "@" else _QUICK_ROWS).findall(block)
    return rows if len(rows) == block.count("\n") else None


def row_shape(head: str, tail: str, rest: str) -> Shape | None:
    """The shape of a QuickRow's fields, as `quick_parts` finds it; None where it finds
    none, for more fields after the viruses than a `bypass=`, say."""
    viruses, separator, bypassed = rest.partition(FIELD_SEPARATOR)
    if separator and (not bypassed.startswith("bypass=") or FIELD_SEPARATOR in bypassed):
        return None
    criteria, scanners, exit_field = head.split(FIELD_SEPARATOR)
    profile, outcome = tail.split(FIELD_SEPARATOR)
    return _shape((criteria, scanners, exit_field, profile, outcome, viruses))


def valid_hour(hour: str) -> bool:
    """`YYYYMMDD HH` of a start as strftime writes a real date and hour."""
    return _valid_hours.get(hour) or _valid_hour(hour)


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
