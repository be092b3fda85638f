"""The Virulator: what qmvc.log says over a period, to find the sources and sinks of viruses.

QMVC's lesson was that admins must see not only that mail was stopped but who sends the
infected mail and which addresses (harvested info@, postmaster@) it targets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qmvc.logs.escape import escape
from qmvc.logs.line import LogRecord, parse_line

TABLES = (
    ("outcomes", "outcome", "Outcomes"),
    ("exit_codes", "exit_code", "Exit codes"),
    ("criteria", "criterion", "Criteria matched"),
    ("viruses", "virus", "Viruses"),
    ("infected_senders", "sender", "Top infected senders"),
    ("infected_recipients", "recipient", "Top targeted recipients"),
)
"""Each counter of a Summary: its field (also its JSON key), what one of its rows names
(the key beside `count` in JSON), and its title in text."""


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

    def to_json(self, top: int = 10) -> dict[str, Any]:
        """The documented JSON form (README, "JSON output"): totals, the period in ISO 8601,
        and each counter as a list of `{<what>: name, "count": n}`, most frequent first,
        at most `top` rows, as in the text. Rows, not `{name: count}`: the order is kept and
        an exit code stays a number (JSON object keys are strings only)."""
        found: dict[str, Any] = {
            "messages": self.messages,
            "unparsed": self.unparsed,
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
        }
        for name, row_key, _ in TABLES:
            counts: Counter[str] | Counter[int] = getattr(self, name)
            found[name] = [{row_key: key, "count": n} for key, n in counts.most_common(top)]
        return found


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
        if outcome == "deferred":
            continue  # qmail retries it: its criteria are counted when it is delivered
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
    for name, _, title in TABLES:
        lines += _table(title, getattr(summary, name), top)
    return "\n".join(lines) + "\n"
