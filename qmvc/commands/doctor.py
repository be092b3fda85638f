"""`qmvc doctor [--user NAME]`: the deployment a delivery will meet, checked before mail does.

Run as the delivering user (the one qmail-local runs the `.qmail` line as), or as root
with `--user NAME`: then QMVC_DIR is found from that user's home (unless QMVC_DIR is set)
and every question about permissions is asked with the user's uid and group (see
qmvc.doctor.user). One line per finding, `ok`, `warn` or `FAIL`, with its fix; exit 1 when
anything fails, 0 otherwise (warnings included), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from qmvc.console import emit
from qmvc.paths import qmvc_dir

LABELS = {"ok": ("ok", "ok"), "warn": ("warn", "warning"), "fail": ("FAIL", "error")}
"""Status → (the word the text line starts with, its console style)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--user",
        metavar="NAME",
        help="check as this delivering user (as root; default: whoever runs doctor)",
    )


def run(args: argparse.Namespace, policy_path: Path) -> int:
    from qmvc.doctor.checks import Deployment, run_checks
    from qmvc.doctor.user import DeliveringUser

    try:
        user = DeliveringUser.named(args.user) if args.user else DeliveringUser.current()
    except KeyError:
        print(f"qmvc doctor: no such user: {args.user}", file=sys.stderr)
        return 2
    if not user.is_current and os.geteuid() != 0:
        print(f"qmvc doctor: only root can check as {user.name}", file=sys.stderr)
        return 2
    environ = {**os.environ, "HOME": user.home} if args.user else os.environ
    search_path = os.environ.get("PATH", os.defpath)
    deployment = Deployment.inspect(policy_path, user, qmvc_dir(environ), search_path)
    findings = run_checks(deployment)
    failed = any(finding.status == "fail" for finding in findings)
    if args.format == "json":
        document = {"ok": not failed, "checks": [finding.to_json() for finding in findings]}
        print(json.dumps(document, indent=2))
        return 1 if failed else 0
    for finding in findings:
        label, style = LABELS[finding.status]
        fix = f" — {finding.fix}" if finding.fix else ""
        emit(f"{label:<4}  {finding.check}: {finding.detail}{fix}", style)
    counts = {status: sum(f.status == status for f in findings) for status in LABELS}
    emit(
        f"qmvc doctor: {counts['fail']} failed, {counts['warn']} warning(s), {counts['ok']} ok"
        f" (as {user}, QMVC_DIR {deployment.base_dir})",
        "error" if failed else "warning" if counts["warn"] else "ok",
    )
    return 1 if failed else 0
