"""Signature updates for every configured engine (`qmvc update-signatures`).

A failed update is reported, never raised: the engines keep scanning with their last
good patterns, so one broken mirror must not stop the others from updating.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace

from qmvc.scanners.command import output_tail, run_bounded
from qmvc.scanners.spec import ScannerSpec

DEFAULT_UPDATE_SECONDS = 600.0
SUCCESS_CODES: dict[str, frozenset[int]] = {"freshclam": frozenset({0, 1})}
"""Exit codes meaning success, by program; freshclam exits 1 when already up to date."""


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """One update run; `exit_code` is None when the command did not run to its own end."""

    name: str
    command: tuple[str, ...]
    exit_code: int | None
    seconds: float
    output_tail: str
    ok: bool


def update_signatures(
    specs: Iterable[ScannerSpec], timeout_seconds: float = DEFAULT_UPDATE_SECONDS
) -> list[UpdateResult]:
    """Runs each distinct update command once, in the policy's order.

    Engines sharing a command (two clamd farms, clamd and clamscan: all `freshclam`)
    share its result. An engine without an update command is reported as having
    nothing to do.
    """
    done: dict[tuple[str, ...], UpdateResult] = {}
    results: list[UpdateResult] = []
    for spec in specs:
        command = spec.update_command
        if not command:
            results.append(UpdateResult(spec.name, (), None, 0.0, "no update command", True))
            continue
        if command not in done:
            done[command] = _run_update(spec.name, command, timeout_seconds)
        results.append(replace(done[command], name=spec.name))
    return results


def _run_update(name: str, command: tuple[str, ...], timeout_seconds: float) -> UpdateResult:
    started = time.monotonic()
    outcome = run_bounded(command, timeout_seconds)
    tail = output_tail(f"{outcome.output}\n{outcome.failure}")
    success_codes = SUCCESS_CODES.get(os.path.basename(command[0]), frozenset({0}))
    ok = not outcome.failure and outcome.exit_code in success_codes
    return UpdateResult(name, command, outcome.exit_code, time.monotonic() - started, tail, ok)
