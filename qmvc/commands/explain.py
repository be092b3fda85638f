"""`qmvc explain MESSAGE`: the path a message takes through the policy, and why.

Text output is a tree of every rule tested (with what it saw), every step skipped (and
why), every scanner, every action, each with the policy line it came from. JSON output
is the verdict with the keys documented in the README.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qmvc.console import emit

if TYPE_CHECKING:
    from qmvc.engine.tree import DecisionTree
    from qmvc.engine.verdict import ScannerReport, TraceStep, Verdict
    from qmvc.message.envelope import Envelope

RESULT_STYLES = {
    "true": "bold red",
    "false": "green",
    "skipped": "dim",
    "ran": "cyan",
    "error": "bold yellow",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "message", help="a message file, - for stdin, or with --each an mbox or Maildir"
    )
    parser.add_argument(
        "--sender",
        help="envelope sender (<> for the null sender); default: the message's Return-Path",
    )
    parser.add_argument(
        "--recipient",
        help="envelope recipient, which chooses the domain's profile; "
        "default: the message's Delivered-To, else To",
    )
    parser.add_argument("--no-scan", action="store_true", help="do not call virus scanners")
    parser.add_argument(
        "--each",
        action="store_true",
        help="explain every message of an mbox file or a Maildir, as a table",
    )


def load_decision_tree(policy_path: Path) -> DecisionTree | None:
    """The compiled policy, or None after printing its diagnostics to stderr."""
    from qmvc.policy.diagnostics import PolicyError, render_text
    from qmvc.policy.policy import Policy

    try:
        return Policy.load(policy_path).compile()
    except PolicyError as exc:
        for diagnostic in exc.diagnostics:
            emit(render_text(diagnostic, exc.sources), diagnostic.severity, sys.stderr)
        return None


def run(args: argparse.Namespace, policy_path: Path) -> int:
    decision_tree = load_decision_tree(policy_path)
    if decision_tree is None:
        return 1
    try:
        messages = list(_messages(args.message, args.each))
    except OSError as exc:
        print(f"qmvc explain: cannot read {args.message}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    verdicts = [(label, _explain(decision_tree, raw, args)) for label, raw in messages]
    if args.format == "json":
        if args.each:
            print(
                json.dumps(
                    [{"message": label, "verdict": v.to_json()} for label, v in verdicts],
                    indent=2,
                    ensure_ascii=False,
                )
            )
        else:
            print(json.dumps(verdicts[0][1].to_json(), indent=2, ensure_ascii=False))
    elif args.each:
        _print_table(verdicts)
    else:
        _print_verdict(verdicts[0][1])
    return 0


def _messages(source: str, each: bool) -> Iterator[tuple[str, bytes]]:
    if source == "-" and not each:
        yield "-", sys.stdin.buffer.read()
        return
    path = Path(source)
    if not each:
        yield source, path.read_bytes()
        return
    import mailbox

    if path.is_dir() and not (path / "cur").is_dir():
        raise FileNotFoundError(errno.ENOENT, "not a Maildir (no cur/ inside)", source)
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), source)
    box: mailbox.Mailbox[mailbox.Message] = (
        mailbox.Maildir(path, factory=None, create=False)
        if path.is_dir()
        else mailbox.mbox(path, create=False)
    )
    for key in sorted(box.keys()):
        yield str(key), box.get_bytes(key)


def _explain(decision_tree: DecisionTree, raw: bytes, args: argparse.Namespace) -> Verdict:
    from qmvc.engine.evaluate import evaluate
    from qmvc.engine.scanning import scanner_provider
    from qmvc.message.facts import MessageFacts

    facts = MessageFacts(raw, envelope_for(raw, args.sender, args.recipient))
    scanners = None if args.no_scan else scanner_provider(decision_tree)
    return evaluate(decision_tree, facts, scanners)


def envelope_for(raw: bytes, sender: str | None, recipient: str | None) -> Envelope:
    """The envelope from --sender/--recipient, else read back from the message's headers."""
    from qmvc.message.envelope import Envelope

    if sender is None or recipient is None:
        header_sender, header_recipient = _envelope_from_headers(raw)
        sender = header_sender if sender is None else sender
        recipient = header_recipient if recipient is None else recipient
    return Envelope.from_addresses(sender, recipient)


