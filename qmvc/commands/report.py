"""`qmvc report [LOG]`: what qmvc.log says — outcomes, rules, viruses, their sources and sinks."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from qmvc.paths import qmvc_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", nargs="?", type=Path, help="a qmvc.log (default: QMVC_DIR/qmvc.log)")
    parser.add_argument(
        "--top", type=int, default=10, help="rows per table, text or JSON (default 10)"
    )


def run(args: argparse.Namespace, policy_path: Path) -> int:
    from qmvc.logs.analysis import render_summary, summarise

    path = args.log or qmvc_dir() / "qmvc.log"
    try:
        with path.open(encoding="ascii", errors="replace") as lines:
            summary = summarise(lines)
    except OSError as exc:
        print(f"qmvc report: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(summary.to_json(args.top), indent=2))
    else:
        print(render_summary(summary, args.top))
    return 0
