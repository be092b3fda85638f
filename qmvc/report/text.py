"""The report in a terminal or a cron mail: rich tables and a bar chart of the time series.

Every value from the logs goes into a `Text`, never into markup, and is escaped first: a
sender such as `[bold]x` or one holding a terminal escape prints as the characters it is.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from qmvc.logs.escape import escape

CHART_WIDTH = 50
BAR_COLUMNS = (("virus", "red"), ("badmail", "yellow"), ("deferred", "magenta"))


class PipeConsole(Console):
    """A Console whose closed pipe surfaces as BrokenPipeError, for qmvc.cli to end the
    command quietly with 141, as every command does (rich's own handler exits 1)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def shown(value: object) -> Text:
    return Text(escape("" if value is None else str(value), ascii_only=False))


def _table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> Table | None:
    if not rows:
        return None
    table = Table(title=title, title_justify="left", show_edge=False)
    for column in columns:
        numeric = isinstance(rows[0].get(column), int | float) and column != "exit_code"
        table.add_column(column.replace("_", " "), justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(shown(row.get(column)) for column in columns))
    return table


def _headline(report: dict[str, Any]) -> RenderableType:
    table = Table(title="Messages", title_justify="left", show_edge=False)
    for column in ("outcome", "count", "rate"):
        table.add_column(column, justify="left" if column == "outcome" else "right")
    for category, count in report["counts"].items():
        table.add_row(shown(category), str(count), f"{report['rates'][category]:.1%}")
    table.add_row(Text("all", style="bold"), str(report["messages"]), "")
    return table


def _chart(series: dict[str, Any]) -> RenderableType | None:
    """One bar per bucket, as long as its messages; its virus, badmail and deferred part
    coloured (and drawn with other characters, for a cron mail without colour)."""
    rows = series["rows"]
    if not rows:
        return None
    totals = [sum(v for k, v in row.items() if k != "start") for row in rows]
    scale = CHART_WIDTH / max(max(totals), 1)
    lines = [Text(f"Messages per {series['step']} (virus #, badmail =, deferred ~)", "italic")]
    label_width = 13 if series["step"] == "hour" else 10
    for row, total in zip(rows, totals, strict=True):
        line = Text(row["start"].replace("T", " ")[:label_width].ljust(label_width) + " ")
        used = 0
        for column, style in BAR_COLUMNS:
            width = round(row[column] * scale)
            line.append({"virus": "#", "badmail": "=", "deferred": "~"}[column] * width, style)
            used += width
        line.append("." * max(round(total * scale) - used, 0), "green")
        line.append(f" {total}")
        lines.append(line)
    return Group(*lines)


TABLES = (
    ("Viruses", "viruses", ["virus", "count", "first", "last"]),
    ("Top sources: senders", "senders", ["sender", "count", "virus", "badmail"]),
    ("Top sources: sender domains", "sender_domains", ["domain", "count", "virus", "badmail"]),
    ("Top sources: SMTP clients", "clients", ["client", "count", "virus", "badmail"]),
    ("Top sinks: recipients", "recipients", ["recipient", "count", "virus", "badmail"]),
    ("Subjects of virus and badmail", "subjects", ["subject", "count", "virus", "badmail"]),
    ("Badmail rules that matched", "criteria", ["criterion", "count"]),
    (
        "Scanners",
        "scanners",
        [
            "scanner",
            "clean",
            "virus",
            "skipped",
            "failed",
            "too_large",
            "unavailable",
            "mean_seconds",
        ],
    ),
    ("Bombings", "bombings", ["rule", "kind", "source", "first", "last", "messages", "peak"]),
    ("Domains", "domains", ["domain", "messages", "clean", "badmail", "virus", "deferred"]),
    ("Exit codes", "exit_codes", ["exit_code", "count"]),
    ("Signature updates", "updates", ["engine", "ok", "failed", "last", "last_status"]),
    ("Malformed lines (first ones)", "malformed_lines", ["file", "line", "text"]),
)
"""Title, the document's key, its columns: the same tables as the HTML page."""


def render(report: dict[str, Any], console: Console) -> None:
    period = ""
    if report["first"]:
        period = f" from {report['first'].replace('T', ' ')} to {report['last'].replace('T', ' ')}"
    scope = f" for {report['domain']}" if report["domain"] else ""
    console.print(shown(f"{report['messages']} messages{scope}{period}"))
    if report["malformed"]:
        console.print(shown(f"{report['malformed']} malformed lines (not counted)"))
    parts: list[RenderableType | None] = [_headline(report), _chart(report["series"])]
    parts += [_table(title, report[key], columns) for title, key, columns in TABLES]
    for part in parts:
        if part is not None:
            console.print()
            console.print(part)
