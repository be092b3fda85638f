"""The Virulator's reading: counts over qmvc.log and qmvc.rep lines, one pass, in memory that
grows with the number of distinct senders, rules, hours and episodes, never with the lines.

Each file is told apart by its first line: a report entry's delimiter makes it a qmvc.rep,
anything else a qmvc.log. A line that is neither a delivery line nor a `qmvc-update` line
(written by `qmvc update-signatures`) is counted as malformed, never fatal.

What counts as what, for a mail admin: a message qmail was told to retry (RC:111) is
`deferred` whatever its logged outcome, and is counted again when qmail retries it, so its
sender, recipient and rules are counted only then; the others count by their logged outcome
(QMVC 1.x lines, which have none, by their flags). Sources and sinks are those of virus and
badmail messages. A message belongs to the recipient's domain (the part after the last `@`).
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

from qmvc.logs.escape import escape, unescape
from qmvc.logs.line import (
    START_FORMAT,
    Shape,
    parse_line,
    quick_parts,
    quick_rows,
    row_shape,
    valid_hour,
)
from qmvc.logs.reading import OpenLog, strip_stamp
from qmvc.logs.rep import DELIMITER_START, iter_reports
from qmvc.report.period import EARLIEST, LATEST

Pairs = tuple[tuple[str, str], ...]
Traced = Callable[[str, int, str], None]
"""Called with file name, line number and line for each log line behind a traced figure."""

MALFORMED_EXAMPLES = 20
PROGRESS_EVERY = 1 << 16
CACHE_LIMIT = 4096
BLOCK = 1 << 16
"""Characters read at a time: a few thousand lines for `quick_rows`."""
_UNSEEN = Shape((), (), 0, "", "", ())
STAMP_LENGTH = len("20011106 09:22:51")
INCIDENTS = ("virus", "badmail")
_COPIES = re.compile(r"[0-9]{1,18}")
"""A bombing's count of copies as qmvc writes it: `int` refuses `²` and 5,000 digits."""


def outcome_of(outcome: str, criteria: Pairs, scanners: Pairs) -> str:
    """The logged outcome; QMVC 1.x lines have none, so it follows from their flags."""
    if outcome:
        return outcome
    if any(code == "1" for _, code in scanners):
        return "virus"
    if any(flag == "1" for _, flag in criteria):
        return "badmail"
    return "clean"


def category_of(outcome: str, exit_code: int, criteria: Pairs, scanners: Pairs) -> str:
    """Deferred (RC:111) whatever the outcome, else the outcome (or what the flags say)."""
    if exit_code == 111:
        return "deferred"
    return outcome or outcome_of(outcome, criteria, scanners)


def _blocks(text: TextIO, head: str) -> Iterator[str]:
    """`head` and the rest of `text` in blocks of about BLOCK characters, each made of whole
    lines ending in a newline (one is added to a last line that has none: no reader tells
    the two apart)."""
    while block := head + text.read(BLOCK):
        head = ""
        if block[-1] != "\n":
            block += text.readline()
            if block[-1] != "\n":
                block += "\n"
        yield block


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


@dataclass
class Episode:
    """A bombing as qmvc.rep tells it: from the copy that started it to the last one seen."""

    rule: str
    kind: str
    source: str
    first: str
    last: str
    messages: int = 0
    peak: int = 0


