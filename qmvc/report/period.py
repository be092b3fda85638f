"""`--since` and `--until` as the log writes times, so a line is in range by string order.

qmvc.log's start stamp `YYYYMMDD HH:MM:SS` sorts as the time does; comparing text saves
parsing millions of dates. Since is inclusive, until exclusive; an until given as a date
alone means the end of that day, as an admin asking "until the 24th" expects.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from qmvc.logs.line import START_FORMAT

_RELATIVE = re.compile(r"(\d+)([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
EARLIEST = ""
LATEST = "~"
"""Sort after every stamp: no upper bound."""


def parse_moment(text: str, now: datetime, until: bool = False) -> str:
    """`2026-11-24`, `2026-11-24 07:00`, `2026-11-24T07:00:30`, or `7d`/`24h`/`30m`/`2w`
    before now; ValueError (with the accepted forms) for anything else."""
    relative = _RELATIVE.fullmatch(text.strip())
    if relative:
        try:
            moment = now - timedelta(**{_UNITS[relative[2]]: int(relative[1])})
        except OverflowError:  # further back than the year 1: before every stamp
            return EARLIEST
        return _stamp(moment)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"not a time: {text!r} (use 2026-11-24, 2026-11-24 07:00, or 7d, 24h, 30m, 2w)"
        ) from None
    if until and len(text.strip()) == len("2026-11-24"):
        moment += timedelta(days=1)
    return _stamp(moment.replace(tzinfo=None))


def _stamp(moment: datetime) -> str:
    """As START_FORMAT writes it, but with a four-digit year before the year 1000 too (glibc
    writes `931`, which would sort after `2026`)."""
    return f"{moment.year:04d}{moment.strftime(START_FORMAT[2:])}"
