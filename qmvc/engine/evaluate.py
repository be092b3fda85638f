"""Walk the decision tree against one message: a pure function of tree, facts and scanners.

Badmail rules are tested cheap-first and the first match decides; the rest are skipped
(the outcome is known). Scanners come last, through `ScannerProvider`, and the scan
step's bypass rules decide which engines run. Every node visited or skipped leaves a
TraceStep, which is what `explain` prints; the trace ends with the actions the outcome
chooses, worded as what would be done, because explain performs none of them.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from qmvc.engine import tree
from qmvc.engine.verdict import (
    EXIT_BOUNCE,
    EXIT_DEFER,
    EXIT_DELIVER,
    EXIT_HANDLED,
    Action,
    CriterionMatch,
    Outcome,
    ScannerReport,
    TraceStep,
    Verdict,
)

if TYPE_CHECKING:
    from qmvc.engine.verdict_cache import StoreOpener
    from qmvc.message.facts import MessageFacts
    from qmvc.scanners.base import Scanner, ScanResult


class ScannerProvider(Protocol):
    def __call__(self, name: str) -> Scanner | None:
        """A working engine for this name, or None when it is not available here."""
        ...


_CacheConfig = tuple["StoreOpener", float, bool]
"""(store opener, TTL, keep new verdicts): the verdict cache's settings for one walk."""

EVIDENCE_LIMIT = 120
OUTCOME_WORDS = {"scanner-failure": "failure"}
"""An outcome as the policy writes it in `on …` (policy/compile.py's OUTCOME_NAMES backwards),
so the trace's `on failure` is the line the admin wrote."""


