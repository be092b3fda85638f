"""`qmvc notice --preview MESSAGE`: the incident notices a message would cause, not sent.

Admins edit the templates in templates/<language>/; this shows the result for a real
message through the real policy, so a template change can be checked before it reaches
anyone.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from qmvc.commands.explain import envelope_for, load_decision_tree

if TYPE_CHECKING:
    from qmvc.actions.notify import NoticeOutcome


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
    from qmvc.actions.notify import notify
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
    outcomes = [
        outcome
        for audience in audiences
        for outcome in notify(audience, verdict, facts, decision_tree, None, send=False)
    ]
    if args.format == "json":
        print(json.dumps({"outcome": verdict.outcome, "notices": [_as_json(o) for o in outcomes]}))
    elif not audiences:
        print(f"verdict {verdict.outcome}: the policy sends no notice for it")
    for outcome in outcomes if args.format == "text" else ():
        _print_text(outcome)
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def _decoded(message: bytes) -> tuple[list[tuple[str, str]], str]:
    """Headers as a reader sees them (RFC 2047 decoded) and the body, transfer-decoded."""
    import email
    import email.policy

    parsed = email.message_from_bytes(message, policy=email.policy.default)
    headers = [(name, str(value)) for name, value in parsed.items()]
    return headers, parsed.get_content()


def _print_text(outcome: NoticeOutcome) -> None:
    if outcome.status != "preview":
        print(
            f"===== no notice to {outcome.audience} {outcome.address or '<>'}: "
            f"{outcome.status}: {outcome.detail} ====="
        )
        return
    note = f", {outcome.detail}" if outcome.detail else ""
    print(
        f"===== notify {outcome.audience}: to {outcome.address}, envelope sender <>, "
        f"language {outcome.language}{note} ====="
    )
    headers, body = _decoded(outcome.message)
    for name, value in headers:
        print(f"{name}: {value}")
    print()
    print(body, end="" if body.endswith("\n") else "\n")


def _as_json(outcome: NoticeOutcome) -> dict[str, object]:
    """One notice: audience, status, language, envelope, headers (decoded), body (decoded)."""
    found: dict[str, object] = {
        "audience": outcome.audience,
        "status": outcome.status,
        "language": outcome.language,
        "detail": outcome.detail,
        "envelope": {"mail_from": "", "rcpt_to": outcome.address},
    }
    if outcome.status == "preview":
        headers, body = _decoded(outcome.message)
        found["headers"] = [[name, value] for name, value in headers]
        found["body"] = body
    return found
