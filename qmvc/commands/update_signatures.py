"""`qmvc update-signatures`: run each engine's update command and log the result.

A failed update is reported (exit 1) and logged; scanning goes on with the last good
signatures, since the engines keep them until an update succeeds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from datetime import datetime
from pathlib import Path

from qmvc.console import emit
from qmvc.paths import qmvc_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per update command")


def run(args: argparse.Namespace, policy_path: Path) -> int:
    from qmvc.logs.escape import escape
    from qmvc.logs.line import append_line
    from qmvc.policy.cache import PolicyUnavailable, load_tree
    from qmvc.scanners.update import update_signatures

    base = qmvc_dir()
    try:
        tree = load_tree(policy_path, base / "cache").tree
    except PolicyUnavailable as exc:
        emit(f"qmvc update-signatures: {exc}", "error", sys.stderr)
        return 1
    results = update_signatures(tree.scanners.values(), args.timeout)
    stamp = datetime.now().strftime("%Y%m%d %H:%M:%S")
    for result in results:
        line = (
            f"qmvc-update {stamp}|{escape(result.name)}|{'ok' if result.ok else 'failed'}"
            f"|rc={result.exit_code}|s={result.seconds:.1f}|{escape(result.output_tail[-200:])}"
        )
        with contextlib.suppress(OSError):  # the printed result still tells the admin
            append_line(base / "qmvc.log", line)
    if args.format == "json":
        print(
            json.dumps(
                [
                    {
                        "name": r.name,
                        "command": list(r.command),
                        "ok": r.ok,
                        "exit_code": r.exit_code,
                        "seconds": r.seconds,
                        "output": r.output_tail,
                    }
                    for r in results
                ],
                indent=2,
            )
        )
    else:
        for result in results:
            emit(
                f"{result.name}: {'ok' if result.ok else 'FAILED'} "
                f"({' '.join(result.command) or 'nothing to run'})"
                + ("" if result.ok else f": {result.output_tail.strip()[-300:]}"),
                "ok" if result.ok else "error",
            )
    return 0 if all(r.ok for r in results) else 1