@functools.lru_cache(maxsize=1024)
def _regex(source: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(source, re.IGNORECASE if ignore_case else 0)


_PENDING = TraceStep("", None, "skipped")
"""Holds a step's place in the trace until its result is known."""


class _Walk:
    """One message's walk: the trace so far and each test's result, by node identity."""

    def __init__(self, facts: MessageFacts, hostname: str = "") -> None:
        self.facts = facts
        self.hostname = hostname
        self.trace: list[TraceStep] = []
        self.memo: dict[int, tuple[bool, str]] = {}

    def our_host(self) -> str:
        """The name our qmail-smtpd writes after `by` (read from qmail's files if needed)."""
        from qmvc.message.received import our_hostname

        return our_hostname(self.hostname)

    def client_ip(self) -> str:
        address = self.facts.client_ip(self.our_host())
        return "" if address is None else str(address)

    def test(self, node: tree.Test, depth: int) -> tuple[bool, str]:
        """(result, evidence) of a test, each distinct test computed once per message."""
        remembered = self.memo.get(id(node))
        if remembered is not None:
            self.step(node, remembered[0], f"(already tested) {remembered[1]}".strip(), depth)
            return remembered
        index = len(self.trace)
        self.trace.append(_PENDING)  # keeps the parent's place before its operands' steps
        result, evidence = self._compute(node, depth)
        self.memo[id(node)] = (result, evidence)
        self.trace[index] = TraceStep(
            node.description, node.span, "true" if result else "false", evidence, depth
        )
        return result, evidence

    def step(self, node: tree.Test, result: bool, detail: str, depth: int) -> None:
        self.trace.append(
            TraceStep(node.description, node.span, "true" if result else "false", detail, depth)
        )

    def _compute(self, node: tree.Test, depth: int) -> tuple[bool, str]:
        match node:
            case tree.TextMatch():
                return self._text(node)
            case tree.IsEmpty():
                values = self.field_values(node.field, node.header)
                empty = all(not v.strip() for v in values)
                return (
                    empty,
                    f"{_label(node)}: {_shown_values(values) if not empty else '<> (empty)'}",
                )
            case tree.SizeCompare():
                return self._size(node)
            case tree.NetworkMatch():
                return self._network(node)
            case tree.HeaderPresent():
                values = self.facts.header(node.header)
                shown = f"{len(values)} time(s): {_shown_values(values)}" if values else "absent"
                return bool(values), f"header {node.header} {shown}"
            case tree.HasAttachment():
                names = [a.filename or a.declared_type for a in self.facts.attachments]
                return bool(names), f"{len(names)} attachment(s)" + (
                    f": {_shown(', '.join(names))}" if names else ""
                )
            case tree.HasDefects():
                defects = self.facts.defects
                return bool(defects), _shown("; ".join(defects)) if defects else "no defects"
            case tree.ExceedsLimits():
                unanalysed = self.facts.unanalysed
                return bool(unanalysed), _shown("; ".join(unanalysed)) if unanalysed else (
                    "analysed completely"
                )
            case tree.Negation():
                result, evidence = self.test(node.operand, depth + 1)
                return not result, evidence
            case tree.AllOf():
                return self._combine(node.operands, depth, stop_on=False)
            case tree.AnyOf():
                return self._combine(node.operands, depth, stop_on=True)

    def _combine(
        self, operands: tuple[tree.Test, ...], depth: int, stop_on: bool
    ) -> tuple[bool, str]:
        evidence: list[str] = []
        for position, operand in enumerate(operands):
            result, detail = self.test(operand, depth + 1)
            if result == stop_on:
                for skipped in operands[position + 1 :]:
                    self.trace.append(
                        TraceStep(
                            skipped.description,
                            skipped.span,
                            "skipped",
                            "not needed: the result is known",
                            depth + 1,
                        )
                    )
                return stop_on, detail
            evidence.append(detail)
        return not stop_on, "; ".join(e for e in evidence if e)

    def field_values(self, name: str, header: str) -> list[str]:
        if name == "client.ip":
            return [self.client_ip()]
        return _field_values(self.facts, name, header)

    def _network(self, node: tree.NetworkMatch) -> tuple[bool, str]:
        from qmvc.engine.selection import network_of
        from qmvc.message.received import in_networks

        address = self.facts.client_ip(self.our_host())
        if address is None:
            return False, f"{node.field}: none (no Received line of our qmail-smtpd on top)"
        found = in_networks(address, map(network_of, node.networks))
        if found is None:
            return False, f"{node.field} {address} in none of them"
        return True, f"{node.field} {address} in {found}"

    def _text(self, node: tree.TextMatch) -> tuple[bool, str]:
        groups = _field_groups(self.facts, node.field, node.header, self)

        def first_match(group: list[tuple[str, str]]) -> tuple[str, str, re.Match[str]] | None:
            for value, origin in group:
                if node.literals and not _holds_literal(node, value):
                    continue  # substrings: `in` decides, the regex compiles and runs on a hit
                match = _regex(node.regex, node.ignore_case).search(value)
                if match:
                    return value, origin, match
            return None

        if node.quantifier == "every":
            found = [first_match(group) for group in groups]
            hit = next((f for f in found if f), None) if groups and all(found) else None
        else:
            hit = next((f for f in map(first_match, groups) if f), None)
        if hit is None:
            return False, f"{_label(node)}: {_shown_origins(groups)}"
        value, origin, match = hit
        item = next(
            (i.label for i in node.items if _regex(i.regex, node.ignore_case).search(value)), ""
        )
        where = (
            f" at {match.start()}-{match.end()}"
            if node.field in ("subject", "body", "header")
            else ""
        )
        came_from = f" ({origin})" if origin else ""
        return True, f"{_label(node)} {_shown(value)}{came_from} matched {item}{where}"

    def _size(self, node: tree.SizeCompare) -> tuple[bool, str]:
        if node.field == "message.size":
            sizes = [self.facts.size]
        else:
            sizes = [a.size for a in self.facts.attachments]
        compare = _COMPARATORS[node.comparator]
        results = [compare(s, node.size_bytes) for s in sizes]
        hit = bool(sizes) and (all(results) if node.quantifier == "every" else any(results))
        return hit, f"{node.field}: {', '.join(str(s) for s in sizes[:5]) or 'none'} bytes"


def _holds_literal(node: tree.TextMatch, value: str) -> bool:
    text = value.lower() if node.ignore_case else value
    return any(literal in text for literal in node.literals)


_COMPARATORS: dict[str, Callable[[int, int], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _field_values(facts: MessageFacts, name: str, header: str) -> list[str]:
    match name:
        case "sender":
            return [facts.envelope.sender]
        case "recipient":
            return [facts.envelope.recipient]
        case "sender.domain":
            sender = facts.envelope.sender
            return [sender.rpartition("@")[2].lower() if "@" in sender else ""]
        case "recipient.local":
            return [facts.envelope.recipient.rpartition("@")[0]]
        case "subject":
            return [facts.subject]
        case "header":
            return facts.header(header)
        case "body":
            return [facts.body_text]
    return []  # attachment fields: _field_groups; `attachment.* is empty` fails the check


def _field_groups(
    facts: MessageFacts, name: str, header: str, walk: _Walk
) -> list[list[tuple[str, str]]]:
    """What a text test sees, one group per attachment (an attachment matches when any value of
    its group does: every candidate name, every archive member), each value with its origin."""
    match name:
        case "attachment.name":
            return [attachment.name_values for attachment in facts.attachments]
        case "attachment.type":
            return [attachment.type_values for attachment in facts.attachments]
        case "attachment.declared_type":
            return [[(a.declared_type, f"part {a.path}")] for a in facts.attachments]
    return [[(value, "")] for value in walk.field_values(name, header)]


def _shown_origins(groups: list[list[tuple[str, str]]]) -> str:
    values = [(value, origin) for group in groups for value, origin in group]
    if not values:
        return "none"
    shown = ", ".join(
        _shown(value) + (f" ({origin})" if origin else "") for value, origin in values[:8]
    )
    return shown + (f" and {len(values) - 8} more" if len(values) > 8 else "")


def _label(node: tree.TextMatch | tree.IsEmpty) -> str:
    """The field as evidence names it; a header by its name, which its value does not show."""
    return f"header {node.header}" if node.field == "header" else node.field


def _shown(text: str) -> str:
    """Message text as evidence: one line, bounded, control characters made visible."""
    flat = text[:EVIDENCE_LIMIT].translate(_CONTROL_ESCAPES)
    if not flat.isprintable():
        flat = "".join(map(_visible, flat))
    return f'"{flat}{"..." if len(text) > EVIDENCE_LIMIT else ""}"'


_CONTROL_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(32), 127)}


def _visible(ch: str) -> str:
    if ch.isprintable():
        return ch
    return f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}"


