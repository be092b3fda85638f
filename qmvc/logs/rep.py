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
    client: 192.0.2.7
    matched: filename "GF112.doc.com" at default.qmvc:12:5
    scanner: clamd ran 0.41 s: W32/Goner@MM
    scanner: fsav skipped (badmail found)
    action: keep quarantine
    action: notify av_guard
    kept: /home/alias/.qmvc/quarantine/new/1005034971.94935.mx,S=20480
    notice: sent av to virus@wdr.de in de
    bombing: infected-flood infected 12 going-on sender bomber@example.net

Values are escaped (`qmvc.logs.escape`, keeping printable letters): no CR, LF, control or
separator character from a subject or a file name can end a line, so message content can
neither forge a delimiter nor a `key:` line. `parse_reports` reads the entries back;
`iter_reports` does it line by line for logs too large to hold. A `bombing:` line (rule,
kind, copies so far, `started` or `going-on`, source) marks a message of a virus bombing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from qmvc.engine.verdict import Verdict
from qmvc.logs.escape import escape, unescape
from qmvc.logs.line import START_FORMAT, LogRecord, append_locked

DELIMITER_START = "=== qmvc report "
DELIMITER_END = " ==="


def _value(text: str) -> str:
    return escape(text, ascii_only=False)


def _word(text: str) -> str:
    """A value that a space must not split: `bombing:` lines are read word by word."""
    return escape(text, reserved=" ", ascii_only=False)


def _quoted(text: str) -> str:
    """Evidence in double quotes, so leading or trailing spaces stay visible."""
    return '"' + escape(text, reserved='"', ascii_only=False) + '"'


def format_report(
    verdict: Verdict,
    record: LogRecord,
    subject: str,
    performed: Sequence[tuple[str, str]] = (),
    client: str = "",
) -> str:
    """The report entry for one message, ending with a blank line. The outcome is the log
    line's (`deferred` when an action failed); `performed` is what the actions did:
    `kept: FILE`, `forwarded: ADDRESS`, `notice: sent av to a@b in de`, `deferred: WHY`;
    `client` the SMTP client's address (`qmvc.engine.bombers.client_ip`), if known."""
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
    if client:
        lines.append(f"client: {_value(client)}")
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
    bombing = verdict.bombing
    if bombing is not None:
        lines.append(
            f"bombing: {_word(bombing.rule)} {_word(bombing.kind)} {bombing.count} "
            f"{'started' if bombing.started else 'going-on'} {_value(bombing.source)}"
        )
    return "\n".join(lines) + "\n\n"


def append_report(path: Path, text: str) -> None:
    """Append one entry, whole, safe under concurrent deliveries (see append_locked)."""
    append_locked(path, text.encode("utf-8"))


def parse_reports(text: str) -> list[list[tuple[str, str]]]:
    """Each entry as its (key, value) lines in order, the delimiter as ("report", stamp)."""
    return [entry for entry in iter_reports(text.splitlines()) if entry[0][0] == "report"]


def iter_reports(lines: Iterable[str]) -> Iterator[list[tuple[str, str]]]:
    """Entries as `parse_reports` gives them, each as soon as it ends, and each non-blank
    line outside an entry as `[("stray", line)]`, so a reader can count what it skipped."""
    entry: list[tuple[str, str]] = []
    for line in lines:
        line = line.rstrip("\n")
        if line.startswith(DELIMITER_START) and line.endswith(DELIMITER_END):
            if entry:
                yield entry
            entry = [("report", line[len(DELIMITER_START) : -len(DELIMITER_END)])]
        elif not line:
            continue
        elif entry:
            key, _, value = line.partition(": ")
            entry.append((key, unescape(value)))
        else:
            yield [("stray", line)]
    if entry:
        yield entry
