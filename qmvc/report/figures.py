"""The report's document: Counts as plain data, the one form JSON, text and HTML all show.

Tables are lists of rows, most frequent first (ties by name), at most `top` rows; times are
ISO 8601 local time. The time series is per hour when the messages span three days or
less, else per day, with empty buckets included so a chart shows the quiet hours too,
unless that would make more than MAX_BUCKETS rows (a line dated 1970 among this year's):
then only the buckets that have messages are listed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from qmvc.logs.line import START_FORMAT
from qmvc.report.collect import INCIDENTS, Counts
from qmvc.report.period import EARLIEST, LATEST

HEADLINE = ("clean", "badmail", "virus", "deferred")
SCANNER_CODES = {
    "0": "clean",
    "1": "virus",
    "S": "skipped",
    "F": "failed",
    "L": "too_large",
    "U": "unavailable",
}
HOURLY_SPAN = timedelta(days=3)
MAX_BUCKETS = 2000


def iso(stamp: str) -> str | None:
    """`20011106 09:22:51` as `2001-11-06T09:22:51`; None for no time."""
    if stamp in (EARLIEST, LATEST):
        return None
    return f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:]}"


def _ranked(counts: Counter[Any], top: int) -> list[tuple[Any, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))[:top]


def _by_kind(name: str, counts: Counter[tuple[str, str]], top: int) -> list[dict[str, Any]]:
    """Rows of a source or sink: total, then virus and badmail messages."""
    total: Counter[str] = Counter()
    per: dict[str, Counter[str]] = {}
    for (key, category), n in counts.items():
        total[key] += n
        per.setdefault(key, Counter())[category] += n
    return [
        {name: key, "count": n, **{kind: per[key][kind] for kind in INCIDENTS}}
        for key, n in _ranked(total, top)
    ]


def _sender_domains(senders: Counter[tuple[str, str]]) -> Counter[tuple[str, str]]:
    domains: Counter[tuple[str, str]] = Counter()
    for (sender, category), n in senders.items():
        domains[sender.rpartition("@")[2].lower() if "@" in sender else sender, category] += n
    return domains


def _series(counts: Counts, step: str | None) -> dict[str, Any]:
    if counts.first == LATEST:
        return {"step": step or "hour", "rows": []}
    first = datetime.strptime(counts.first[:11], "%Y%m%d %H")
    last = datetime.strptime(counts.last[:11], "%Y%m%d %H")
    step = step or ("hour" if last - first <= HOURLY_SPAN else "day")
    width, key_format = (11, "%Y%m%d %H") if step == "hour" else (8, "%Y%m%d")
    buckets: dict[str, Counter[str]] = {}
    for (hour, category), n in counts.hours.items():
        column = category if category in HEADLINE else "other"
        buckets.setdefault(hour[:width], Counter())[column] += n
    if step == "day":
        first, last = first.replace(hour=0), last.replace(hour=0)
    delta = timedelta(hours=1) if step == "hour" else timedelta(days=1)
    if (last - first) / delta < MAX_BUCKETS:
        moments = [first + index * delta for index in range(int((last - first) / delta) + 1)]
    else:
        moments = sorted(datetime.strptime(key, key_format) for key in buckets)
    rows = [
        {
            "start": moment.isoformat(),
            **{
                column: buckets.get(moment.strftime(START_FORMAT)[:width], Counter())[column]
                for column in (*HEADLINE, "other")
            },
        }
        for moment in moments
    ]
    return {"step": step, "rows": rows}


def _scanners(counts: Counts) -> list[dict[str, Any]]:
    verdicts: dict[str, Counter[str]] = {}
    for (*_, scanners), n in counts.kinds.items():
        for name, code in scanners:
            verdicts.setdefault(name, Counter())[SCANNER_CODES.get(code, "other")] += n
    names = sorted(set(verdicts) | set(counts.scanner_seconds))
    rows = []
    for name in names:
        seconds, runs = counts.scanner_seconds.get(name, (0.0, 0.0))
        found = verdicts.get(name, Counter())
        rows.append(
            {
                "scanner": name,
                **{column: found[column] for column in SCANNER_CODES.values()},
                "timed": int(runs),
                "mean_seconds": round(seconds / runs, 3) if runs else None,
            }
        )
    return rows


def _rows(name: str, pairs: Iterable[tuple[Any, int]]) -> list[dict[str, Any]]:
    return [{name: key, "count": n} for key, n in pairs]


def document(
    counts: Counts,
    top: int = 10,
    since: str = EARLIEST,
    until: str = LATEST,
    domain: str | None = None,
    step: str | None = None,
) -> dict[str, Any]:
    """The report as the README's "JSON output" section documents it."""
    categories: Counter[str] = Counter()
    domains: dict[str, Counter[str]] = {}
    exit_codes: Counter[int] = Counter()
    criteria: Counter[str] = Counter()
    for (name, category, exit_code, matched, _), n in counts.kinds.items():
        categories[category] += n
        domains.setdefault(name, Counter())[category] += n
        exit_codes[exit_code] += n
        if category != "deferred":
            for rule, flag in matched:
                if flag == "1":
                    criteria[rule] += n
    messages = sum(categories.values())
    headline = {category: categories[category] for category in HEADLINE} | dict(categories)
    viruses = sorted(counts.viruses.items(), key=lambda item: (-int(item[1][0]), item[0]))
    return {
        "since": iso(since),
        "until": iso(until),
        "domain": domain,
        "first": iso(counts.first),
        "last": iso(counts.last),
        "messages": messages,
        "counts": headline,
        "rates": {
            category: round(n / messages, 4) if messages else 0.0
            for category, n in headline.items()
        },
        "mean_delivery_ms": round(counts.delivery_ms / messages, 1) if messages else None,
        "exit_codes": _rows("exit_code", _ranked(exit_codes, top)),
        "domains": [
            {"domain": name, "messages": n, **{c: domains[name][c] for c in HEADLINE}}
            for name, n in _ranked(Counter({k: sum(v.values()) for k, v in domains.items()}), top)
        ],
        "viruses": [
            {"virus": name, "count": seen[0], "first": iso(str(seen[1])), "last": iso(str(seen[2]))}
            for name, seen in viruses[:top]
        ],
        "senders": _by_kind("sender", counts.senders, top),
        "sender_domains": _by_kind("domain", _sender_domains(counts.senders), top),
        "clients": _by_kind("client", counts.clients, top),
        "recipients": _by_kind("recipient", counts.recipients, top),
        "subjects": _by_kind("subject", counts.subjects, top),
        "criteria": _rows("criterion", _ranked(criteria, top)),
        "scanners": _scanners(counts),
        "bombings": [
            {
                "rule": e.rule,
                "kind": e.kind,
                "source": e.source,
                "first": iso(e.first),
                "last": iso(e.last),
                "messages": e.messages,
                "peak": e.peak,
            }
            for e in counts.episodes
        ],
        "updates": [
            {
                "engine": engine,
                "ok": found[0],
                "failed": found[1],
                "last": iso(str(found[2])),
                "last_status": found[3],
            }
            for engine, found in sorted(counts.updates.items())
        ],
        "series": _series(counts, step),
        "reports": counts.reports,
        "malformed": counts.malformed,
        "malformed_lines": [
            {"file": name, "line": number, "text": text}
            for name, number, text in counts.malformed_lines
        ],
        "files": [{"file": name, "lines": n} for name, n in counts.files],
    }
