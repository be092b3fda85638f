"""qmvc.rep: a multi-line report entry for every badmail or virus.

An entry is a delimiter line, then one `key: value` line per fact, then a blank line::

    === qmvc report 20011106 09:22:51 pid 94935 ===
    outcome: virus
    exit: 99
    profile: wdr
    sender: <>
    recipient: Verkehr@wdr.de
    message-id: <3BE79C1B.5F3A@example.com>
    subject: Gruß
    size: 20480
    matched: filename "GF112.doc.com" at default.qmvc:12:5
    scanner: clamd ran 0.41 s: W32/Goner@MM
    scanner: fsav skipped (badmail found)
    action: keep quarantine
    action: notify av_guard
    kept: /home/alias/.qmvc/quarantine/new/1005034971.94935.mx,S=20480
    notice: sent av to virus@wdr.de in de

Values are escaped (`qmvc.logs.escape`, keeping printable letters): no CR, LF, control or
separator character from a subject or a file name can end a line, so message content can
neither forge a delimiter nor a `key:` line. `parse_reports` reads the entries back.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qmvc.engine.verdict import Verdict
from qmvc.logs.escape import escape, unescape
from qmvc.logs.line import START_FORMAT, LogRecord, append_locked

DELIMITER_START = "=== qmvc report "
DELIMITER_END = " ==="


def _value(text: str) -> str:
    return escape(text, ascii_only=False)


def _quoted(text: str) -> str:
    """Evidence in double quotes, so leading or trailing spaces stay visible."""
    return '"' + escape(text, reserved='"', ascii_only=False) + '"'


def format_report(
    verdict: Verdict, record: LogRecord, subject: str, performed: Sequence[tuple[str, str]] = ()
) -> str:
    """The report entry for one message, ending with a blank line. The outcome is the log
    line's (`deferred` when an action failed); `performed` is what the actions did:
    `kept: FILE`, `forwarded: ADDRESS`, `notice: sent av to a@b in de`, `deferred: WHY`."""
    lines = [
        f"{DELIMITER_START}{record.start.strftime(START_FORMAT)} pid {record.pid}{DELIMITER_END}",
        f"outcome: {_value(record.outcome)}",
        f"exit: {record.exit_code}",
        f"profile: {_value(verdict.profile)}",
        f"sender: {_value(record.sender) or '<>'}",
        f"recipient: {_value(record.recipient)}",
        f"message-id: {_value(record.message_id)}",
        f"subject: {_value(subject)}",
        f"size: {record.size}",
    ]
    lines += [
        f"matched: {_value(match.name)} {_quoted(match.evidence)} at {_value(str(match.span))}"
        for match in verdict.criteria
    ]
    for report in verdict.scanners:
        said = f"scanner: {_value(report.name)} {report.status} {report.seconds:.2f} s"
        if report.viruses:
            said += ": " + ", ".join(_value(name) for name in report.viruses)
        if report.reason:
            said += f" ({_value(report.reason)})"
        lines.append(said)
    lines += [
        "action: " + " ".join(_value(word) for word in (action.kind, *action.targets))
        for action in verdict.actions
    ]
    lines += [f"{key}: {_value(value)}" for key, value in performed]
    return "\n".join(lines) + "\n\n"


def append_report(path: Path, text: str) -> None:
    """Append one entry, whole, safe under concurrent deliveries (see append_locked)."""
    append_locked(path, text.encode("utf-8"))


def parse_reports(text: str) -> list[list[tuple[str, str]]]:
    """Each entry as its (key, value) lines in order, the delimiter as ("report", stamp)."""
    entries: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        if line.startswith(DELIMITER_START) and line.endswith(DELIMITER_END):
            stamp = line[len(DELIMITER_START) : -len(DELIMITER_END)]
            entries.append([("report", stamp)])
        elif line and entries:
            key, _, value = line.partition(": ")
            entries[-1].append((key, unescape(value)))
    return entries
