"""The report's fast path (`quick_parts`) agrees with `parse_line` on every line it accepts,
and a report read with it equals one read by `parse_line` alone: over lines `format_line`
writes, lines with their fields mangled, and the readers of rotated and multilog files."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import qmvc.logs.line
import qmvc.report.collect
from qmvc.logs.line import LogRecord, format_line, parse_line, quick_parts
from qmvc.logs.reading import log_files, open_log, rotations, strip_stamp
from qmvc.report.collect import Collector
from qmvc.report.figures import document

names = st.one_of(
    st.text("ab@.<>'\" :+=", max_size=8), st.text(st.characters(codec="utf-8"), max_size=12)
)
"""Plain names take the fast path; any others (escaped in the log) test its refusals."""
flags = st.sampled_from(["0", "1", "-", "S", "F", "L", "U", "x"])
records = st.builds(
    LogRecord,
    pid=st.integers(0, 10**7),
    start=st.datetimes(datetime(1000, 1, 1), datetime(9999, 12, 30)).map(
        lambda moment: moment.replace(microsecond=0)
    ),
    end=st.just(datetime(2000, 1, 1)),
    sender=names,
    recipient=names,
    criteria=st.lists(st.tuples(names, flags), max_size=3).map(tuple),
    scanners=st.lists(st.tuples(names, flags), max_size=2).map(tuple),
    exit_code=st.sampled_from([0, 99, 100, 111]),
    profile=names,
    outcome=st.sampled_from(["", "clean", "badmail", "virus", "deferred", "too-large"]),
    message_id=names,
    size=st.integers(0, 10**9),
    duration_ms=st.integers(0, 10**6),
    viruses=st.lists(names.filter(bool), max_size=2).map(tuple),
    bypassed=st.lists(st.sampled_from(["badmail", "scan"]), max_size=2).map(tuple),
).map(lambda r: LogRecord(**{**r.as_dict(), "end": r.start + timedelta(seconds=3)}))


def quick_fields(line: str, escaped: bool = False) -> tuple[object, ...] | None:
    """`quick_parts` with the shape spelled out, as `expected_fields` gives parse_line's."""
    parts = quick_parts(line, escaped)
    if parts is None:
        return None
    start, sender, recipient, shape, duration = parts
    return (
        start,
        sender,
        recipient,
        shape.criteria,
        shape.scanners,
        shape.exit_code,
        shape.profile,
        shape.outcome,
        duration,
        shape.viruses,
    )


KEYS = ("profile=", "outcome=", "msgid=", "size=", "ms=", "viruses=")


@st.composite
def lines(draw: st.DrawFn) -> str:
    """A written line, often mangled: a field cut, replaced or doubled, a byte inserted."""
    fields = format_line(draw(records)).split("|")
    mangle = draw(st.sampled_from(["none", "replace", "drop", "double", "insert"]))
    index = draw(st.integers(0, len(fields) - 1))
    piece = draw(st.sampled_from(["", "RC:", "25:00:00", "x:", "+", "%", "٣", " 1", "a=b", "\r"]))
    if mangle == "replace":
        fields[index] = piece + fields[index][draw(st.integers(0, 3)) :]
    elif mangle == "drop":
        del fields[index]
    elif mangle == "double":
        fields.insert(index, fields[index])
    elif mangle == "insert":
        position = draw(st.integers(0, len(fields[index])))
        fields[index] = fields[index][:position] + piece + fields[index][position:]
    return "|".join(fields) + draw(st.sampled_from(["\n", ""]))


def expected_fields(line: str) -> tuple[object, ...] | None:
    try:
        record = parse_line(line)
    except ValueError:
        return None
    return (
        record.start.strftime("%Y%m%d %H:%M:%S"),
        record.sender,
        record.recipient,
        record.criteria,
        record.scanners,
        record.exit_code,
        record.profile,
        record.outcome,
        record.duration_ms,
        record.viruses,
    )


@settings(max_examples=400, deadline=None)
@given(lines())
@example("qmvc Pid:1|20010229 09:22:51|a|b|x:0|y:0|RC:0|09:22:52|" + "|".join(KEYS))
@example("qmvc Pid:1|20261124 23:59:59|a|b||c:1|RC:99|00:00:01|" + "|".join(KEYS) + "A++B")
def test_quick_fields_are_parse_lines_or_none(line: str) -> None:
    quick = quick_fields(line)
    if quick is not None:
        assert quick == expected_fields(line)
    escaped = quick_fields(line, escaped=True)
    if escaped is not None:
        assert escaped == expected_fields(line)


