"""A large qmvc.log read on several cores (`qmvc.report.parallel`) gives the report a single
reader gives: the same figures in the same order, the same malformed examples with the
same line numbers. The stretch size and the minimum are made small here, so that files of a
few kilobytes are cut into many stretches, some of one line."""

from __future__ import annotations

import gzip
import io
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import qmvc.report.parallel
from qmvc.cli import main
from qmvc.logs.line import LogRecord, format_line
from qmvc.logs.reading import open_log
from qmvc.report.collect import Collector
from qmvc.report.figures import document
from qmvc.report.parallel import read_in_parallel, stretches, worth_cutting
from tests.report_support import BROKEN, HOSTILE_SENDER, L1, L3, L4, L9, L10, UPDATE_OK


def sequential(path: Path) -> Collector:
    collector = Collector()
    with path.open("rb") as raw, io.TextIOWrapper(raw, "utf-8", "replace", "\n") as text:
        collector.read_log_text(str(path), text)
    collector.counts.files.append((str(path), sum(1 for _ in path.open("rb"))))
    return collector


def in_parallel(path: Path, cores: int = 2) -> Collector:
    collector = Collector()
    read_in_parallel(collector, path, cores)
    return collector


def mixed_lines(count: int) -> list[str]:
    """Clean, badmail and virus lines, an escaped sender, QMVC 1.x, update and broken lines,
    a multilog stamp and a line that is not UTF-8, over a few hours."""
    lines = []
    for index in range(count):
        record = [L1, L3, L4, L10][index % 4]
        start = datetime(2026, 11, 24, 8) + timedelta(minutes=7 * index)
        line = format_line(
            LogRecord(**{**record.as_dict(), "pid": index, "start": start, "end": start})
        )
        lines.append(line)
        if index % 13 == 5:
            lines.append(BROKEN[index % len(BROKEN)])
        if index % 17 == 3:
            lines.append(L9)
        if index % 19 == 7:
            lines.append(UPDATE_OK)
        if index % 23 == 11:
            lines.append("@400000006920f5a3123456ab " + line)
    return lines


def write(path: Path, lines: list[str]) -> Path:
    data = "".join(line + "\n" for line in lines).encode()
    path.write_bytes(data.replace(b"broken", b"br\xffken"))
    return path


@pytest.fixture
def small_stretches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qmvc.report.parallel, "STRETCH", 700)
    monkeypatch.setattr(qmvc.report.parallel, "PARALLEL_MINIMUM", 1)


def test_stretches_cover_the_file_and_end_at_line_ends(
    tmp_path: Path, small_stretches: None
) -> None:
    log = write(tmp_path / "qmvc.log", mixed_lines(60))
    data = log.read_bytes()
    pieces = stretches(log, len(data))
    assert len(pieces) > 10
    assert pieces[0][0] == 0 and pieces[-1][1] == len(data)
    for (_, end), (start, _) in zip(pieces, pieces[1:], strict=False):
        assert end == start and data[end - 1 : end] == b"\n"
    assert all(start < end for start, end in pieces)


def test_a_line_longer_than_a_stretch_stays_whole(tmp_path: Path, small_stretches: None) -> None:
    long_line = format_line(LogRecord(**{**L1.as_dict(), "message_id": "<" + "x" * 5000 + ">"}))
    log = write(tmp_path / "qmvc.log", [format_line(L1), long_line, format_line(L3)])
    data = log.read_bytes()
    pieces = stretches(log, len(data))
    assert [data[start:end].count(b"\n") for start, end in pieces] == [2, 1]
    assert document(in_parallel(log).counts) == document(sequential(log).counts)


def test_a_log_read_in_parallel_is_the_log_read_in_one_go(
    tmp_path: Path, small_stretches: None
) -> None:
    log = write(tmp_path / "qmvc.log", mixed_lines(400))
    one, many = sequential(log), in_parallel(log)
    assert document(many.counts) == document(one.counts)
    assert list(document(many.counts)["counts"]) == list(document(one.counts)["counts"])
    assert many.counts.malformed_lines == one.counts.malformed_lines
    assert many.counts.malformed == one.counts.malformed == 31  # 400 // 13, past 20 examples
    assert many.counts.files == one.counts.files == [(str(log), log.read_bytes().count(b"\n"))]
    assert many.counts.updates == one.counts.updates and many.counts.updates["clamav"][0] == 21
    assert (
        many.counts.senders[HOSTILE_SENDER, "virus"] == 100 + 4
    )  # and 4 stamped copies (34, 126, 218, 310)