def _shown_values(values: list[str]) -> str:
    if not values:
        return "none"
    shown = ", ".join(_shown(v) for v in values[:5])
    return shown + (f" and {len(values) - 5} more" if len(values) > 5 else "")


# ---- the walk ----


def evaluate(
    decision_tree: tree.DecisionTree,
    facts: MessageFacts,
    scanners: ScannerProvider | None,
    state: StoreOpener | None = None,
    record: bool = False,
) -> Verdict:
    """The verdict for one message. `scanners=None` means scanning is off (explain --no-scan).

    `state` opens the state store (counters, verdict cache) when first needed; `record`
    is deliver's: count this message and keep new verdicts. explain only reads."""
    walk = _Walk(facts, decision_tree.settings.get("hostname", ""))
    if decision_tree.selection is None:
        profile = decision_tree.profile_for(facts.envelope.domain)
        walk.trace.append(
            TraceStep(
                f"profile {profile.name}",
                profile.span,
                "true",
                f"recipient domain {_shown(facts.envelope.domain)}",
                0,
            )
        )
    else:
        profile = _select(walk, decision_tree, decision_tree.selection)
    bypassed = _bypasses(walk, profile) if profile.bypasses else {}
    matched = _badmail(walk, profile, bypassed.get("badmail"))
    cache = _verdict_cache(decision_tree, state, record)
    reports = _scan(
        walk, decision_tree, profile, facts, scanners, matched, cache, bypassed.get("scan")
    )
    outcome = _outcome(matched, reports)
    actions = list(profile.actions_for(outcome))
    on_outcome = f"on {OUTCOME_WORDS.get(outcome, outcome)}"
    bombing = None
    if profile.bombers:
        from qmvc.engine.bombers import check_bombers

        store = state() if state is not None and outcome in ("virus", "badmail") else None
        viruses = [virus for report in reports for virus in report.viruses]
        our_host = walk.our_host() if store is not None else ""  # qmail's me: read when counted
        bombing, steps = check_bombers(
            profile, outcome, facts, store, record, viruses, our_host=our_host
        )
        walk.trace.extend(steps)
        if bombing is not None:
            actions = list(bombing.actions)
            on_outcome = f"bomber {bombing.rule} ({bombing.source})"
    for action in actions:
        walk.trace.append(
            TraceStep(f"{on_outcome}: would {describe_action(action)}", action.span, "true", "", 0)
        )
    return Verdict(
        outcome,
        profile.name,
        exit_code(actions),
        matched,
        reports,
        actions,
        walk.trace,
        bombing,
    )