@settings(max_examples=100, deadline=None)
@given(records)
def test_most_plain_lines_take_the_fast_path(record: LogRecord) -> None:
    line = format_line(record)
    if "%" not in line:
        assert quick_fields(line) == expected_fields(line) != None  # noqa: E711
    assert quick_fields(line, escaped=True) == expected_fields(line) != None  # noqa: E711


def test_quick_fields_take_the_lines_format_line_writes_without_escapes() -> None:
    line = format_line(
        LogRecord(
            pid=7,
            start=datetime(2026, 11, 24, 8),
            end=datetime(2026, 11, 24, 8, 0, 1),
            sender="a@b",
            recipient="c@d",
            criteria=(("x", "1"),),
            scanners=(("c", "0"),),
            exit_code=99,
            outcome="badmail",
        )
    )
    assert quick_fields(line) == expected_fields(line)
    assert quick_fields(line.replace("a@b", "a%7Cb")) is None
    escaped = line.replace("a@b", "a%7Cb")
    assert quick_fields(escaped, escaped=True) == expected_fields(escaped)


def read(
    logged: list[str], rows: bool = True, parts: bool = True, traced: list[object] | None = None
) -> Collector:
    """A Collector that read these lines as one file's text: by blocks through `quick_rows`
    (`rows`), else line by line through `quick_parts` (`parts`), else by `parse_line` alone."""
    collector = Collector(rule="x", virus="x", traced=None if traced is None else _tracer(traced))
    collector._name = "log"
    with pytest.MonkeyPatch.context() as patch:
        if not rows:
            patch.setattr(qmvc.report.collect, "quick_rows", lambda block: None)
        if not parts:
            patch.setattr(qmvc.report.collect, "quick_parts", lambda line, escaped=False: None)
        collector._read_log(io.StringIO("".join(logged), newline="\n"))
    return collector


def _tracer(traced: list[object]) -> Callable[[str, int, str], None]:
    return lambda name, number, line: traced.append((name, number, line))


def assert_same_report(logged: list[str]) -> None:
    """Read by blocks, line by line and by parse_line alone: the same document (figures in
    the same order, malformed examples with the same numbers) and the same traced lines."""
    readings = []
    for rows, parts in ((True, True), (False, True), (False, False)):
        traced: list[object] = []
        collector = read(logged, rows, parts, traced)
        readings.append(
            (document(collector.counts), list(document(collector.counts)["counts"]), traced)
        )
    assert readings[0] == readings[1] == readings[2]


