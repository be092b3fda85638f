"""Run test cases through the code `qmvc deliver` runs: the compiled decision tree and
`evaluate`, with each case's scanner answers in place of the engines it declares.

Each case gets a fresh SQLite state store in a temporary directory, so bomber rules count
only that case's `copies` (every copy is recorded, as deliver records it; the last one's
verdict is checked) and nothing of a real deployment's state is read or changed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qmvc.engine.evaluate import OUTCOME_WORDS, describe_action
from qmvc.engine.verdict import TraceStep, Verdict
from qmvc.record import Record
from qmvc.scanners.base import AttachmentParts, ScanPart, ScanResult, no_attachments
from qmvc.span import Span
from qmvc.testing.cases import REAL, Case, ScannerAnswer

if TYPE_CHECKING:
    from qmvc.engine.evaluate import ScannerProvider
    from qmvc.engine.tree import DecisionTree


@dataclass(frozen=True)
class CaseResult:
    case: Case
    verdict: Verdict
    failures: list[str]

    @property
    def deciding(self) -> list[TraceStep]:
        return deciding_steps(self.verdict, self.case)


class Rule(Record):
    """A part of the policy a case can exercise: `kind` is profile, badmail, scan, on or
    bomber; `name` is the rule's (for `on`, the outcome)."""

    kind: str
    profile: str
    name: str
    span: Span

    def __str__(self) -> str:
        shown = f"profile {self.name}" if self.kind == "profile" else f"{self.kind} {self.name}"
        return shown if self.kind == "profile" else f"{shown} (profile {self.profile})"


class _DeclaredScanner:
    """A scanner whose answer the case declares, so tests run where no clamd is."""

    wants_parts = True

    def __init__(self, name: str, answer: ScannerAnswer) -> None:
        self.name, self.answer = name, answer

    def scan(
        self,
        message: bytes,
        parts: Sequence[ScanPart],
        attachments: AttachmentParts = no_attachments,
    ) -> ScanResult:
        if self.answer.status == "fails":
            return ScanResult("failed", detail="declared by the test case")
        return ScanResult("infected" if self.answer.viruses else "clean", self.answer.viruses)


def run_case(decision_tree: DecisionTree, case: Case) -> CaseResult:
    from qmvc.engine.evaluate import evaluate
    from qmvc.message.envelope import assume_envelope
    from qmvc.message.facts import MessageFacts
    from qmvc.state.factory import LazyStore

    envelope = assume_envelope(case.message, case.sender, case.recipient).envelope
    scanners = _scanners(decision_tree, case)
    with tempfile.TemporaryDirectory(prefix="qmvc-test-") as state_dir:
        state = LazyStore("sqlite", "", Path(state_dir))
        try:
            for _ in range(case.copies):
                facts = MessageFacts(case.message, envelope)
                verdict = evaluate(decision_tree, facts, scanners, state, record=True)
        finally:
            store = state.opened
            if store is not None:
                store.close()
    return CaseResult(case, verdict, _failures(case, verdict))


def _scanners(decision_tree: DecisionTree, case: Case) -> ScannerProvider:
    from qmvc.engine.scanning import scanner_provider

    real = scanner_provider(decision_tree)
    declared = {
        name: _DeclaredScanner(name, answer)
        for name, answer in case.scanners.items()
        if answer.status != REAL
    }
    return lambda name: declared.get(name) or real(name)


def _failures(case: Case, verdict: Verdict) -> list[str]:
    """Each expectation the verdict does not meet, in words."""
    expect, failures = case.expect, []
    for key in ("outcome", "profile", "exit_code"):
        if key in expect and expect[key] != getattr(verdict, key):
            failures.append(f"{key}: expected {expect[key]!r}, got {getattr(verdict, key)!r}")
    matched = [criterion.name for criterion in verdict.criteria]
    for name in expect.get("matches", []):
        if name not in matched:
            failures.append(f"badmail {name}: expected to match, {_matched_words(matched)}")
    for name in expect.get("does_not_match", []):
        if name in matched:
            failures.append(f"badmail {name}: expected not to match, but it did")
    if "actions" in expect:
        actions = [describe_action(action) for action in verdict.actions]
        if list(expect["actions"]) != actions:
            failures.append(f"actions: expected {expect['actions']!r}, got {actions!r}")
    return failures


def _matched_words(matched: list[str]) -> str:
    return f"but {', '.join(matched)} matched" if matched else "but no badmail rule matched"


def deciding_steps(verdict: Verdict, case: Case) -> list[TraceStep]:
    """The part of the trace that explains the verdict: the profile, the rules the case
    names, the rule or scan that decided the outcome (every badmail rule when none
    matched and nothing was scanned), bomber steps and the actions."""
    trace = list(verdict.trace)
    named = {
        f"badmail {n}" for key in ("matches", "does_not_match") for n in case.expect.get(key, [])
    }
    named |= {f"badmail {c.name}" for c in verdict.criteria}
    scanned = any(step.node.startswith("scan ") for step in trace)
    if verdict.outcome == "clean" and not scanned:
        named |= {step.node for step in trace if step.node.startswith("badmail ")}
    chosen: list[TraceStep] = []
    keep_children = False
    for step in trace:
        if step.depth == 0:
            keep_children = step.node in named
            if keep_children or not step.node.startswith("badmail "):
                chosen.append(step)
        elif keep_children:
            chosen.append(step)
    return chosen


def policy_rules(decision_tree: DecisionTree) -> list[Rule]:
    """Every rule with a place in the policy, in the order of the policy's files and lines."""
    rules: list[Rule] = []
    for profile in decision_tree.profiles.values():
        rules.append(Rule("profile", profile.name, profile.name, profile.span))
        rules += [Rule("badmail", profile.name, c.name, c.span) for c in profile.criteria]
        if profile.scan is not None:
            rules.append(
                Rule("scan", profile.name, ", ".join(profile.scan.engines), profile.scan.span)
            )
        for outcome, actions in profile.actions:
            span = next((a.span for a in actions if a.span is not None), None)
            if span is not None:  # an outcome the policy left to qmvc's default has no line
                rules.append(Rule("on", profile.name, OUTCOME_WORDS.get(outcome, outcome), span))
        rules += [Rule("bomber", profile.name, b.name, b.span) for b in profile.bombers]
        rules += [
            Rule("bypass", profile.name, b.description.removeprefix("bypass "), b.span)
            for b in profile.bypasses
        ]
    return sorted(rules, key=lambda rule: rule.span)


def exercised(rule: Rule, verdict: Verdict) -> bool:
    """A profile is exercised by a case it decides, a badmail rule by a case it matches, a
    scan by a case whose engines ran, an `on` block and a bomber rule by a case whose
    actions they chose, a bypass by a case it applied to."""
    if verdict.profile != rule.profile:
        return False
    bombing = verdict.bombing
    match rule.kind:
        case "badmail":
            return any(c.name == rule.name for c in verdict.criteria)
        case "scan":
            return any(s.status != "skipped" for s in verdict.scanners)
        case "on":
            outcome = OUTCOME_WORDS.get(verdict.outcome, verdict.outcome)
            return bombing is None and outcome == rule.name
        case "bomber":
            return bombing is not None and bombing.rule == rule.name
        case "bypass":
            return any(s.span == rule.span and s.result == "true" for s in verdict.trace)
    return True


def uncovered(decision_tree: DecisionTree, results: Sequence[CaseResult]) -> list[Rule]:
    return [
        rule
        for rule in policy_rules(decision_tree)
        if not any(exercised(rule, result.verdict) for result in results)
    ]
