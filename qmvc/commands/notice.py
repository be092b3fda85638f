"""`qmvc notice --preview MESSAGE`: the incident notices a message would cause, not sent.

Admins edit the templates in templates/<language>/; this shows the result for a real
message through the real policy, so a template change can be checked before it reaches
anyone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qmvc.commands.explain import envelope_for, load_decision_tree


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("message", help="a message file, or - for stdin")
    parser.add_argument(
        "--preview",
        action="store_true",
        required=True,
        help="print the notices instead of sending them (the only mode)",
    )
    parser.add_argument("--sender", help="envelope sender (<> for the null sender)")
    parser.add_argument("--recipient", help="envelope recipient, which chooses the profile")
    parser.add_argument("--no-scan", action="store_true", help="do not call virus scanners")


def run(args: argparse.Namespace, policy_path: Path) -> int:
    from qmvc.actions.notices import NoticeError
    from qmvc.actions.perform import compose_notices
    from qmvc.engine.evaluate import evaluate
    from qmvc.engine.scanning import scanner_provider
    from qmvc.message.facts import MessageFacts

    decision_tree = load_decision_tree(policy_path)
    if decision_tree is None:
        return 1
    try:
        raw = sys.stdin.buffer.read() if args.message == "-" else Path(args.message).read_bytes()
    except OSError as exc:
        print(f"qmvc notice: cannot read {args.message}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    facts = MessageFacts(raw, envelope_for(raw, args.sender, args.recipient))
    verdict = evaluate(
        decision_tree, facts, None if args.no_scan else scanner_provider(decision_tree)
    )
    audiences = [t for a in verdict.actions if a.kind == "notify" for t in a.targets]
    if not audiences:
        print(f"verdict {verdict.outcome}: the policy sends no notice for it")
        return 0
    for audience in audiences:
        try:
            composed = compose_notices(audience, verdict, facts, decision_tree)
        except NoticeError as exc:
            print(f"qmvc notice: {audience}: {exc}", file=sys.stderr)
            return 1
        for address, notice in composed:
            print(f"===== notify {audience}: to {address}, envelope sender <> =====")
            print(notice.decode("utf-8", "replace"))
    return 0