def _verdict_cache(
    decision_tree: tree.DecisionTree, state: StoreOpener | None, record: bool
) -> _CacheConfig | None:
    if state is None or decision_tree.verdict_cache_seconds <= 0:
        return None
    return (state, decision_tree.verdict_cache_seconds, record)


def _select(
    walk: _Walk, decision_tree: tree.DecisionTree, selection: tree.Selection
) -> tree.ProfileTree:
    """The profile of the most specific selector the message meets (engine/selection.py);
    the trace names it, then each other selector met, less specific, at depth 1."""
    from qmvc.engine.selection import default_node, matching_selectors

    hits = matching_selectors(selection, walk.facts, walk.our_host)
    if hits:
        chosen, evidence = hits[0]
        reason = f"chosen by '{chosen.description}': {_shown(evidence)[1:-1]}"
    else:
        chosen, reason = default_node(decision_tree), "the default: no selector met"
    walk.trace.append(TraceStep(f"profile {chosen.profile}", chosen.span, "true", reason, 0))
    for other, other_evidence in hits[1:]:
        walk.trace.append(
            TraceStep(
                f"profile {other.profile} ({other.description})",
                other.span,
                "skipped",
                f"also met, less specific: {_shown(other_evidence)[1:-1]}",
                1,
            )
        )
    return decision_tree.profiles[chosen.profile]


def _bypasses(walk: _Walk, profile: tree.ProfileTree) -> dict[str, tree.BypassNode]:
    """What the profile's bypasses skip for this message ("scan", "badmail"), each with the
    first bypass that skips it. A bypass whose targets are all skipped already is not tested."""
    bypassed: dict[str, tree.BypassNode] = {}
    for node in profile.bypasses:
        if all(target in bypassed for target in node.targets):
            walk.trace.append(
                TraceStep(node.description, node.span, "skipped", "already bypassed", 0)
            )
            continue
        index = len(walk.trace)
        walk.trace.append(_PENDING)
        result, _ = walk.test(node.test, 1)
        skips = " and ".join(BYPASS_WORDS[target] for target in node.targets)
        walk.trace[index] = TraceStep(
            node.description, node.span, *(("true", f"skips {skips}") if result else ("false", ""))
        )
        if result:
            for target in node.targets:
                bypassed.setdefault(target, node)
    return bypassed


BYPASS_WORDS = {"badmail": "the badmail rules", "scan": "the scan"}


def bypassed_targets(verdict: Verdict) -> tuple[str, ...]:
    """What bypasses skipped for this message ("scan", "badmail"), read back from the trace
    steps `_bypasses` wrote: for the log line."""
    applied = {
        target
        for step in verdict.trace
        if step.depth == 0 and step.result == "true" and step.node.startswith("bypass ")
        for target in step.node.removeprefix("bypass ").split(", ")
    }
    return tuple(target for target in BYPASS_WORDS if target in applied)


