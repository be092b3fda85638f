"""The report as one self-contained HTML page: the text report's tables and charts, drawn as
inline SVG, with no script at all and a Content-Security-Policy that forbids any.

Jinja2 autoescapes every value, so a subject such as `<script>` or an `<img onerror>` sender
shows as text; the chart's geometry is computed here, the template only places numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qmvc.report.text import TABLES

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "data" / "report"
CHART_WIDTH, CHART_HEIGHT = 900, 220
SERIES_COLUMNS = ("clean", "badmail", "virus", "deferred", "other")


def series_bars(series: dict[str, Any]) -> dict[str, Any]:
    """Stacked bars, one per bucket: each {x, width, parts: [{column, y, height, count}]}."""
    rows = series["rows"]
    totals = [sum(row[column] for column in SERIES_COLUMNS) for row in rows]
    peak = max(totals, default=0) or 1
    slot = CHART_WIDTH / max(len(rows), 1)
    bars = []
    for index, (row, total) in enumerate(zip(rows, totals, strict=True)):
        parts, top = [], float(CHART_HEIGHT)
        for column in SERIES_COLUMNS:
            height = row[column] * CHART_HEIGHT / peak
            top -= height
            if row[column]:
                parts.append(
                    {
                        "column": column,
                        "y": round(top, 2),
                        "height": round(height, 2),
                        "count": row[column],
                    }
                )
        bars.append(
            {
                "x": round(index * slot, 2),
                "width": round(max(slot - 1, 0.5), 2),
                "start": row["start"],
                "total": total,
                "parts": parts,
            }
        )
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "peak": peak, "bars": bars}


def outcome_bars(counts: dict[str, int]) -> dict[str, Any]:
    """One horizontal bar per category, the longest as wide as the time series chart."""
    peak = max(counts.values(), default=0) or 1
    width = CHART_WIDTH - 200
    return {
        "width": width,
        "bars": [
            {"category": category, "count": n, "width": round(n * width / peak, 2)}
            for category, n in counts.items()
        ],
    }


def render_html(report: dict[str, Any]) -> str:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    environment = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True, undefined=StrictUndefined
    )
    template = environment.get_template("report.html.j2")
    return template.render(
        report=report,
        tables=TABLES,
        chart=series_bars(report["series"]),
        outcomes=outcome_bars(report["counts"]),
        columns=SERIES_COLUMNS,
    )