@dataclass
class Counts:
    """Everything counted; `qmvc.report.figures` turns it into the report's document.
    Times are stamps as the log writes them (`YYYYMMDD HH:MM:SS`)."""

    first: str = LATEST
    last: str = EARLIEST
    delivery_ms: int = 0
    hours: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(`YYYYMMDD HH`, category) → messages."""
    kinds: Counter[tuple[str, str, int, Pairs, Pairs]] = field(default_factory=Counter)
    """(domain, category, exit code, criteria, scanners) → messages: one key per line, as
    few distinct keys as there are domains times combinations of flags."""
    viruses: dict[str, list[int | str]] = field(default_factory=dict)
    """virus → [count, first, last]."""
    senders: Counter[tuple[str, str]] = field(default_factory=Counter)
    recipients: Counter[tuple[str, str]] = field(default_factory=Counter)
    clients: Counter[tuple[str, str]] = field(default_factory=Counter)
    subjects: Counter[tuple[str, str]] = field(default_factory=Counter)
    scanner_seconds: dict[str, list[float]] = field(default_factory=dict)
    """scanner → [seconds, runs] from qmvc.rep (qmvc.log has the verdict, not the time)."""
    episodes: list[Episode] = field(default_factory=list)
    updates: dict[str, list[int | str]] = field(default_factory=dict)
    """engine → [ok, failed, last stamp, last status]."""
    reports: int = 0
    malformed: int = 0
    malformed_lines: list[tuple[str, int, str]] = field(default_factory=list)
    files: list[tuple[str, int]] = field(default_factory=list)

    def add(self, later: Counts, lines_before: int) -> None:
        """Add what was counted over a later stretch of the same log, as if read on from
        here: its malformed examples are numbered on from `lines_before`, and keys new to
        a figure come after the ones already there (Counter keeps the order of first
        sight). Its files are left to the caller, who knows the whole file."""
        self.first, self.last = min(self.first, later.first), max(self.last, later.last)
        self.delivery_ms += later.delivery_ms
        for mine, theirs in (
            (self.hours, later.hours),
            (self.senders, later.senders),
            (self.recipients, later.recipients),
            (self.clients, later.clients),
            (self.subjects, later.subjects),
        ):
            mine.update(theirs)
        self.kinds.update(later.kinds)
        for virus, (count, first, last) in later.viruses.items():
            seen = self.viruses.setdefault(virus, [0, first, last])
            seen[0] = int(seen[0]) + int(count)
            seen[1], seen[2] = min(str(seen[1]), str(first)), max(str(seen[2]), str(last))
        for scanner, (seconds, runs) in later.scanner_seconds.items():
            total = self.scanner_seconds.setdefault(scanner, [0.0, 0.0])
            total[0] += seconds
            total[1] += runs
        self.episodes += later.episodes
        for engine, (ok, failed, stamp, status) in later.updates.items():
            mine_update = self.updates.setdefault(engine, [0, 0, "", ""])
            mine_update[0] = int(mine_update[0]) + int(ok)
            mine_update[1] = int(mine_update[1]) + int(failed)
            if str(stamp) >= str(mine_update[2]):
                mine_update[2], mine_update[3] = stamp, status
        self.reports += later.reports
        self.malformed += later.malformed
        room = MALFORMED_EXAMPLES - len(self.malformed_lines)
        self.malformed_lines += [
            (name, lines_before + number, shown)
            for name, number, shown in later.malformed_lines[: max(room, 0)]
        ]


class Collector:
    """Reads log files into Counts, for messages started in [since, until) and, with a
    domain, only for recipients in it. `traced` gets the lines behind `--show RULE`
    (the rule matched) or `--virus NAME` (the virus was found)."""

    def __init__(
        self,
        since: str = EARLIEST,
        until: str = LATEST,
        domain: str | None = None,
        rule: str | None = None,
        virus: str | None = None,
        traced: Traced | None = None,
    ) -> None:
        self.counts = Counts()
        self.since, self.until = since, until
        self.domain = domain.lower() if domain else None
        self.rule, self.virus, self.traced = rule, virus, traced
        self._open_episodes: dict[tuple[str, str], Episode] = {}
        self._name = ""
        self._number = 0

    @property
    def scope(self) -> tuple[str, str, str | None]:
        """The period and the domain, for a Collector reading another part of the logs."""
        return self.since, self.until, self.domain

    def read_log_text(self, name: str, text: TextIO) -> int:
        """A qmvc.log, or a stretch of one, from its text; how many lines there were."""
        self._name, self._number = name, 0
        self._read_log(text)
        return self._number

    def read(self, name: str, log: OpenLog, progress: Callable[[], None] | None = None) -> None:
        """All lines of one file; `progress` is called as reading moves on."""
        self._name, self._number = name, 0
        head = log.text.readline()
        if strip_stamp(head).startswith(DELIMITER_START):
            lines = itertools.chain([head], log.text)
            self._read_reports(lines, progress)
        else:
            self._read_log(log.text, head, progress)
        self.counts.files.append((name, self._number))

    def _read_log(
        self, text: TextIO, head: str = "", progress: Callable[[], None] | None = None
    ) -> None:
        """The hot loop, a microsecond or two a line: blocks of lines go through `quick_rows`,
        and its rows are counted here inline (locals, no call per figure), into `bunch`, keyed
        by hour, domain and shape, folded into Counts when it grows and at the end. Incidents
        (a minority) go through `_incident`, and lines of any other form, whole, through
        `_read_line`. `head`: the file's first line, already read."""
        counts, traced = self.counts, self.traced
        since, until, only = self.since, self.until, self.domain
        first, last, delivery_ms = counts.first, counts.last, 0
        domains: dict[str, str] = {}
        shapes: dict[str, Shape | None] = {}
        bounded = since != EARLIEST or until != LATEST
        categories: dict[Shape, str] = {}
        bunch: dict[tuple[str, str, Shape], int] = {}
        number, previous_hour = 0, ""
        for block in _blocks(text, head):
            rows = quick_rows(block)
            if rows is None:
                for line in block[:-1].split("\n"):
                    number += 1
                    self._number = number
                    self._read_line(line + "\n")
                rows = []
            whole: list[str] = []
            before, escapes = number, "%" in block
            for row in rows:
                number += 1
                start, hour, sender, recipient, head_fields, tail_fields, ms, rest, line = row
                if line:
                    self._number = number
                    self._read_line(line)
                    continue
                shape_text = f"{head_fields}|{tail_fields}|{rest}"
                shape = shapes.get(shape_text, _UNSEEN)
                if shape is _UNSEEN:
                    if len(shapes) > CACHE_LIMIT:
                        shapes.clear()
                    shape = shapes[shape_text] = row_shape(head_fields, tail_fields, rest)
                if hour != previous_hour:
                    if shape is not None and valid_hour(hour):
                        previous_hour = hour
                    else:
                        shape = None
                if shape is None:
                    whole = whole or block.split("\n")
                    self._number = number
                    self._read_line(whole[number - before - 1] + "\n")
                    continue
                if bounded and (start < since or start >= until):
                    continue
                if escapes and ("%" in sender or "%" in recipient):
                    sender, recipient = unescape(sender), unescape(recipient)
                domain = domains.get(recipient)
                if domain is None:
                    if len(domains) > CACHE_LIMIT:
                        domains.clear()
                    domain = domains[recipient] = domain_of(recipient)
                if only is not None and domain != only:
                    continue
                if start < first:
                    first = start
                if start > last:
                    last = start
                delivery_ms += int(ms)
                category = categories.get(shape)
                if category is None:
                    category = self._first_of_shape(bunch, categories, shape, domain)
                key = (previous_hour, domain, shape)
                seen = bunch.get(key)
                if seen is not None:
                    bunch[key] = seen + 1
                else:
                    if len(bunch) >= CACHE_LIMIT:
                        self._fold(bunch, categories)
                    bunch[key] = 1
                if category in INCIDENTS:
                    self._incident(start, sender, recipient, category, shape.viruses)
                if traced is not None:
                    whole = whole or block.split("\n")
                    self._number = number
                    line = strip_stamp(whole[number - before - 1])
                    self._trace(number, line, shape.criteria, shape.viruses)
            if progress is not None:
                progress()
        self._number = number
        self._fold(bunch, categories)
        counts.first, counts.last = min(first, counts.first), max(last, counts.last)
        counts.delivery_ms += delivery_ms

    def _read_line(self, line: str) -> None:
        """A line `quick_rows` gave back whole: escaped addresses, QMVC 1.x, update lines,
        anything malformed."""
        if line[0] == "@":
            line = strip_stamp(line)
        parts = quick_parts(line)
        if parts is None and "%" in line:
            parts = quick_parts(line, True)
        if parts is None:
            self._slow(line)
            return
        start, sender, recipient, shape, duration = parts
        counted = self._count(
            start,
            sender,
            recipient,
            shape.criteria,
            shape.scanners,
            shape.exit_code,
            shape.profile,
            shape.outcome,
            duration,
            shape.viruses,
        )
        if counted and self.traced is not None:
            self._trace(self._number, line, shape.criteria, shape.viruses)

    def _first_of_shape(
        self,
        bunch: dict[tuple[str, str, Shape], int],
        categories: dict[Shape, str],
        shape: Shape,
        domain: str,
    ) -> str:
        """A shape's category, when the hot loop first meets it. Its key enters Counts now
        (its count follows from `bunch`), so categories come in the order of the log, as
        they did line by line: the report lists categories beyond the headline's that way."""
        if len(categories) >= CACHE_LIMIT:
            self._fold(bunch, categories)
            categories.clear()
        category = categories[shape] = category_of(
            shape.outcome, shape.exit_code, shape.criteria, shape.scanners
        )
        self.counts.kinds[domain, category, shape.exit_code, shape.criteria, shape.scanners] += 0
        return category

    def _fold(self, bunch: dict[tuple[str, str, Shape], int], categories: dict[Shape, str]) -> None:
        """Add the hot loop's counts by hour, domain and shape to Counts."""
        hours, kinds = self.counts.hours, self.counts.kinds
        for (hour, domain, shape), n in bunch.items():
            category = categories[shape]
            hours[hour, category] += n
            kinds[domain, category, shape.exit_code, shape.criteria, shape.scanners] += n
        bunch.clear()

    def _slow(self, line: str) -> None:
        text = line.rstrip("\n")
        if not text.strip():
            return
        if text.startswith("qmvc-update "):
            self._update(text)
            return
        try:
            record = parse_line(text)
        except ValueError:
            self._malformed(text)
            return
        fields = (
            record.start.strftime(START_FORMAT),
            record.sender,
            record.recipient,
            record.criteria,
            record.scanners,
            record.exit_code,
            record.profile,
            record.outcome,
            record.duration_ms,
            record.viruses,
        )
        if self._count(*fields) and self.traced:
            self._trace(self._number, text, record.criteria, record.viruses)

    def _count(
        self,
        start: str,
        sender: str,
        recipient: str,
        criteria: Pairs,
        scanners: Pairs,
        exit_code: int,
        profile: str,
        outcome: str,
        duration_ms: int,
        viruses: tuple[str, ...],
    ) -> bool:
        """Count one delivery line; False when it is outside the period or the domain."""
        if start < self.since or start >= self.until:
            return False
        domain = domain_of(recipient)
        if self.domain is not None and domain != self.domain:
            return False
        counts = self.counts
        category = category_of(outcome, exit_code, criteria, scanners)
        if start < counts.first:
            counts.first = start
        if start > counts.last:
            counts.last = start
        counts.delivery_ms += duration_ms
        counts.hours[start[:11], category] += 1
        counts.kinds[domain, category, exit_code, criteria, scanners] += 1
        if category in INCIDENTS:
            self._incident(start, sender, recipient, category, viruses)
        return True

    def _incident(
        self, start: str, sender: str, recipient: str, category: str, viruses: tuple[str, ...]
    ) -> None:
        """A virus or badmail message: its source, sink and viruses."""
        counts = self.counts
        counts.senders[sender or "<>", category] += 1
        counts.recipients[recipient, category] += 1
        for virus in viruses:
            seen = counts.viruses.get(virus)
            if seen is None:
                counts.viruses[virus] = [1, start, start]
            else:
                seen[0] = int(seen[0]) + 1
                seen[1] = min(str(seen[1]), start)
                seen[2] = max(str(seen[2]), start)

    def _trace(self, number: int, line: str, criteria: Pairs, viruses: tuple[str, ...]) -> None:
        assert self.traced is not None
        if (self.rule is not None and (self.rule, "1") in criteria) or (
            self.virus is not None and self.virus in viruses
        ):
            self.traced(self._name, number, line.rstrip("\n"))

    def _update(self, text: str) -> None:
        """`qmvc-update STAMP|engine|ok|rc=N|s=T|output`, one per engine and run."""
        fields = text.split("|")
        stamp = fields[0][len("qmvc-update ") :]
        if len(fields) < 3 or fields[2] not in ("ok", "failed") or len(stamp) != STAMP_LENGTH:
            self._malformed(text)
            return
        if not self.since <= stamp < self.until:
            return
        engine = self.counts.updates.setdefault(fields[1], [0, 0, "", ""])
        engine[0 if fields[2] == "ok" else 1] = int(engine[0 if fields[2] == "ok" else 1]) + 1
        if stamp >= str(engine[2]):
            engine[2], engine[3] = stamp, fields[2]

    def _malformed(self, text: str) -> None:
        counts = self.counts
        counts.malformed += 1
        if len(counts.malformed_lines) < MALFORMED_EXAMPLES:
            shown = escape(text[:200], ascii_only=False)
            counts.malformed_lines.append((self._name, self._number, shown))

    def _numbered(self, lines: Iterable[str], progress: Callable[[], None] | None) -> Iterator[str]:
        for self._number, line in enumerate(lines, 1):
            yield strip_stamp(line) if line[0] == "@" else line
            if progress is not None and not self._number % PROGRESS_EVERY:
                progress()

    def _read_reports(self, lines: Iterable[str], progress: Callable[[], None] | None) -> None:
        for entry in iter_reports(self._numbered(lines, progress)):
            key, value = entry[0]
            if key == "stray" or len(value) < STAMP_LENGTH:
                self._malformed(value)
            else:
                self._report(value[:STAMP_LENGTH], entry[1:])

    def _report(self, stamp: str, lines: list[tuple[str, str]]) -> None:
        """One qmvc.rep entry: subject, client, scanners' times and bombings."""
        if not self.since <= stamp < self.until:
            return
        facts: dict[str, str] = {}
        for key, value in lines:
            if not key.replace("-", "").isalpha():
                self._malformed(f"{key}: {value}" if value else key)
            elif key == "scanner":
                self._scanner_time(value)
            elif key == "bombing":
                self._bombing(stamp, value)
            else:
                facts.setdefault(key, value)
        if self.domain is not None and domain_of(facts.get("recipient", "")) != self.domain:
            return
        counts = self.counts
        counts.reports += 1
        category = "deferred" if facts.get("exit") == "111" else facts.get("outcome", "")
        if category in INCIDENTS:
            counts.subjects[facts.get("subject", ""), category] += 1
            if facts.get("client"):
                counts.clients[facts["client"], category] += 1

    def _scanner_time(self, value: str) -> None:
        """`clamd ran 0.41 s: W32/Goner@MM`: only engines that ran have a time worth a mean."""
        words = value.split(" ", 3)
        if len(words) < 4 or words[1] != "ran" or not words[3].startswith("s"):
            return
        try:
            seconds = float(words[2])
        except ValueError:
            seconds = math.nan
        if not 0 <= seconds < math.inf:  # nan, inf and negatives: not a time qmvc writes
            self._malformed(f"scanner: {value}")
            return
        total = self.counts.scanner_seconds.setdefault(words[0], [0.0, 0.0])
        total[0] += seconds
        total[1] += 1

    def _bombing(self, stamp: str, value: str) -> None:
        """`rule kind count started|going-on source`: a `started` line opens an episode."""
        words = value.split(" ", 4)
        if (
            len(words) < 5
            or _COPIES.fullmatch(words[2]) is None
            or words[3] not in ("started", "going-on")
        ):
            self._malformed(f"bombing: {value}")
            return
        rule, kind, copies, phase, source = words
        episode = self._open_episodes.get((rule, source))
        if episode is None or phase == "started":
            episode = Episode(rule, kind, source, stamp, stamp)
            self._open_episodes[rule, source] = episode
            self.counts.episodes.append(episode)
        episode.messages += 1
        episode.last = max(episode.last, stamp)
        episode.peak = max(episode.peak, int(copies))
