"""Signature updates: each engine's command runs once, and a failure is reported, not raised."""

from __future__ import annotations

import sys
from pathlib import Path

from qmvc.record import replace
from qmvc.scanners.catalogue import catalogue_spec
from qmvc.scanners.spec import ClamdAddress, ClamdSpec, CommandSpec, Timeout
from qmvc.scanners.update import update_signatures

SOCKET = (ClamdAddress(socket_path="/run/clamav/clamd.ctl"),)


def python(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


def clamd_updated_by(command: tuple[str, ...], name: str = "clamd") -> ClamdSpec:
    return ClamdSpec(name, SOCKET, Timeout(30), update_command=command)


def engine_updated_by(command: tuple[str, ...], name: str = "sophos") -> CommandSpec:
    return replace(catalogue_spec("savscan", name, Timeout(30)), update_command=command)


def test_successful_update_is_ok_with_its_output() -> None:
    [result] = update_signatures([clamd_updated_by(python("print('daily.cvd updated')"))])
    assert result.ok and result.exit_code == 0
    assert "daily.cvd updated" in result.output_tail
    assert result.name == "clamd"


def test_failing_update_is_reported_and_the_next_still_runs() -> None:
    failing = clamd_updated_by(python("import sys; print('mirror down'); sys.exit(2)"))
    working = engine_updated_by(python("print('ok')"))
    first, second = update_signatures([failing, working])
    assert not first.ok and first.exit_code == 2 and "mirror down" in first.output_tail
    assert second.ok


def test_missing_update_program_is_reported() -> None:
    [result] = update_signatures([clamd_updated_by(("/nonexistent/freshclam",))])
    assert not result.ok and result.exit_code is None
    assert "cannot run" in result.output_tail


def test_hanging_update_times_out() -> None:
    hanging = clamd_updated_by(python("import time; time.sleep(60)"))
    [result] = update_signatures([hanging], timeout_seconds=0.5)
    assert not result.ok and "timed out" in result.output_tail


def test_shared_update_command_runs_once(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    command = python(f"open({str(counter)!r}, 'a').write('x')")
    results = update_signatures(
        [clamd_updated_by(command, "farm-a"), clamd_updated_by(command, "farm-b")]
    )
    assert [result.name for result in results] == ["farm-a", "farm-b"]
    assert all(result.ok for result in results)
    assert counter.read_text() == "x"


def test_freshclam_already_up_to_date_is_ok(tmp_path: Path) -> None:
    freshclam = tmp_path / "freshclam"
    freshclam.write_text("#!/bin/sh\necho 'daily.cld database is up-to-date'\nexit 1\n")
    freshclam.chmod(0o755)
    [result] = update_signatures([clamd_updated_by((str(freshclam),))])
    assert result.ok and result.exit_code == 1


def test_engine_without_update_command_has_nothing_to_do() -> None:
    [result] = update_signatures([engine_updated_by(())])
    assert result.ok and result.exit_code is None and result.command == ()