def _bypass_reason(bypass: tree.BypassNode) -> str:
    return f"bypassed by '{bypass.description}' (line {bypass.span.line})"


def _badmail(
    walk: _Walk, profile: tree.ProfileTree, bypass: tree.BypassNode | None = None
) -> list[CriterionMatch]:
    matched: list[CriterionMatch] = []
    for criterion in profile.criteria:
        if bypass is not None:
            walk.trace.append(
                TraceStep(
                    f"badmail {criterion.name}",
                    criterion.span,
                    "skipped",
                    _bypass_reason(bypass),
                    0,
                )
            )
            continue
        if matched:
            walk.trace.append(
                TraceStep(
                    f"badmail {criterion.name}",
                    criterion.span,
                    "skipped",
                    f"outcome known: '{matched[0].name}' matched",
                    0,
                )
            )
            continue
        index = len(walk.trace)
        walk.trace.append(_PENDING)
        result, evidence = walk.test(criterion.test, 1)
        walk.trace[index] = TraceStep(
            f"badmail {criterion.name}", criterion.span, "true" if result else "false", "", 0
        )
        if result:
            matched.append(CriterionMatch(criterion.name, evidence, criterion.span))
    return matched


def _scan(
    walk: _Walk,
    decision_tree: tree.DecisionTree,
    profile: tree.ProfileTree,
    facts: MessageFacts,
    scanners: ScannerProvider | None,
    matched: list[CriterionMatch],
    cache: _CacheConfig | None = None,
    bypass: tree.BypassNode | None = None,
) -> list[ScannerReport]:
    step = profile.scan
    if step is None:
        return []
    if bypass is not None:
        return [_skip(walk, step, name, _bypass_reason(bypass)) for name in step.engines]
    if step.unless_badmail and matched:
        reason = f"unless badmail: '{matched[0].name}' matched"
        return [_skip(walk, step, name, reason) for name in step.engines]
    if scanners is None:
        return [_skip(walk, step, name, "scanning is off (--no-scan)") for name in step.engines]
    engines = [(name, scanners(name)) for name in step.engines]
    if step.mode == "parallel":
        return _scan_parallel(walk, step, facts, engines, cache)
    reports: list[ScannerReport] = []
    for name, engine in engines:
        found = next((r for r in reports if r.viruses), None)
        if found and step.mode == "first":
            reports.append(_skip(walk, step, name, f"'{found.name}' already found a virus"))
            continue
        reports.append(_record(walk, step, name, _run(name, engine, facts, cache)))
    return reports


def _run(
    name: str, engine: Scanner | None, facts: MessageFacts, config: _CacheConfig | None
) -> ScanResult | None:
    """The engine's verdict, or the verdict cache's for an engine that has one (clamd's
    signature version); the cache's module is loaded only then."""
    if engine is None:
        return None
    attachments = (
        list(facts.attachment_scan_parts())
        if config is not None and callable(getattr(engine, "signature_version", None))
        else []
    )
    if config is None or not attachments:
        return _scan_with(engine, facts)
    from qmvc.engine.verdict_cache import VerdictCache

    cache = VerdictCache(*config)
    cached = cache.lookup(name, engine, attachments)
    if cached is not None:
        return cached
    result = _scan_with(engine, facts)
    cache.remember(name, engine, attachments, result)
    return result


def _scan_with(engine: Scanner, facts: MessageFacts) -> ScanResult:
    parts = facts.scan_parts() if engine.wants_parts else facts.hidden_scan_parts()
    return engine.scan(facts.scan_message, parts, facts.attachment_scan_parts)


