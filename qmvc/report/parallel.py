"""Reading one large plain qmvc.log on every core the process may use.

The file is cut into stretches at line ends; each stretch is read by its own `Collector`
in a forked worker, and the stretches' Counts are added up in the log's order
(`Counts.add`), so the report is the one a single reader gives: the same figures, the same
order of first sight, the same malformed examples with the same line numbers. A worker's
memory is bounded as a single reader's is, and at most two stretches per worker wait to be
added, so memory stays independent of the log's length.

Only plain qmvc.log files of at least `PARALLEL_MINIMUM` bytes are cut: a gzip stream
cannot be entered in the middle, qmvc.rep entries span lines (and bombing episodes span
entries), and for a small file starting workers costs more than it saves.
"""

from __future__ import annotations

import io
import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from qmvc.logs.reading import GZIP_MAGIC, strip_stamp
from qmvc.logs.rep import DELIMITER_START
from qmvc.report.collect import Collector, Counts

PARALLEL_MINIMUM = 64 << 20
STRETCH = 32 << 20
"""Bytes a worker reads at a time: small enough for a progress bar to move, large enough
that adding up the stretches' Counts costs nothing next to reading them."""


def usable_cores() -> int:
    return len(os.sched_getaffinity(0))


def worth_cutting(path: Path, cores: int) -> bool:
    """A plain qmvc.log large enough to share out, on a machine with more than one core."""
    if cores < 2 or path.stat().st_size < PARALLEL_MINIMUM:
        return False
    with path.open("rb") as head:
        start = head.read(256)  # enough for the magic number and a report delimiter
    first_line = start.split(b"\n", 1)[0].decode("utf-8", "replace")
    return not start.startswith(GZIP_MAGIC) and not strip_stamp(first_line).startswith(
        DELIMITER_START
    )


def stretches(path: Path, size: int) -> list[tuple[int, int]]:
    """[start, end) byte ranges covering the file, each ending just after a newline (the
    last at the end of the file)."""
    cuts = [0]
    with path.open("rb") as log:
        for target in range(STRETCH, size, STRETCH):
            if target <= cuts[-1]:
                continue
            log.seek(target - 1)
            log.readline()  # to just after the newline at or after `target - 1`
            position = log.tell()
            if position >= size:
                break
            cuts.append(position)
    cuts.append(size)
    return list(itertools.pairwise(cuts))


class _Stretch(io.RawIOBase):
    """Bytes [start, end) of a file, so that a TextIOWrapper over it stops at `end`."""

    def __init__(self, path: Path, start: int, end: int) -> None:
        super().__init__()
        self._file = path.open("rb", buffering=0)
        self._file.seek(start)
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        got = self._file.readinto(memoryview(buffer)[: self._left]) or 0
        self._left -= got
        return got

    def close(self) -> None:
        self._file.close()
        super().close()


def _read_stretch(
    path: Path, start: int, end: int, since: str, until: str, domain: str | None
) -> tuple[Counts, int]:
    """In a worker: one stretch's Counts and its number of lines."""
    collector = Collector(since, until, domain)
    with io.TextIOWrapper(
        io.BufferedReader(_Stretch(path, start, end)),
        encoding="utf-8",
        errors="replace",
        newline="\n",
    ) as text:
        lines = collector.read_log_text(str(path), text)
    return collector.counts, lines


def read_in_parallel(
    collector: Collector, path: Path, cores: int, progress: Callable[[int], None] | None = None
) -> None:
    """Read `path` as `collector.read` would, sharing its stretches among `cores` workers;
    `progress` is called with the bytes read so far as each stretch is added."""
    size = path.stat().st_size
    pieces = stretches(path, size)
    context = multiprocessing.get_context("fork")
    lines = 0
    with ProcessPoolExecutor(max_workers=min(cores, len(pieces)), mp_context=context) as pool:
        waiting: deque[tuple[int, Future[tuple[Counts, int]]]] = deque()
        queue = iter(pieces)
        for start, end in queue:
            waiting.append((end, pool.submit(_read_stretch, path, start, end, *collector.scope)))
            if len(waiting) < 2 * cores:
                continue
            lines = _add_next(collector, waiting, lines, progress)
        while waiting:
            lines = _add_next(collector, waiting, lines, progress)
    collector.counts.files.append((str(path), lines))


def _add_next(
    collector: Collector,
    waiting: deque[tuple[int, Future[tuple[Counts, int]]]],
    lines: int,
    progress: Callable[[int], None] | None,
) -> int:
    end, future = waiting.popleft()
    counts, read = future.result()
    collector.counts.add(counts, lines)
    if progress is not None:
        progress(end)
    return lines + read