def _envelope_from_headers(raw: bytes) -> tuple[str, str]:
    """What qmail would have put in SENDER and RECIPIENT, read back from the headers."""
    from email.parser import BytesHeaderParser
    from email.utils import getaddresses

    headers = BytesHeaderParser().parsebytes(raw[:65536])
    sender = str(headers.get("Return-Path", "") or "")
    recipient_header = (
        headers.get("Delivered-To") or headers.get("X-Original-To") or headers.get("To") or ""
    )
    addresses = getaddresses([str(recipient_header)])
    return sender, addresses[0][1] if addresses else ""


def _print_verdict(verdict: Verdict) -> None:
    from qmvc.engine.verdict import EXIT_DEFER

    style = {"clean": "green", "badmail": "bold red", "virus": "bold red"}.get(
        verdict.outcome, "bold yellow"
    )
    emit(
        f"verdict: {verdict.outcome}   profile: {verdict.profile}   qmail exit: {verdict.exit_code}"
        + ("  (deferred: qmail retries later)" if verdict.exit_code == EXIT_DEFER else ""),
        style,
    )
    for prefix, step in _tree_prefixes(verdict.trace):
        emit(prefix + _trace_line(step), RESULT_STYLES.get(step.result, ""))
    for criterion in verdict.criteria:
        emit(f"badmail: {criterion.name}: {criterion.evidence}", "bold red")
    for report in verdict.scanners:
        details = _found(report) or report.reason
        emit(
            f"scanner: {report.name}: {report.status}" + (f": {details}" if details else ""),
            "bold red" if report.viruses else "",
        )


def _found(report: ScannerReport) -> str:
    """`found W32/Sircam in forwarded.eml › setup.exe, found Worm`: each virus, with the
    attachments it was found in when the engine could say."""
    places: dict[str, list[str]] = {}
    for virus, where in report.locations:
        places.setdefault(virus, []).append(where)
    return ", ".join(
        f"found {virus}" + (f" in {' and '.join(places[virus])}" if virus in places else "")
        for virus in report.viruses
    )


def _trace_line(step: TraceStep) -> str:
    where = f"  [{step.span}]" if step.span and step.span.line else ""
    detail = f": {step.detail}" if step.detail else ""
    return f"{step.result:<7} {step.node}{detail}{where}"


def _tree_prefixes(trace: Sequence[TraceStep]) -> list[tuple[str, TraceStep]]:
    """Tree branches drawn from each step's depth, so the trace reads as a tree piped too."""
    rows: list[tuple[str, TraceStep]] = []
    for index, step in enumerate(trace):
        prefix = ""
        for level in range(step.depth + 1):
            last = _is_last_at(trace, index, level)
            if level == step.depth:
                prefix += "└── " if last else "├── "
            else:
                prefix += "    " if last else "│   "
        rows.append((prefix, step))
    return rows


def _is_last_at(trace: Sequence[TraceStep], index: int, level: int) -> bool:
    """No later sibling at `level` before the branch holding step `index` closes."""
    for later in trace[index + 1 :]:
        if later.depth < level:
            return True
        if later.depth == level:
            return False
    return True


def _print_table(verdicts: list[tuple[str, Verdict]]) -> None:
    width = max((len(label) for label, _ in verdicts), default=7)
    emit(f"{'message':<{width}}  {'outcome':<15}  {'profile':<12}  exit  reason")
    for label, verdict in verdicts:
        reason = (
            verdict.criteria[0].name
            if verdict.criteria
            else ", ".join(v for r in verdict.scanners for v in r.viruses)
        )
        columns = f"{verdict.outcome:<15}  {verdict.profile:<12}  {verdict.exit_code:<4}"
        emit(f"{label:<{width}}  {columns}  {reason}")
    counts: dict[str, int] = {}
    for _, verdict in verdicts:
        counts[verdict.outcome] = counts.get(verdict.outcome, 0) + 1
    tally = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    emit(f"{len(verdicts)} message(s)" + (f": {tally}" if tally else ""))