stamped = lines().map(lambda line: "@400000006920f5a3123456ab " + line)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(lines(), stamped), max_size=30), st.integers(1, 400))
def test_a_report_read_fast_equals_one_read_by_parse_line(logged: list[str], block: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(qmvc.report.collect, "BLOCK", block)
        assert_same_report(logged)


@settings(max_examples=40, deadline=None)
@given(st.lists(lines(), max_size=40))
def test_the_fast_read_with_caches_cleared_all_the_time_gives_the_same(
    logged: list[str],
) -> None:
    """Caches of shapes, minutes, domains and categories, and the counts waiting to be
    folded, bounded at two entries: clearing and folding them changes no figure."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(qmvc.report.collect, "CACHE_LIMIT", 2)
        patch.setattr(qmvc.logs.line, "_CACHE_LIMIT", 2)
        assert_same_report(logged)


PLAIN = format_line(
    LogRecord(
        pid=7,
        start=datetime(2026, 11, 24, 8),
        end=datetime(2026, 11, 24, 8, 0, 1),
        sender="a@b",
        recipient="c@d",
        criteria=(("x", "1"),),
        scanners=(("clamd", "1"),),
        exit_code=99,
        outcome="virus",
        viruses=("x",),
    )
)


def test_a_line_cut_anywhere_before_a_whole_one_is_read_as_parse_line_reads_it() -> None:
    """A value read on past a short line's end would make it and the next one row: every
    place the line can be cut, at block sizes that put the cut inside a block."""
    for cut in range(len(PLAIN)):
        for block in (1 << 16, cut + 1):
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(qmvc.report.collect, "BLOCK", block)
                assert_same_report([PLAIN[:cut] + "\n", PLAIN + "\n", PLAIN + "\n"])


def test_lines_as_format_line_writes_them_are_read_by_blocks_not_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Speed: a plain log never reaches the line-by-line path (`_read_line`), stamped by
    multilog or not, with a bypass field, a period or a domain."""
    bypassed = format_line(LogRecord(**{**parse_line(PLAIN).as_dict(), "bypassed": ("scan",)}))
    logged = [PLAIN + "\n", bypassed + "\n"] * 300
    seen: list[str] = []
    monkeypatch.setattr(Collector, "_read_line", lambda self, line: seen.append(line))
    for text in (logged, ["@400000006920f5a3123456ab " + line for line in logged]):
        for scope in ((), ("20261124 00", "20261125 00", "d")):
            collector = Collector(*scope)
            collector._read_log(io.StringIO("".join(text), newline="\n"))
            assert seen == []
            assert sum(collector.counts.hours.values()) == 600


def test_an_escaped_recipient_read_by_blocks_is_unescaped() -> None:
    escaped = PLAIN.replace("|c@d|", "|c%7Cx@D%2Eexample|")
    collector = read([escaped + "\n", PLAIN + "\n"])
    assert dict(collector.counts.recipients) == {("c|x@D.example", "virus"): 1, ("c@d", "virus"): 1}
    assert {key[0] for key in collector.counts.kinds} == {"d.example", "d"}


def test_multilog_stamps_are_stripped_and_other_lines_kept() -> None:
    assert strip_stamp("@400000006920f5a3123456ab qmvc Pid:1|x") == "qmvc Pid:1|x"
    assert strip_stamp("@4000 qmvc Pid:1|x") == "@4000 qmvc Pid:1|x"


def test_rotations_are_read_oldest_first(tmp_path: Path) -> None:
    for name in (
        "qmvc.log",
        "qmvc.log.1",
        "qmvc.log.2.gz",
        "qmvc.log.10.gz",
        "qmvc.log-20261101.gz",
        "qmvc.log.lock",
        "qmvc.logger",
    ):
        (tmp_path / name).write_text("")
    assert [p.name for p in rotations(tmp_path / "qmvc.log")] == [
        "qmvc.log.10.gz",
        "qmvc.log.2.gz",
        "qmvc.log.1",
        "qmvc.log-20261101.gz",
        "qmvc.log",
    ]


def test_a_multilog_directory_is_read_by_stamp_then_current(tmp_path: Path) -> None:
    line = format_line(
        LogRecord(
            pid=1,
            start=datetime(2026, 11, 24, 8),
            end=datetime(2026, 11, 24, 8),
            sender="",
            recipient="c@d",
            criteria=(),
            scanners=(),
            exit_code=0,
        )
    )
    (tmp_path / "@400000006920f5a3000000aa.s").write_text(f"@400000006920f5a3000000aa {line}\n")
    (tmp_path / "@400000006920f5a2000000aa.s").write_text("@400000006920f5a2000000aa junk\n")
    (tmp_path / "current").write_text(f"@400000006920f5a4000000aa {line}\n")
    (tmp_path / "lock").write_text("")
    files = log_files([tmp_path], Path("/nonexistent"))
    assert [p.name for p in files] == [
        "@400000006920f5a2000000aa.s",
        "@400000006920f5a3000000aa.s",
        "current",
    ]
    collector = Collector()
    for path in files:
        with open_log(path) as log:
            collector.read(path.name, log)
    assert (sum(collector.counts.hours.values()), collector.counts.malformed) == (2, 1)


def test_gzip_is_told_by_content_not_name(tmp_path: Path) -> None:
    packed = tmp_path / "qmvc.log.1"
    packed.write_bytes(gzip.compress(b"first\nsecond\n"))
    with open_log(packed) as log:
        assert list(log.text) == ["first\n", "second\n"]


def test_a_duration_of_more_than_18_digits_is_malformed_not_a_crash() -> None:
    """Neither `int` (past 4,300 digits) nor the mean (past a float) may stop the report."""
    for digits in (18, 19, 400, 5000):
        long = PLAIN.replace("|ms=0|", f"|ms={'9' * digits}|")
        assert long != PLAIN
        assert_same_report([PLAIN + "\n", long + "\n"])
        collector = read([PLAIN + "\n", long + "\n"])
        assert collector.counts.malformed == (digits > 18)
        assert collector.counts.delivery_ms == (0 if digits > 18 else int("9" * digits))


@pytest.mark.parametrize(("field", "written"), [("pid", "Pid:7|"), ("size", "|size=0|")])
def test_a_pid_or_size_of_more_than_18_digits_is_malformed_on_every_path(
    field: str, written: str
) -> None:
    """Neither fast path converts them, so they once took a line `parse_line` refuses
    (`int` past 4,300 digits): every reader must call it what parse_line calls it."""
    for digits in (18, 19, 5000):
        long = PLAIN.replace(written, written.replace("7" if field == "pid" else "0", "9" * digits))
        assert long != PLAIN
        assert_same_report([PLAIN + "\n", long + "\n"])
        assert read([PLAIN + "\n", long + "\n"]).counts.malformed == (digits > 18)
        if digits > 18:
            with pytest.raises(ValueError, match=f"a {field} of {digits} digits"):
                parse_line(long)