def _scan_parallel(
    walk: _Walk,
    step: tree.ScanNode,
    facts: MessageFacts,
    engines: list[tuple[str, Scanner | None]],
    cache: _CacheConfig | None,
) -> list[ScannerReport]:
    """All engines at once; the first virus stops waiting for the others."""
    import threading
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
    from functools import partial

    from qmvc.scanners.abandon import run_abandonable

    results: dict[str, ScanResult | None] = {}
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=max(1, len(engines)))
    pending = {
        pool.submit(run_abandonable, stop, partial(_run, name, engine, facts, cache)): name
        for name, engine in engines
    }
    while pending:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            results[pending.pop(future)] = future.result()
        if any(r is not None and r.status == "infected" for r in results.values()):
            break
    stop.set()
    pool.shutdown(wait=False, cancel_futures=True)
    stop_abandoned_engines()
    reports: list[ScannerReport] = []
    for name, _ in engines:
        if name in results:
            reports.append(_record(walk, step, name, results[name]))
        else:
            reports.append(_skip(walk, step, name, "another engine already found a virus"))
    return reports


def stop_abandoned_engines() -> None:
    """Command engines still running are killed (their threads then end at once); a clamd
    scan still in flight ends by its own timeout. Nothing to do when no command engine was
    ever loaded."""
    command = sys.modules.get("qmvc.scanners.command")
    if command is not None:
        command.stop_running_engines()


def _skip(walk: _Walk, step: tree.ScanNode, name: str, reason: str) -> ScannerReport:
    walk.trace.append(TraceStep(f"scan {name}", step.span, "skipped", reason, 0))
    return ScannerReport(name, "skipped", reason=reason)


def _record(
    walk: _Walk, step: tree.ScanNode, name: str, result: ScanResult | None
) -> ScannerReport:
    if result is None:
        reason = "scanner not available here"
        walk.trace.append(TraceStep(f"scan {name}", step.span, "error", reason, 0))
        return ScannerReport(name, "unavailable", reason=reason)
    status = {"clean": "ran", "infected": "ran", "failed": "failed", "too-large": "too-large"}[
        result.status
    ]
    if result.cached:
        status = "cached"
    detail = f"found {', '.join(result.viruses)}" if result.viruses else result.status
    detail += f" in {result.seconds:.3f}s" + (
        f" ({result.detail})" if result.detail and status != "ran" else ""
    )
    if result.cached:
        detail = f"found {', '.join(result.viruses)} ({result.detail}, not scanned again)"
    ran = status in ("ran", "cached")
    walk.trace.append(TraceStep(f"scan {name}", step.span, "ran" if ran else "error", detail, 0))
    return ScannerReport(
        name,
        status,  # type: ignore[arg-type]
        result.viruses,
        round(result.seconds, 3),
        result.detail if status not in ("ran",) else "",
        result.locations,
    )


def _outcome(matched: list[CriterionMatch], reports: Iterable[ScannerReport]) -> Outcome:
    """A virus beats badmail; an engine that could not answer is never read as clean."""
    reports = list(reports)
    if any(r.viruses for r in reports):
        return "virus"
    if matched:
        return "badmail"
    if any(r.status in ("failed", "unavailable") for r in reports):
        return "scanner-failure"
    if any(r.status == "too-large" for r in reports):
        return "too-large"
    return "clean"


def exit_code(actions: Iterable[Action]) -> int:
    """qmail's answer: bounce 100 and defer 111 only when the policy says so; deliver 0."""
    kinds = {a.kind for a in actions}
    if "defer" in kinds:
        return EXIT_DEFER
    if "bounce" in kinds:
        return EXIT_BOUNCE
    if "deliver" in kinds:
        return EXIT_DELIVER
    if kinds & {"keep", "forward", "drop"}:
        return EXIT_HANDLED
    return EXIT_DEFER  # the checker forbids this; deferring is the answer that loses nothing


def describe_action(action: Action) -> str:
    """An action in the policy's words: `keep "quarantine/virus"`, `notify av, recipient`."""
    targets = ", ".join(
        f'"{t}"' if action.kind in ("keep", "forward") else t for t in action.targets
    )
    return f"{action.kind} {targets}".strip()
