"""Command-line engines: the message's parts as files in a private directory, one run each.

The engine's verdict is its exit code (mapped through the spec's clean and infected
codes); its output only supplies the virus names. When the exit code says infected but
no line matches the virus pattern, the result is still infected, named `unknown`: the
exit code is the engine's documented verdict, while output formats drift between
versions, and losing a detection to a reworded line would be the worse mistake.

A line naming a virus that also holds the path of a part written for the engine (as
`clamscan /dir/x.zip: NAME FOUND` does) gives the virus that part's location; an engine
that prints no paths leaves its viruses unlocated.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from qmvc.scanners.abandon import abandoned
from qmvc.scanners.base import AttachmentParts, ScanPart, ScanResult, ScanStatus, no_attachments
from qmvc.scanners.sanitise import safe_file_names
from qmvc.scanners.spec import CommandSpec

DIRECTORY_PLACEHOLDER = "{dir}"
WHOLE_MESSAGE_NAME = "message.eml"
OUTPUT_TAIL_CHARS = 300
MAX_RUN_SECONDS = 86_400.0
"""A longer policy timeout means "never"; taken literally (centuries) it overflows the OS timers."""
DRAIN_SECONDS = 2.0
"""How long to wait for output after killing a timed-out process group."""


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """How a bounded run ended: `failure` is empty when the command ran to its own end."""

    exit_code: int | None
    output: str
    failure: str = ""


_RUNNING: set[int] = set()
"""Process groups of the engines running now, so that a scan given up on can end them."""
_RUNNING_LOCK = threading.Lock()
ABANDONED = "not run: the scan was given up on"


def stop_running_engines() -> None:
    """Kill every engine still running: a parallel scan that already has its virus, or a
    delivery interrupted while engines run in other threads, must not leave them behind.
    The caller sets the scan's abandonment event first (`qmvc.scanners.abandon`), so an
    engine starting meanwhile is either in `_RUNNING` here or sees the event itself."""
    with _RUNNING_LOCK:
        groups = list(_RUNNING)
    for group in groups:
        _kill_group(group)


def run_bounded(argv: Sequence[str], timeout_seconds: float) -> CommandOutcome:
    """Runs argv (no shell) in its own process group, killing the whole group on timeout
    or when the scan it works for is abandoned as it starts."""
    if abandoned():
        return CommandOutcome(None, "", ABANDONED)
    try:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except (OSError, ValueError, IndexError) as error:
        name = argv[0] if argv else "(empty command)"
        return CommandOutcome(None, "", f"cannot run {name}: {error}")
    timeout_seconds = min(timeout_seconds, MAX_RUN_SECONDS)
    with _RUNNING_LOCK:
        _RUNNING.add(process.pid)
    if abandoned():  # set after the check above: stop_running_engines may have missed us
        _kill_group(process.pid)
    try:
        output, _ = process.communicate(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        return CommandOutcome(None, _drain(process), f"timed out after {timeout_seconds:g}s")
    except BaseException:  # SIGTERM or the delivery's budget: the engine must not outlive us
        _kill_group(process.pid)
        process.wait()
        raise
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(process.pid)
    text = output.decode("utf-8", errors="replace")
    if process.returncode < 0:
        return CommandOutcome(
            process.returncode, text, f"killed by {_signal_name(-process.returncode)}"
        )
    return CommandOutcome(process.returncode, text)


def output_tail(output: str) -> str:
    """The end of an engine's output, where the reason for a failure usually is."""
    return output.strip()[-OUTPUT_TAIL_CHARS:]


