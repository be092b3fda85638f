"""qmvc.rep entries: complete, readable, and unforgeable by what a message contains."""

from __future__ import annotations

import multiprocessing
import os
from datetime import datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from qmvc.engine.verdict import Action, CriterionMatch, ScannerReport, Verdict
from qmvc.logs.line import LogRecord
from qmvc.logs.rep import append_report, format_report, parse_reports
from qmvc.span import Span

SPAN = Span("default.qmvc", 12, 5, 12, 30)
START = datetime(2001, 11, 6, 9, 22, 51)


def virus_verdict(evidence: str = "GF112.doc.com", virus: str = "W32/Goner@MM") -> Verdict:
    return Verdict(
        outcome="virus",
        profile="wdr",
        exit_code=99,
        criteria=[CriterionMatch("filename", evidence, SPAN)],
        scanners=[
            ScannerReport("clamd", "ran", (virus,), 0.41),
            ScannerReport("fsav", "skipped", reason="virus found"),
        ],
        actions=[Action("keep", ("quarantine",)), Action("notify", ("av_guard",))],
    )


def record(sender: str = "", message_id: str = "<3BE79C1B.5F3A@example.com>") -> LogRecord:
    return LogRecord(
        pid=94935,
        start=START,
        end=START,
        sender=sender,
        recipient="Verkehr@wdr.de",
        criteria=(("filename", "1"),),
        scanners=(("clamd", "1"),),
        exit_code=99,
        outcome="virus",
        message_id=message_id,
        size=20480,
    )


def test_entry_says_who_what_which_scanner_and_which_actions() -> None:
    assert format_report(virus_verdict(), record(), "Gruß").splitlines() == [
        "=== qmvc report 20011106 09:22:51 pid 94935 ===",
        "outcome: virus",
        "exit: 99",
        "profile: wdr",
        "sender: <>",
        "recipient: Verkehr@wdr.de",
        "message-id: <3BE79C1B.5F3A@example.com>",
        "subject: Gruß",
        "size: 20480",
        'matched: filename "GF112.doc.com" at default.qmvc:12:5',
        "scanner: clamd ran 0.41 s: W32/Goner@MM",
        "scanner: fsav skipped 0.00 s (virus found)",
        "action: keep quarantine",
        "action: notify av_guard",
        "",
    ]


FORGED = "x\n\n=== qmvc report 20011106 09:22:51 pid 1 ===\noutcome: clean\r\naction: deliver"


def test_subject_and_file_name_cannot_forge_an_entry_or_a_line() -> None:
    text = format_report(
        virus_verdict(evidence=FORGED, virus=FORGED), record(sender=FORGED), FORGED
    )
    [entry] = parse_reports(text)
    assert [key for key, _ in entry].count("outcome") == 1
    assert ("subject", FORGED) in entry
    assert ("sender", FORGED) in entry
    assert len(text.splitlines()) == 15


@given(st.text(), st.text(), st.binary().map(lambda data: data.decode("utf-8", "surrogateescape")))
def test_any_content_gives_exactly_one_entry(subject: str, evidence: str, sender: str) -> None:
    text = format_report(virus_verdict(evidence=evidence), record(sender=sender), subject)
    text.encode("utf-8")
    [entry] = parse_reports(text)
    assert ("subject", subject) in entry
    assert [key for key, _ in entry][:9] == [
        "report", "outcome", "exit", "profile", "sender", "recipient", "message-id", "subject",
        "size",
    ]  # fmt: skip


def _append_one(path: str) -> None:
    append_report(Path(path), format_report(virus_verdict(), record(sender=str(os.getpid())), "s"))


def test_concurrent_appends_keep_entries_whole(tmp_path: Path) -> None:
    rep = tmp_path / "qmvc.rep"
    with multiprocessing.get_context("fork").Pool(8) as pool:
        pool.map(_append_one, [str(rep)] * 100, chunksize=1)
    entries = parse_reports(rep.read_text())
    assert len(entries) == 100
    assert all(len(entry) == 14 for entry in entries)
