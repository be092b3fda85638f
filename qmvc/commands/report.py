"""`qmvc report [LOG…]`: the Virulator — what qmvc.log and qmvc.rep say about a period:
outcomes, rules, viruses, their sources and sinks, scanners, bombings, as text, JSON or HTML.

With `--show RULE` or `--virus NAME` it prints the log lines behind that figure instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qmvc.paths import qmvc_dir

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from qmvc.logs.reading import OpenLog
    from qmvc.report.collect import Collector


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "logs",
        nargs="*",
        type=Path,
        metavar="LOG",
        help="qmvc.log or qmvc.rep files (plain or gzip), rotated copies, multilog or qmvc "
        "directories (default: qmvc.log, qmvc.rep and their rotations in QMVC_DIR)",
    )
    parser.add_argument("--since", help="from this time: 2026-11-24, '2026-11-24 07:00', 7d, 24h")
    parser.add_argument("--until", help="before this time (a date alone: to its end)")
    parser.add_argument("--domain", help="only messages to recipients in this domain")
    parser.add_argument("--by", choices=("hour", "day"), help="time series step (default: auto)")
    parser.add_argument("--html", type=Path, metavar="FILE", help="also write an HTML page")
    parser.add_argument("--show", metavar="RULE", help="list the log lines where RULE matched")
    parser.add_argument("--virus", metavar="NAME", help="list the log lines that found NAME")
    parser.add_argument(
        "--top", type=int, default=10, help="rows per table, text, JSON or HTML (default 10)"
    )


def run(args: argparse.Namespace, policy_path: Path) -> int:
    from qmvc.logs.reading import log_files
    from qmvc.report.collect import Collector
    from qmvc.report.period import EARLIEST, LATEST, parse_moment

    try:
        now = datetime.now()
        since = parse_moment(args.since, now) if args.since else EARLIEST
        until = parse_moment(args.until, now, until=True) if args.until else LATEST
    except ValueError as exc:
        print(f"qmvc report: {exc}", file=sys.stderr)
        return 2
    files = log_files(args.logs, qmvc_dir())
    traced: list[dict[str, Any]] = []
    tracing = args.show is not None or args.virus is not None
    collector = Collector(
        since,
        until,
        args.domain,
        args.show,
        args.virus,
        _tracer(args.format, traced) if tracing else None,
    )
    explicit = set(args.logs)
    readable = [f for f in files if f in explicit or f.exists()]
    try:
        _read_all(collector, readable, tracing)
    except OSError as exc:
        print(f"qmvc report: cannot read {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if tracing:
        if args.format == "json":
            print(json.dumps({"rule": args.show, "virus": args.virus, "lines": traced}, indent=2))
        return 0
    from qmvc.report.figures import document

    report = document(collector.counts, args.top, since, until, args.domain, args.by)
    if args.html:
        from qmvc.report.html import render_html

        try:
            args.html.write_text(render_html(report), encoding="utf-8")
        except OSError as exc:
            print(f"qmvc report: cannot write {args.html}: {exc.strerror}", file=sys.stderr)
            return 2
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        from qmvc.report.text import PipeConsole, render

        render(report, PipeConsole(highlight=False, width=None if sys.stdout.isatty() else 120))
    return 0


def _tracer(output_format: str, traced: list[dict[str, Any]]) -> Callable[[str, int, str], None]:
    """Text prints each line as found (a grep-like `file:line: text`); JSON collects them."""
    from qmvc.logs.escape import escape

    def found(name: str, number: int, line: str) -> None:
        if output_format == "json":
            traced.append({"file": name, "line": number, "text": line})
        else:
            print(f"{name}:{number}: {escape(line, ascii_only=False)}")

    return found


def _read_all(collector: Collector, files: list[Path], tracing: bool) -> None:
    """Read every file, in order; a large plain qmvc.log on every usable core
    (`qmvc.report.parallel`) unless lines are traced (they are printed as found, in
    order). A progress bar on stderr only when it is a terminal."""
    from qmvc.logs.reading import open_log
    from qmvc.report.parallel import read_in_parallel, usable_cores, worth_cutting

    cores = 1 if tracing else usable_cores()
    if not sys.stderr.isatty():
        for path in files:
            if worth_cutting(path, cores):
                read_in_parallel(collector, path, cores)
                continue
            with open_log(path) as log:
                collector.read(str(path), log)
        return
    from rich.console import Console
    from rich.progress import Progress

    total = sum(path.stat().st_size for path in files)
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("reading logs", total=total)
        done = 0
        for path in files:
            if worth_cutting(path, cores):
                read_in_parallel(collector, path, cores, partial(_moved, progress, task, done))
                done += path.stat().st_size
                continue
            with open_log(path) as log:
                collector.read(str(path), log, partial(_advance, progress, task, done, log))
                done += log.size


def _moved(progress: Progress, task: TaskID, done: int, position: int) -> None:
    progress.update(task, completed=done + position)


def _advance(progress: Progress, task: TaskID, done: int, log: OpenLog) -> None:
    _moved(progress, task, done, log.position())
