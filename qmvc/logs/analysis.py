"""The Virulator: what qmvc.log says over a period, to find the sources and sinks of viruses.

QMVC's lesson was that admins must see not only that mail was stopped but who sends the
infected mail and which addresses (harvested info@, postmaster@) it targets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from qmvc.logs.escape import escape
from qmvc.logs.line import LogRecord, parse_line


@dataclass
class Summary:
    """Counts over the parsed lines; `unparsed` counts lines that were not qmvc log lines."""

    messages: int = 0
    unparsed: int = 0
    first: datetime | None = None
    last: datetime | None = None
    outcomes: Counter[str] = field(default_factory=Counter)
    exit_codes: Counter[int] = field(default_factory=Counter)
    criteria: Counter[str] = field(default_factory=Counter)
    viruses: Counter[str] = field(default_factory=Counter)
    infected_senders: Counter[str] = field(default_factory=Counter)
    infected_recipients: Counter[str] = field(default_factory=Counter)


def outcome_of(record: LogRecord) -> str:
    """The logged outcome; QMVC 1.x lines have none, so it follows from their flags."""
    if record.outcome:
        return record.outcome
    if any(code == "1" for _, code in record.scanners):
        return "virus"
    if any(flag == "1" for _, flag in record.criteria):
        return "badmail"
    return "clean"


def summarise(lines: Iterable[str]) -> Summary:
    """Read log lines (blank and foreign lines are counted as unparsed, not fatal)."""
    summary = Summary()
    for line in lines:
        if not line.strip():
            continue
        try:
            record = parse_line(line)
        except ValueError:
            summary.unparsed += 1
            continue
        summary.messages += 1
        summary.first = min(summary.first or record.start, record.start)
        summary.last = max(summary.last or record.end, record.end)
        outcome = outcome_of(record)
        summary.outcomes[outcome] += 1
        summary.exit_codes[record.exit_code] += 1
        summary.criteria.update(name for name, flag in record.criteria if flag == "1")
        if outcome == "virus":
            summary.viruses.update(record.viruses)
            summary.infected_senders[record.sender or "<>"] += 1
            summary.infected_recipients[record.recipient] += 1
    return summary


def _table(title: str, counts: Counter[str] | Counter[int], top: int) -> list[str]:
    if not counts:
        return []
    rows = counts.most_common(top)
    width = max(len(str(count)) for _, count in rows)
    return ["", f"{title}:", *(f"  {count:>{width}}  {_shown(name)}" for name, count in rows)]


def _shown(name: str | int) -> str:
    """Senders and virus names come from the network: no line break or terminal escape."""
    return escape(str(name), ascii_only=False)


def render_summary(summary: Summary, top: int = 10) -> str:
    """Plain text for a terminal or a cron mail: totals, then the top lists (names escaped)."""
    period = (
        f" from {summary.first:%Y-%m-%d %H:%M:%S} to {summary.last:%Y-%m-%d %H:%M:%S}"
        if summary.first and summary.last
        else ""
    )
    lines = [f"{summary.messages} messages{period}"]
    if summary.unparsed:
        lines.append(f"{summary.unparsed} lines not understood")
    lines += _table("Outcomes", summary.outcomes, top)
    lines += _table("Exit codes", summary.exit_codes, top)
    lines += _table("Criteria matched", summary.criteria, top)
    lines += _table("Viruses", summary.viruses, top)
    lines += _table("Top infected senders", summary.infected_senders, top)
    lines += _table("Top targeted recipients", summary.infected_recipients, top)
    return "\n".join(lines) + "\n"
