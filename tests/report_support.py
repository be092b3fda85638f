"""A QMVC_DIR with logs of known content for the `qmvc report` tests: a rotated gzip log and
the current one, a qmvc.rep, hostile senders and subjects, broken lines, update lines.

The figures the tests expect are worked out by hand in their docstrings from this list.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from qmvc.engine.bombers import Bombing
from qmvc.engine.verdict import ScannerReport, Verdict
from qmvc.logs.line import LogRecord, format_line
from qmvc.logs.rep import format_report

REPO_ROOT = Path(__file__).resolve().parent.parent
DAY = datetime(2026, 11, 24)
HOSTILE_SENDER = "<img src=x onerror=\"document.title='pwned'\">@evil.example"
SCRIPT_SUBJECT = "<script>document.title='pwned'</script>"
IMG_SUBJECT = "<img src=x onerror=\"document.title='pwned'\">"
GOOD = (("filename", "0"), ("subject", "0"))
FILENAME = (("filename", "1"), ("subject", "0"))


def record(
    pid: int,
    minutes: int,
    outcome: str,
    sender: str,
    recipient: str,
    criteria: tuple[tuple[str, str], ...] = GOOD,
    clamd: str = "0",
    virus: str = "",
    ms: int = 0,
) -> LogRecord:
    start = DAY + timedelta(hours=8, minutes=minutes)
    return LogRecord(
        pid=pid,
        start=start,
        end=start + timedelta(seconds=1),
        sender=sender,
        recipient=recipient,
        criteria=criteria,
        scanners=(("clamd", clamd),),
        exit_code={"clean": 0, "scanner-failure": 111}.get(outcome, 99),
        profile="std",
        outcome=outcome,
        message_id=f"<{pid}@example>",
        size=1000,
        duration_ms=ms,
        viruses=(virus,) if virus else (),
    )


L1 = record(1, 0, "clean", "a@sender.example", "anna@example.org", ms=10)
L2 = record(2, 10, "clean", "a@sender.example", "anna@example.org", ms=20)
L3 = record(3, 20, "badmail", "spam@bad.example", "info@example.org", FILENAME, "S", ms=30)
L4 = record(4, 30, "virus", HOSTILE_SENDER, "info@wdr.de", clamd="1", virus="Eicar", ms=40)
L5 = record(5, 60, "virus", "", "postmaster@wdr.de", clamd="1", virus="W32/Goner@MM", ms=50)
L6 = record(6, 90, "scanner-failure", "x@y.example", "anna@example.org", clamd="F", ms=60)
L7 = record(7, 150, "badmail", "spam@bad.example", "info@example.org", FILENAME, "S", ms=70)
L8 = record(8, 23 * 60, "virus", HOSTILE_SENDER, "info@wdr.de", clamd="1", virus="Eicar", ms=80)
L9 = "qmvc Pid:9|20261124 11:00:00|old@x.example|bob@wdr.de|exe:1|RC:99|11:00:01"
"""A QMVC 1.x line: no scanners, no outcome; badmail by its flag."""
L10 = record(
    10, 240, "virus", "evil|pipe@x.example", "info@wdr.de", clamd="1", virus="Eicar", ms=90
)
"""Its sender is escaped in the log (`%7C`): only the full parser reads it."""

UPDATE_OK = "qmvc-update 20261124 08:40:00|clamav|ok|rc=0|s=1.0|updated"
UPDATE_FAILED = "qmvc-update 20261124 13:00:00|clamav|failed|rc=2|s=3.0|no network"
BROKEN = [
    "qmvc Pid:broken|not a log line",
    "random garbage <script>document.title='pwned'</script>",
    "qmvc Pid:11|20261124 25:00:00|a@b|c@d|x:0|c:0|RC:0|25:00:01|profile=p",
]


def report_entry(
    line: LogRecord,
    subject: str,
    client: str = "",
    seconds: float = 0.0,
    bombing: Bombing | None = None,
) -> str:
    scanner = ScannerReport("clamd", "ran", line.viruses, seconds)
    if not seconds:
        scanner = ScannerReport("clamd", "skipped", reason="badmail found")
    verdict = Verdict(
        outcome=line.outcome,  # type: ignore[arg-type]
        profile="std",
        exit_code=line.exit_code,
        scanners=[scanner],
        bombing=bombing,
    )
    return format_report(verdict, line, subject, client=client)


def flood(count: int, started: bool) -> Bombing:
    return Bombing("flood", "infected", f"sender {HOSTILE_SENDER}", (), 600.0, started, count)


def build_qmvc_dir(directory: Path) -> Path:
    """qmvc.log.1.gz (L1–L5, an update, a broken line), qmvc.log (L6, L7, L9, L10, L8, an
    update, two broken lines) and qmvc.rep (six entries and a stray line)."""
    directory.mkdir(parents=True, exist_ok=True)
    older = [*(format_line(r) for r in (L1, L2, L3, L4, L5)), UPDATE_OK, BROKEN[0]]
    with gzip.open(directory / "qmvc.log.1.gz", "wt") as rotated:
        rotated.write("\n".join(older) + "\n")
    current = [*(format_line(r) for r in (L6, L7)), L9, *(format_line(r) for r in (L10, L8))]
    (directory / "qmvc.log").write_text("\n".join([*current, UPDATE_FAILED, *BROKEN[1:]]) + "\n")
    entries = [
        report_entry(L3, SCRIPT_SUBJECT, "192.0.2.7"),
        report_entry(L4, IMG_SUBJECT, "192.0.2.66", 0.40, flood(1, True)),
        report_entry(L5, "Gruß", "198.51.100.1", 0.20),
        report_entry(L7, SCRIPT_SUBJECT, "192.0.2.7"),
        report_entry(L10, "hello", "", 0.80),
        report_entry(L8, IMG_SUBJECT, "192.0.2.66", 0.60, flood(2, False)),
    ]
    (directory / "qmvc.rep").write_text(entries[0] + "stray junk\n" + "".join(entries[1:]))
    return directory


def qmvc_report(qmvc_dir: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "QMVC_DIR": str(qmvc_dir)}
    return subprocess.run(
        [sys.executable, "-m", "qmvc.cli", "report", *arguments],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def report_json(qmvc_dir: Path, *arguments: str) -> Any:
    done = qmvc_report(qmvc_dir, *arguments, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
