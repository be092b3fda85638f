"""`qmvc explain MESSAGE`: the path a message takes through the policy, and why.

Text output starts with the envelope explain assumed and where each address came from,
then a tree of every rule tested (with what it saw), every step skipped (and why), every
scanner and every action it would take, each with the policy line it came from. JSON
output is the verdict with the keys documented in the README, and `envelope` beside them.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qmvc.console import emit

if TYPE_CHECKING:
    from qmvc.engine.tree import DecisionTree
    from qmvc.engine.verdict import ScannerReport, TraceStep, Verdict
    from qmvc.message.envelope import AssumedEnvelope, Envelope, EnvelopeAddress

RESULT_STYLES = {
    "true": "bold red",
    "false": "green",
    "skipped": "dim",
    "ran": "cyan",
    "error": "bold yellow",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "message",
        help="a message file, - for stdin, or with --each an mbox, a Maildir or a directory",
    )
    parser.add_argument(
        "--sender",
        help="envelope sender (<> for the null sender); "
        "default: the message's Return-Path, else Sender, else From",
    )
    parser.add_argument(
        "--recipient",
        help="envelope recipient, which chooses the domain's profile; "
        "default: the message's Delivered-To, else To, else Cc",
    )
    parser.add_argument("--no-scan", action="store_true", help="do not call virus scanners")
    parser.add_argument(
        "--each",
        action="store_true",
        help="explain every message of an mbox file, a Maildir or a directory of .eml files, "
        "as a table",
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
        explained = [
            (label, *_explain(decision_tree, raw, args))
            for label, raw in _messages(args.message, args.each)
        ]
    except OSError as exc:
        print(f"qmvc explain: cannot read {args.message}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if not explained:
        print(f"qmvc explain: no messages found in {args.message}", file=sys.stderr)
        return 2
    if args.format == "json":
        found = [
            {"message": label, "verdict": _as_json(assumed, verdict)}
            for label, assumed, verdict in explained
        ]
        print(json.dumps(found if args.each else found[0]["verdict"], indent=2, ensure_ascii=False))
        return 0
    _print_envelope(explained[0][1], args.each)
    if args.each:
        _print_table([(label, verdict) for label, _, verdict in explained])
    else:
        _print_verdict(explained[0][2])
    return 0


def _messages(source: str, each: bool) -> Iterator[tuple[str, bytes]]:
    """Each message with its label: the one file (or stdin); with --each every message of an
    mbox (numbered), of a Maildir (cur/ and new/, by key) or each .eml file of a directory
    (by name), each read when its turn comes."""
    if source == "-" and not each:
        yield "-", sys.stdin.buffer.read()
        return
    path = Path(source)
    if not each:
        yield source, path.read_bytes()
        return
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), source)
    if path.is_dir() and not ((path / "cur").is_dir() and (path / "new").is_dir()):
        for file in sorted(p for p in path.iterdir() if p.suffix == ".eml" and p.is_file()):
            yield file.name, file.read_bytes()
        return
    import mailbox

    box: mailbox.Mailbox[mailbox.Message] = (
        mailbox.Maildir(path, factory=None, create=False)
        if path.is_dir()
        else mailbox.mbox(path, create=False)
    )
    for key in sorted(box.keys()):
        yield str(key), box.get_bytes(key)


def _explain(
    decision_tree: DecisionTree, raw: bytes, args: argparse.Namespace
) -> tuple[AssumedEnvelope, Verdict]:
    from qmvc.engine.evaluate import evaluate
    from qmvc.engine.scanning import scanner_provider
    from qmvc.message.envelope import assume_envelope
    from qmvc.message.facts import MessageFacts
    from qmvc.paths import qmvc_dir
    from qmvc.state.factory import LazyStore

    assumed = assume_envelope(raw, args.sender, args.recipient)
    facts = MessageFacts(raw, assumed.envelope)
    scanners = None if args.no_scan else scanner_provider(decision_tree)
    state = LazyStore(*decision_tree.state, qmvc_dir())  # read only: record=False
    try:
        return assumed, evaluate(decision_tree, facts, scanners, state, record=False)
    finally:
        state.close()


def envelope_for(raw: bytes, sender: str | None, recipient: str | None) -> Envelope:
    """The envelope from --sender/--recipient, else assumed from the message's headers by
    explain's rules (`assume_envelope`), so notice --preview sees what explain shows."""
    from qmvc.message.envelope import assume_envelope

    return assume_envelope(raw, sender, recipient).envelope


def _as_json(assumed: AssumedEnvelope, verdict: Verdict) -> dict[str, Any]:
    """The verdict's documented keys, then `envelope`: each address and where it came from."""
    return {**verdict.to_json(), "envelope": assumed.as_dict()}


def _print_envelope(assumed: AssumedEnvelope, each: bool) -> None:
    emit("envelope: " + _envelope_line("sender", assumed.sender, each))
    emit(" " * len("envelope: ") + _envelope_line("recipient", assumed.recipient, each))


def _envelope_line(role: str, address: EnvelopeAddress, each: bool) -> str:
    """`sender anna@example.org (from the From header; --sender overrides)`: the address an
    envelope rule sees and where explain took it from, so that no verdict rests on an
    assumption nobody saw. With --each, the rule that every message followed."""
    from qmvc.message.envelope import RECIPIENT_HEADERS, SENDER_HEADERS

    option = f"--{role}"
    headers = _either(SENDER_HEADERS if role == "sender" else RECIPIENT_HEADERS)
    missing = "<>" if role == "sender" else "none"
    if address.source == "option":
        reason = f"given by {option}"
    elif each:
        return f"{role} from each message's {headers} header, else {missing} ({option} overrides)"
    elif address.source == "none":
        reason = f"no {headers} header holds an address; {option} overrides"
    else:
        reason = f"from the {address.source} header; {option} overrides"
    if address.address:
        return f"{role} {address.address} ({reason})"
    if role == "sender":
        return f"sender <> (the null sender{': ' if address.source == 'none' else ', '}{reason})"
    return f"recipient none ({reason})"


def _either(names: Sequence[str]) -> str:
    return f"{', '.join(names[:-1])} or {names[-1]}"


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
        emit(prefix + trace_line(step), RESULT_STYLES.get(step.result, ""))
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


def trace_line(step: TraceStep) -> str:
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
