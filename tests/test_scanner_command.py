"""CommandScanner against real clamscan and against look-alikes of the commercial engines.

The commercial engines cannot be installed here, so `tests/fake_engines/` holds small
programs that exit and print as the catalogue says each engine does, plus ones that
hang, crash or answer nonsense.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from qmvc.record import replace
from qmvc.scanners.base import ScanPart, ScanResult
from qmvc.scanners.catalogue import catalogue_spec
from qmvc.scanners.command import CommandScanner
from qmvc.scanners.spec import CommandSpec, Timeout
from tests.clamd_support import EICAR, RunningClamd

pytest_plugins = ["tests.clamd_support"]

FAKE_ENGINES = Path(__file__).parent / "fake_engines"
MESSAGE = b"Subject: parts\n\n(the parts are what gets scanned)\n"


def fake(program: str, *args: str) -> tuple[str, ...]:
    return (sys.executable, str(FAKE_ENGINES / program), *args)


def scan(spec: CommandSpec, *parts: ScanPart) -> ScanResult:
    return CommandScanner(spec).scan(MESSAGE, parts)


def engine_like(engine: str, style: str | None = None, seconds: float = 10.0) -> CommandSpec:
    argv = fake("fake_engine.py", style or engine, "{dir}")
    return catalogue_spec(engine, engine, Timeout(seconds), argv_override=argv)


def is_running(pid: int) -> bool:
    """True while the process exists and is not a zombie awaiting its reaper."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


# --- real clamscan ----------------------------------------------------------------------


def clamscan_spec(db_dir: str) -> CommandSpec:
    argv = ("clamscan", "--no-summary", "--infected", "--stdout", "-r", "-d", db_dir, "{dir}")
    return catalogue_spec("clamscan", "clamscan", Timeout(120), argv_override=argv)


def test_clamscan_finds_eicar_part(clamd_server: RunningClamd) -> None:
    result = scan(clamscan_spec(clamd_server.db_dir), ScanPart("eicar.com", EICAR))
    assert result.status == "infected", result
    assert result.viruses == ("Eicar-Test-Signature.UNOFFICIAL",)


def test_clamscan_names_the_part_each_virus_was_found_in(clamd_server: RunningClamd) -> None:
    parts = (
        ScanPart("report.pdf", b"%PDF-1.4 nothing\n", "report.pdf"),
        ScanPart("eicar.com", EICAR, "forwarded.eml › eicar.com"),
    )
    result = scan(clamscan_spec(clamd_server.db_dir), *parts)
    assert result.locations == (("Eicar-Test-Signature.UNOFFICIAL", "forwarded.eml › eicar.com"),)


def test_clamscan_says_clean_parts_are_clean(clamd_server: RunningClamd) -> None:
    parts = (ScanPart("notes.txt", b"nothing to see\n"), ScanPart("", b"\x00\x01"))
    assert scan(clamscan_spec(clamd_server.db_dir), *parts).status == "clean"


def test_clamscan_finds_eicar_under_a_hostile_name(clamd_server: RunningClamd) -> None:
    hostile = ScanPart("../../../../tmp/../etc/passwd", EICAR)
    result = scan(clamscan_spec(clamd_server.db_dir), hostile)
    assert result.status == "infected", result


def test_clamscan_with_a_missing_database_is_failed(tmp_path: Path) -> None:
    result = scan(clamscan_spec(str(tmp_path / "no-db")), ScanPart("a.txt", b"hi"))
    assert result.status == "failed"
    assert "exit code 2" in result.detail


# --- look-alikes of the commercial engines -------------------------------------------------


@pytest.mark.parametrize("engine", ["savscan", "sweep", "uvscan", "fsav", "vscan", "inocucmd"])
def test_catalogued_engine_output_yields_virus_name(engine: str) -> None:
    result = scan(engine_like(engine), ScanPart("clean.txt", b"hi"), ScanPart("x.com", EICAR))
    assert result.status == "infected", result
    expected = {"savscan": "EICAR-AV-Test", "uvscan": "EICAR test file"}
    assert result.viruses == (expected.get(engine, "EICAR_Test_File"),)


@pytest.mark.parametrize("engine", ["savscan", "sweep", "uvscan", "fsav", "vscan", "inocucmd"])
def test_a_catalogued_engine_naming_the_file_locates_the_virus(engine: str) -> None:
    """A line naming `x.com.txt` also holds the path of `x.com`: the longer one is meant."""
    parts = (
        ScanPart("x.com", b"hi", "x.com"),
        ScanPart("x.com.txt", EICAR, "forwarded.eml › x.com.txt"),
    )
    result = scan(engine_like(engine), *parts)
    [virus] = result.viruses
    assert result.locations == ((virus, "forwarded.eml › x.com.txt"),)


def test_a_part_without_a_location_locates_no_virus() -> None:
    result = scan(engine_like("fsav"), ScanPart("", EICAR))
    assert result.status == "infected"
    assert result.locations == ()


