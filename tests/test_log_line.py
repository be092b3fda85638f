"""qmvc.log lines: exact round trip, one line whatever the input, safe concurrent appends."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import qmvc.logs.line
from qmvc.engine.verdict import ScannerReport
from qmvc.logs.escape import escape, unescape
from qmvc.logs.line import (
    LogRecord,
    append_line,
    format_line,
    parse_line,
    quick_parts,
    quick_rows,
    row_shape,
    scanner_code,
    valid_hour,
)

SEED_LINES = [
    "qmvc Pid:94761|20011106 09:22:47|cgi-mailer-bounces@kundenserver.de|gisela.wohlrabe@wdr.de"
    "|E:0+S:0+O:0+R:0+A:0|RC:0|09:22:47",
    "qmvc Pid:94935|20011106 09:22:51||Verkehr@wdr.de|E:0+S:0+O:0+R:0+A:1+F:0+C:0|M:1+T:1|RC:99"
    "|09:22:52",
]

START = datetime(2024, 3, 1, 23, 59, 58)


def record(**changes: object) -> LogRecord:
    fields: dict[str, object] = dict(
        pid=4242,
        start=START,
        end=START + timedelta(seconds=3),
        sender="a+tag@example.org",
        recipient="info@example.de",
        criteria=(("subject", "0"), ("filename", "1"), ("body", "-")),
        scanners=(("clamd", "S"),),
        exit_code=99,
        profile="default",
        outcome="badmail",
        message_id="<CA+x=y@mail.example>",
        size=20480,
        duration_ms=812,
        viruses=(),
    )
    fields.update(changes)
    return LogRecord(**fields)  # type: ignore[arg-type]


def from_bytes(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


# Text as qmvc meets it: any Unicode, bytes that are not UTF-8, and the separators themselves.
hostile_text = st.lists(
    st.one_of(
        st.text(),
        st.binary().map(lambda data: data),
        st.sampled_from(["|", "+", ":", "%", "=", "\r\n", "\x00", "RC:0", "%41"]),
    )
).map(lambda parts: from_bytes(b"".join(p if isinstance(p, bytes) else p.encode() for p in parts)))
pairs = st.lists(st.tuples(hostile_text, hostile_text)).map(tuple)
seconds = st.datetimes(datetime(1970, 1, 1), datetime(9998, 12, 31)).map(
    lambda moment: moment.replace(microsecond=0)
)
records = st.builds(
    LogRecord,
    pid=st.integers(0, 2**31),
    start=seconds,
    end=st.just(START),
    sender=hostile_text,
    recipient=hostile_text,
    criteria=pairs,
    scanners=pairs,
    exit_code=st.sampled_from([0, 99, 100, 111]),
    profile=hostile_text,
    outcome=hostile_text,
    message_id=hostile_text,
    size=st.integers(0, 2**40),
    duration_ms=st.integers(0, 2**31),
    viruses=st.lists(hostile_text.filter(bool)).map(tuple),
)


@given(records, st.integers(0, 86_399))
def test_any_record_round_trips_exactly(generated: LogRecord, elapsed: int) -> None:
    exact = LogRecord(
        **{
            **{name: getattr(generated, name) for name in LogRecord._fields},
            "end": generated.start + timedelta(seconds=elapsed),
        }
    )
    assert parse_line(format_line(exact)) == exact


@given(records)
def test_a_line_is_always_one_printable_ascii_line(generated: LogRecord) -> None:
    line = format_line(generated)
    assert line.isascii() and line.isprintable()
    assert len(line.split("|")) == 14


@given(hostile_text, st.text(alphabet="|+:="))
def test_escape_round_trips_and_hides_reserved_separators(text: str, reserved: str) -> None:
    escaped = escape(text, reserved)
    assert unescape(escaped) == text
    assert not set(reserved) & set(escaped)


def test_original_qmvc_lines_parse() -> None:
    null_sender_virus = parse_line(SEED_LINES[1])
    assert null_sender_virus.sender == ""
    assert null_sender_virus.criteria[4] == ("A", "1")
    assert null_sender_virus.scanners == (("M", "1"), ("T", "1"))
    assert null_sender_virus.exit_code == 99
    assert null_sender_virus.end == datetime(2001, 11, 6, 9, 22, 52)
    assert parse_line(SEED_LINES[0]).scanners == ()


def test_line_keeps_the_original_field_order() -> None:
    line = format_line(record())
    assert line == (
        "qmvc Pid:4242|20240301 23:59:58|a+tag@example.org|info@example.de"
        "|subject:0+filename:1+body:-|clamd:S|RC:99|00:00:01"
        "|profile=default|outcome=badmail|msgid=<CA+x=y@mail.example>|size=20480|ms=812|viruses="
    )


def test_end_past_midnight_is_the_next_day() -> None:
    assert parse_line(format_line(record())).end == datetime(2024, 3, 2, 0, 0, 1)


def test_hostile_sender_cannot_add_a_field_or_a_line() -> None:
    line = format_line(record(sender="x|RC:0|\nqmvc Pid:1|", viruses=("Eicar+1|x",)))
    assert "\n" not in line
    assert line.split("|")[2] == "x%7CRC:0%7C%0Aqmvc Pid:1%7C"
    assert line.endswith("|viruses=Eicar%2B1%7Cx")


def test_non_utf8_bytes_are_percent_encoded() -> None:
    line = format_line(record(recipient=from_bytes(b"caf\xe9@example.org")))
    assert "|caf%E9@example.org|" in line
    assert parse_line(line).recipient == from_bytes(b"caf\xe9@example.org")


@pytest.mark.parametrize(
    ("status", "viruses", "code"),
    [
        ("ran", ("Eicar",), "1"),
        ("ran", (), "0"),
        ("cached", ("Eicar",), "1"),
        ("skipped", (), "S"),
        ("failed", (), "F"),
        ("too-large", (), "L"),
        ("unavailable", (), "U"),
    ],
)
def test_scanner_code_for_each_status(status: str, viruses: tuple[str, ...], code: str) -> None:
    assert scanner_code(ScannerReport("clamd", status, viruses)) == code  # type: ignore[arg-type]


@pytest.mark.parametrize("garbage", ["", "hello", "qmvc Pid:1|x|y", "qmvc Pid:1|a|b|c|d|e|f|g"])
def test_garbage_is_a_value_error(garbage: str) -> None:
    with pytest.raises(ValueError):
        parse_line(garbage)


def test_log_file_is_created_0640(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        append_line(tmp_path / "qmvc.log", format_line(record()))
    finally:
        os.umask(old_umask)
    assert (tmp_path / "qmvc.log").stat().st_mode & 0o777 == 0o640


def _append_one(path: str) -> None:
    append_line(Path(path), format_line(record(pid=os.getpid(), sender="x" * 3000)))


def test_200_concurrent_appends_give_200_well_formed_lines(tmp_path: Path) -> None:
    log = tmp_path / "qmvc.log"
    with multiprocessing.get_context("fork").Pool(16) as pool:
        pool.map(_append_one, [str(log)] * 200, chunksize=1)
    lines = log.read_text().splitlines()
    assert len(lines) == 200
    assert {parse_line(line).sender for line in lines} == {"x" * 3000}
    assert len({parse_line(line).pid for line in lines}) > 1


def test_disk_full_leaves_no_torn_line(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(tmp_path)], check=True)
    try:
        log = tmp_path / "qmvc.log"
        with pytest.raises(OSError):
            for _ in range(100):
                append_line(log, format_line(record(sender="y" * 1000)))
        content = log.read_bytes()
        assert content.endswith(b"\n")
        assert all(parse_line(line) for line in content.decode().splitlines())
    finally:
        subprocess.run(["umount", str(tmp_path)], check=True)


@given(hostile_text)
def test_readable_escape_keeps_letters_and_never_a_line_break(text: str) -> None:
    escaped = escape(text, ascii_only=False)
    assert unescape(escaped) == text
    assert escaped.isprintable() and len(escaped.splitlines()) <= 1


def test_readable_escape_keeps_umlauts_but_not_bidi_overrides() -> None:
    assert escape("Grüße\u202e\u2028", ascii_only=False) == "Grüße%E2%80%AE%E2%80%A8"


@given(st.lists(st.sampled_from(["badmail", "scan"]), min_size=1, max_size=2, unique=True))
def test_a_bypass_is_one_more_field_that_round_trips(bypassed: list[str]) -> None:
    sample = record(bypassed=tuple(bypassed))
    line = format_line(sample)
    assert line.split("|")[14] == "bypass=" + "+".join(bypassed)
    assert parse_line(line) == sample


def test_no_bypass_field_when_nothing_was_bypassed() -> None:
    assert "bypass" not in format_line(record())


QUICK_LINE = (
    "qmvc Pid:7|20261124 08:00:00|a@b|c@d|x:1|c:0|RC:99|08:00:01"
    "|profile=p|outcome=badmail|msgid=<m@x>|size=20480|ms=812|viruses="
)


def test_quick_parts_reads_a_line_as_format_line_writes_it() -> None:
    parts = quick_parts(QUICK_LINE)
    assert parts is not None
    start, sender, recipient, shape, milliseconds = parts
    assert (start, sender, recipient, milliseconds) == ("20261124 08:00:00", "a@b", "c@d", 812)
    assert (shape.criteria, shape.scanners, shape.exit_code) == ((("x", "1"),), (("c", "0"),), 99)
    assert (shape.profile, shape.outcome, shape.viruses) == ("p", "badmail", ())


def test_quick_parts_keeps_every_letter_of_the_last_virus_name() -> None:
    """The line's newline is cut from the viruses field, and nothing else: names ending in
    the letters a sloppier strip would also take (X, n, l) are read whole."""
    line = QUICK_LINE.removesuffix("viruses=") + "viruses=W32/Nimda.l+Trojan.GenX\n"
    parts = quick_parts(line)
    assert parts is not None
    assert parts[3].viruses == ("W32/Nimda.l", "Trojan.GenX")
    assert parts[3].viruses == parse_line(line.rstrip("\n")).viruses


@pytest.mark.parametrize(
    ("written", "defect"),
    [
        ("|x:1|", "|x|"),  # a criterion without its flag: no shape
        ("qmvc Pid:7", "qmvc pid:7"),
        ("qmvc Pid:7", "qmvc Pid:7x"),
        ("20261124 08:00:00", "20261124 08:60:00"),
        ("20261124 08:00:00", "20261124 24:00:00"),
        ("20261124 08:00:00", "20260230 08:00:00"),
        ("|08:00:01|", "|08:00:60|"),
        ("|08:00:01|", "|24:00:01|"),
        ("msgid=", "msgi="),
        ("size=20480", "siz=20480"),
        ("size=20480", "size=20480x"),
        ("ms=812", "ns=812"),
        ("ms=812", "ms=8.12"),
    ],
)
def test_quick_parts_leaves_a_line_with_one_field_unlike_format_lines_to_parse_line(
    written: str, defect: str
) -> None:
    """One field off and the fast path says None, whatever the others: parse_line decides."""
    line = QUICK_LINE.replace(written, defect, 1)
    assert line != QUICK_LINE
    assert quick_parts(line) is None
    assert quick_parts(line, escaped=True) is None


def test_quick_parts_leaves_an_escaped_sender_to_parse_line_unless_asked() -> None:
    line = QUICK_LINE.replace("|a@b|", "|a%7Cb|")
    assert quick_parts(line) is None
    parts = quick_parts(line, escaped=True)
    assert parts is not None and parts[1] == "a|b"


def test_a_duration_of_more_than_18_digits_is_no_line_qmvc_wrote() -> None:
    longest = "9" * 18
    assert parse_line(QUICK_LINE.replace("ms=812", "ms=" + longest)).duration_ms == int(longest)
    with pytest.raises(ValueError, match="a duration of 19 digits"):
        parse_line(QUICK_LINE.replace("ms=812", "ms=1" + longest))
    parts = quick_parts(QUICK_LINE.replace("ms=812", "ms=" + longest))
    assert parts is not None and parts[4] == int(longest)  # the fast path takes 18 digits
    assert quick_parts(QUICK_LINE.replace("ms=812", "ms=1" + longest)) is None


def test_valid_hour_knows_a_real_date_and_hour_the_first_time_it_sees_it() -> None:
    assert valid_hour("19990228 23") is True
    assert valid_hour("19990228 23") is True  # and from its cache
    assert not valid_hour("19990229 23")  # no 29 February in 1999
    assert not valid_hour("19990228 24")


def test_quick_rows_reads_a_block_of_written_lines_stamped_or_not() -> None:
    line = QUICK_LINE + "\n"
    fields = ("20261124 08:00:00", "20261124 08", "a@b", "c@d", "x:1|c:0|RC:99")
    for block in (
        line * 2,
        "@400000006920f5a3123456ab " + line + "@400000006920f5a4123456ab " + line,
    ):
        rows = quick_rows(block)
        assert rows is not None and len(rows) == 2
        assert [row[:5] for row in rows] == [fields, fields]
        assert [row[6:8] for row in rows] == [("812", "viruses="), ("812", "viruses=")]


def test_row_shape_takes_the_viruses_and_at_most_a_bypass_after_them() -> None:
    head, tail = "x:1|c:0|RC:99", "profile=p|outcome=badmail"
    for rest in ("viruses=A", "viruses=A|bypass=scan"):
        shape = row_shape(head, tail, rest)
        assert shape is not None, rest
        assert (shape.criteria, shape.exit_code, shape.outcome, shape.viruses) == (
            (("x", "1"),),
            99,
            "badmail",
            ("A",),
        )
    for rest in ("viruses=A|other=1", "viruses=A|bypass=scan|x", "viruses=A|x|bypass=scan"):
        assert row_shape(head, tail, rest) is None, rest


def test_quick_rows_refuses_a_block_where_a_value_ran_over_a_lines_end() -> None:
    """A short line, then one whose fields line up with what the short one lacks: one row
    would span both lines. Counting rows against lines catches it; the lines are then read
    one by one."""
    short = "qmvc Pid:1|20261124 08:00:00|a\n"
    shifted = "qmvc Pid:2|20261124 08:00:01|b|c|d|08:00:02|e|f|msgid=x|size=1|ms=2|viruses=\n"
    assert len(qmvc.logs.line._QUICK_ROWS.findall(short + shifted)) == 1
    assert quick_rows(short + shifted) is None
    rows = quick_rows(shifted + short)  # in this order each is a line of another form
    assert rows is not None and [row[-1] for row in rows] == [shifted, short]
