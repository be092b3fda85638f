"""The verdict: what the evaluator decided about one message and why.

It is the one record that `explain` prints, `deliver` acts on and the logs write;
its JSON form uses exactly the keys documented in the README.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from qmvc.record import Record
from qmvc.span import Span

Outcome = Literal["clean", "badmail", "virus", "scanner-failure", "too-large"]
ScannerStatus = Literal["ran", "skipped", "failed", "cached", "unavailable", "too-large"]
StepResult = Literal["true", "false", "skipped", "ran", "error"]

EXIT_DELIVER = 0
EXIT_HANDLED = 99
EXIT_BOUNCE = 100
EXIT_DEFER = 111


class CriterionMatch(Record):
    """A badmail criterion that matched, with the text it matched (already decoded)."""

    name: str
    evidence: str
    span: Span


class ScannerReport(Record):
    """One engine's part in the verdict; `reason` says why it was skipped or failed.
    `locations` pairs a virus with the attachment it was found in, containers first
    (`forwarded.eml › invoice.zip`); a virus whose attachment is not known has no pair."""

    name: str
    status: ScannerStatus
    viruses: tuple[str, ...] = ()
    seconds: float = 0.0
    reason: str = ""
    locations: tuple[tuple[str, str], ...] = ()


class Action(Record):
    """One thing `deliver` must do: kind is keep, forward, deliver, notify, defer or bounce."""

    kind: str
    targets: tuple[str, ...] = ()
    span: Span | None = None


class TraceStep(Record):
    """One node the evaluator visited (or skipped), for `explain`."""

    node: str
    span: Span | None
    result: StepResult
    detail: str = ""
    depth: int = 0


class Verdict(Record):
    outcome: Outcome
    profile: str
    exit_code: int
    criteria: Sequence[CriterionMatch] = ()
    scanners: Sequence[ScannerReport] = ()
    actions: Sequence[Action] = ()
    trace: Sequence[TraceStep] = ()
    bombing: Any = None
    """A `qmvc.engine.bombers.Bombing` when the message is part of a virus bombing."""

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form: spans become {file, line, column, end_line, end_column}."""
        return self.as_dict()