class CommandScanner:
    """A Scanner running a command-line engine over the decoded parts of each message.

    The spec's `virus_pattern` is compiled here; the policy checker rejects a bad one
    before a spec gets this far.
    """

    def __init__(self, spec: CommandSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.wants_parts = True  # command engines read the decoded parts as files
        self._virus_pattern = re.compile(spec.virus_pattern)

    def scan(
        self,
        message: bytes,
        parts: Sequence[ScanPart],
        attachments: AttachmentParts = no_attachments,
    ) -> ScanResult:
        """Scans the parts, or the whole message when the caller found none to give.
        `attachments` is never needed: every part is a file here, named in the output."""
        started = time.monotonic()
        files = parts or [ScanPart(WHOLE_MESSAGE_NAME, message)]
        try:
            outcome, written = self._run_over(files, self.spec.timeout.for_size(len(message)))
        except OSError as error:
            outcome, written = CommandOutcome(None, "", f"cannot prepare parts: {error}"), []
        status, findings, detail = self._interpret(outcome, written)
        viruses = tuple(dict.fromkeys(virus for virus, _location in findings))
        locations = tuple(finding for finding in findings if finding[1])
        return ScanResult(status, viruses, time.monotonic() - started, detail, locations)

    def _run_over(
        self, parts: Sequence[ScanPart], timeout_seconds: float
    ) -> tuple[CommandOutcome, list[tuple[str, str]]]:
        """Writes the parts to a private directory, runs the engine, removes the directory;
        with the outcome, the path each part was written to and its location."""
        directory = tempfile.mkdtemp(prefix="qmvc-scan-")
        try:
            written = _write_parts(directory, parts)
            argv = [arg.replace(DIRECTORY_PLACEHOLDER, directory) for arg in self.spec.argv]
            return run_bounded(argv, timeout_seconds), written
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def _interpret(
        self, outcome: CommandOutcome, written: Sequence[tuple[str, str]]
    ) -> tuple[ScanStatus, tuple[tuple[str, str], ...], str]:
        """Status, the findings (virus, location or "") and a description of the run."""
        if outcome.failure:
            return "failed", (), _with_output(outcome.failure, outcome.output)
        findings = self._findings(outcome.output, written)
        code = outcome.exit_code
        if code in self.spec.infected_codes:
            return "infected", findings or (("unknown", ""),), f"exit code {code}"
        if code in self.spec.clean_codes and not findings:
            return "clean", (), f"exit code {code}"
        if code in self.spec.clean_codes:
            viruses = ", ".join(dict.fromkeys(virus for virus, _location in findings))
            return "failed", (), f"exit code {code} says clean but the output names {viruses}"
        return "failed", (), _with_output(f"unexpected exit code {code}", outcome.output)

    def _findings(
        self, output: str, written: Sequence[tuple[str, str]]
    ) -> tuple[tuple[str, str], ...]:
        """Distinct (virus, location) from matching lines. The name is group `name`, else the
        first group, else the whole match; the location is that of the part whose path the
        line holds (the longest, so that `a.exe` is not taken for `a.exe.txt`), else ""."""
        found: dict[tuple[str, str], None] = {}
        for line in output.splitlines():
            match = self._virus_pattern.search(line)
            if match is None:
                continue
            if "name" in match.re.groupindex:
                name = match.group("name")
            else:
                name = match.group(1) if match.re.groups else match.group(0)
            if name and name.strip():
                paths = [(path, location) for path, location in written if path in line]
                location = max(paths, key=lambda pair: len(pair[0]))[1] if paths else ""
                found[name.strip(), location] = None
        return tuple(found)


def _write_parts(directory: str, parts: Sequence[ScanPart]) -> list[tuple[str, str]]:
    """Writes each part to its own file; returns (path, location) of each."""
    names = safe_file_names(part.name for part in parts)
    written: list[tuple[str, str]] = []
    for name, part in zip(names, parts, strict=True):
        path = os.path.join(directory, name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        with open(os.open(path, flags, 0o600), "wb") as file:
            file.write(part.content)
        written.append((path, part.location))
    return written


def _signal_name(number: int) -> str:
    """`SIGSEGV`; real-time signals (SIGRTMIN+n) have no name in signal.Signals."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _kill_group(process_group: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group may have ended meanwhile
        os.killpg(process_group, signal.SIGKILL)


def _drain(process: subprocess.Popen[bytes]) -> str:
    """Output already written by a killed process, without waiting on escaped descendants."""
    try:
        output, _ = process.communicate(timeout=DRAIN_SECONDS)
    except subprocess.TimeoutExpired:
        if process.stdout is not None:
            process.stdout.close()
        process.wait()
        return ""
    return output.decode("utf-8", errors="replace")


def _with_output(reason: str, output: str) -> str:
    tail = output_tail(output)
    return f"{reason}; output: {tail}" if tail else reason