@pytest.mark.parametrize("engine", ["savscan", "sweep", "uvscan", "fsav", "vscan", "inocucmd"])
def test_catalogued_engine_clean_exit_is_clean(engine: str) -> None:
    assert scan(engine_like(engine), ScanPart("clean.txt", b"hi")).status == "clean"


def test_infected_exit_code_without_a_name_is_infected_unknown() -> None:
    result = scan(engine_like("savscan", "silent-infected"), ScanPart("x.com", EICAR))
    assert result.status == "infected"
    assert result.viruses == ("unknown",)
    assert result.locations == ()


def test_unexpected_exit_code_is_failed() -> None:
    result = scan(engine_like("savscan", "garbage-exit"), ScanPart("x.com", EICAR))
    assert result.status == "failed"
    assert result.viruses == ()
    assert "unexpected exit code 42" in result.detail
    assert "licence expired" in result.detail


def test_clean_exit_code_with_a_virus_named_is_failed_not_clean() -> None:
    result = scan(engine_like("savscan", "clean-but-names-virus"), ScanPart("x.com", EICAR))
    assert result.status == "failed"
    assert "says clean" in result.detail


def test_engine_killed_by_a_signal_is_failed() -> None:
    spec = catalogue_spec("savscan", "crashy", Timeout(10), argv_override=fake("crash.py"))
    result = scan(spec, ScanPart("x.com", EICAR))
    assert result.status == "failed"
    assert "killed by SIGSEGV" in result.detail


def test_engine_killed_by_a_signal_without_a_name_is_failed_not_raised() -> None:
    number = int(signal.SIGRTMIN) + 6  # real-time signals have no name in signal.Signals
    argv = (sys.executable, "-c", f"import os; os.kill(os.getpid(), {number})")
    spec = catalogue_spec("savscan", "crashy", Timeout(10), argv_override=argv)
    result = scan(spec, ScanPart("x.com", EICAR))
    assert result.status == "failed"
    assert f"killed by signal {number}" in result.detail


def test_missing_program_is_failed() -> None:
    argv = ("/nonexistent/savscan", "{dir}")
    spec = catalogue_spec("savscan", "gone", Timeout(10), argv_override=argv)
    result = scan(spec, ScanPart("x.com", EICAR))
    assert result.status == "failed"
    assert "cannot run /nonexistent/savscan" in result.detail


def test_hanging_engine_times_out_and_everything_is_cleaned_up(tmp_path: Path) -> None:
    record = tmp_path / "record"
    argv = fake("hang.py", "{dir}", str(record))
    spec = catalogue_spec("savscan", "hangs", Timeout(1.0), argv_override=argv)
    started = time.monotonic()
    result = scan(spec, ScanPart("x.com", EICAR))
    assert result.status == "failed"
    assert "timed out after 1s" in result.detail
    assert time.monotonic() - started < 5
    directory, child_pid = record.read_text().split()
    assert not os.path.exists(directory)
    deadline = time.monotonic() + 2
    while is_running(int(child_pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_running(int(child_pid)), "the engine's child outlived the timeout"


def test_timeout_grows_with_message_size() -> None:
    spec = replace(engine_like("savscan"), timeout=Timeout(0.0, per_mb_seconds=10_000.0))
    assert CommandScanner(spec).scan(b"x" * 1000, [ScanPart("a", b"hi")]).status == "clean"


def test_absurdly_long_timeout_still_scans() -> None:
    """`timeout 99999999h` means "never"; beyond ~292 years the OS timers would overflow."""
    spec = replace(engine_like("savscan"), timeout=Timeout(1e12))
    assert CommandScanner(spec).scan(MESSAGE, [ScanPart("a", b"hi")]).status == "clean"


# --- the private directory ---------------------------------------------------------------


def listing(tmp_path: Path, *parts: ScanPart) -> dict[str, Any]:
    """What an engine is given: its directory, that directory's mode, the file names."""
    record = tmp_path / "listing.json"
    argv = fake("list_dir.py", "{dir}", str(record))
    spec = CommandSpec("lister", argv, frozenset({0}), frozenset({1}), "NEVER", Timeout(10))
    assert scan(spec, *parts).status == "clean"
    seen: dict[str, Any] = json.loads(record.read_text())
    return seen


def test_parts_get_a_private_directory_removed_afterwards(tmp_path: Path) -> None:
    seen = listing(tmp_path, ScanPart("a.txt", b"1"))
    assert seen["mode"] == "700"
    assert not os.path.exists(seen["dir"])


def test_parts_are_written_under_safe_distinct_names(tmp_path: Path) -> None:
    parts = [
        ScanPart("../../etc/passwd", b"1"),
        ScanPart("passwd", b"2"),
        ScanPart("CON.txt", b"3"),
        ScanPart("-rf", b"4"),
        ScanPart("", b"5"),
    ]
    expected = sorted(["passwd", "passwd-2", "_CON.txt", "rf", "part-5"])
    assert listing(tmp_path, *parts)["entries"] == expected


def test_without_parts_the_whole_message_is_scanned(tmp_path: Path) -> None:
    assert listing(tmp_path)["entries"] == ["message.eml"]