def test_a_period_and_a_domain_are_kept_by_every_worker(
    tmp_path: Path, small_stretches: None
) -> None:
    log = write(tmp_path / "qmvc.log", mixed_lines(200))
    for scope in (("20261124 10:00:00", "20261124 14:00:00", None), ("", "~", "wdr.de")):
        one, many = Collector(*scope), Collector(*scope)
        with open_log(log) as opened:
            one.read(str(log), opened)
        read_in_parallel(many, log, 2)
        assert document(many.counts) == document(one.counts)
        assert 0 < sum(many.counts.hours.values()) < 200


@settings(max_examples=25, deadline=None)
@given(
    count=st.integers(0, 80),
    stretch=st.integers(1, 3000),
    cores=st.integers(2, 4),
)
def test_any_cut_gives_the_same_report(
    tmp_path_factory: pytest.TempPathFactory, count: int, stretch: int, cores: int
) -> None:
    log = write(tmp_path_factory.mktemp("cut") / "qmvc.log", mixed_lines(count))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(qmvc.report.parallel, "STRETCH", stretch)
        many = in_parallel(log, cores)
    one = sequential(log)
    assert document(many.counts) == document(one.counts)
    assert many.counts.malformed_lines == one.counts.malformed_lines
    assert many.counts.files == one.counts.files


def test_only_large_plain_logs_on_several_cores_are_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(qmvc.report.parallel, "PARALLEL_MINIMUM", 1000)
    lines = mixed_lines(10)
    log = write(tmp_path / "qmvc.log", lines)
    packed = tmp_path / "qmvc.log.1.gz"
    packed.write_bytes(gzip.compress(log.read_bytes()))
    rep = tmp_path / "qmvc.rep"
    rep.write_text("=== qmvc report 20261124 08:00:00 pid 1 ===\n" * 20)
    stamped_rep = tmp_path / "current"
    stamped_rep.write_text(
        "@400000006920f5a3123456ab === qmvc report 20261124 08:00:00 pid 1 ===\n" * 20
    )
    small = write(tmp_path / "small.log", lines[:1])
    assert worth_cutting(log, 2) and not worth_cutting(log, 1)
    assert not worth_cutting(packed, 2)
    assert not worth_cutting(small, 2)
    assert not worth_cutting(rep, 2) and not worth_cutting(stamped_rep, 2)


def test_the_command_reads_in_parallel_and_reports_the_same(
    tmp_path: Path,
    small_stretches: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Through `qmvc report`: cut when nothing is traced; `--show` reads in one go (its
    lines are printed as found, in the log's order) and lists the same lines."""
    log = write(tmp_path / "qmvc.log", mixed_lines(120))
    cut: list[Path] = []
    real = qmvc.report.parallel.read_in_parallel
    monkeypatch.setattr(
        qmvc.report.parallel,
        "read_in_parallel",
        lambda collector, path, *rest: (cut.append(path), real(collector, path, *rest)),
    )
    monkeypatch.setattr(qmvc.report.parallel, "usable_cores", lambda: 2)
    assert main(["report", "--format", "json", str(log)]) == 0
    parallel_report = json.loads(capsys.readouterr().out)
    assert cut == [log]
    expected = document(sequential(log).counts)
    assert parallel_report["counts"] == json.loads(json.dumps(expected["counts"]))
    assert parallel_report["malformed"] == json.loads(json.dumps(expected["malformed"]))
    assert main(["report", "--format", "json", "--show", "filename", str(log)]) == 0
    shown = json.loads(capsys.readouterr().out)["lines"]
    assert cut == [log] and len(shown) == 30 + 1  # and line 57 again, stamped
    assert [entry["line"] for entry in shown] == sorted(entry["line"] for entry in shown)
