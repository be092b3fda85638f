"""The compiled decision tree: plain frozen data, picklable, no Lark objects.

Every node keeps the Span of the rule it came from (for `explain`) and its cost class,
by which the compiler orders work cheap-first. Regular expressions are kept as source
text and compiled on first use, so loading a cached tree costs almost nothing.
"""

from __future__ import annotations

from typing import Literal

from qmvc.engine.verdict import Action
from qmvc.record import Record
from qmvc.scanners.spec import ScannerSpec
from qmvc.span import Span


class Cost:
    """What a test needs from the message, cheapest first.

    Envelope: qmail's environment only. Header: the header block. Structure: the MIME
    tree (attachment names, declared types, sizes). Body: every text part decoded.
    Content: libmagic on attachment contents. Scanner: a virus engine. Plain ints, not an
    IntEnum: every node of a cached tree carries one, and ints unpickle for free.
    """

    ENVELOPE = 0
    HEADER = 1
    STRUCTURE = 2
    BODY = 3
    CONTENT = 4
    SCANNER = 5


class PatternItem(Record):
    """One alternative of a text test, kept to name what matched (a list entry, say)."""

    label: str
    regex: str


class TextMatch(Record):
    """`field` matched against one regex (all alternatives of a list joined in one).

    `literals`, when set, are the same test as plain substrings (lower-cased when the test
    ignores case): a `contains` test is answered by `in`, and the regex only runs to report
    where a hit is."""

    field: str
    header: str
    quantifier: Literal["any", "every"]
    regex: str
    ignore_case: bool
    items: tuple[PatternItem, ...]
    description: str
    span: Span
    cost: int
    literals: tuple[str, ...] = ()


class IsEmpty(Record):
    field: str
    header: str
    description: str
    span: Span
    cost: int


class SizeCompare(Record):
    field: str
    quantifier: Literal["any", "every"]
    comparator: Literal[">", ">=", "<", "<="]
    size_bytes: int
    description: str
    span: Span
    cost: int


class NetworkMatch(Record):
    """`client.ip in NETWORKS`: `networks` as ipaddress writes them, IPv4-mapped ones as IPv4."""

    field: str
    networks: tuple[str, ...]
    description: str
    span: Span
    cost: int = Cost.HEADER


class HeaderPresent(Record):
    header: str
    description: str
    span: Span
    cost: int = Cost.HEADER


class HasAttachment(Record):
    description: str
    span: Span
    cost: int = Cost.STRUCTURE


class HasDefects(Record):
    description: str
    span: Span
    cost: int = Cost.STRUCTURE


class ExceedsLimits(Record):
    """True when part of the message went unanalysed, so no rule could see all of it."""

    description: str
    span: Span
    cost: int = Cost.STRUCTURE


class AllOf(Record):
    operands: tuple[Test, ...]
    description: str
    span: Span
    cost: int


class AnyOf(Record):
    operands: tuple[Test, ...]
    description: str
    span: Span
    cost: int


class Negation(Record):
    operand: Test
    description: str
    span: Span
    cost: int


Test = (
    TextMatch
    | IsEmpty
    | SizeCompare
    | NetworkMatch
    | HeaderPresent
    | HasAttachment
    | HasDefects
    | ExceedsLimits
    | AllOf
    | AnyOf
    | Negation
)


class CriterionNode(Record):
    name: str
    test: Test
    span: Span
    cost: int


class ScanNode(Record):
    engines: tuple[str, ...]
    unless_badmail: bool
    mode: Literal["first", "all", "parallel"]
    span: Span


OUTCOMES = ("clean", "badmail", "virus", "scanner-failure", "too-large")


def duration_text(seconds: float) -> str:
    """`600.0` → `10m`: a duration as a policy writes it."""
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class RateSpec(Record):
    """A compiled rate test: `description` is the policy's own words for explain."""

    kind: str
    source: str
    threshold: int
    window_seconds: float
    description: str
    span: Span


class BomberNode(Record):
    """A bomber rule: any rate over its threshold makes the message part of a bombing."""

    name: str
    rates: tuple[RateSpec, ...]
    actions: tuple[Action, ...]
    quiet_seconds: float
    span: Span


class BypassNode(Record):
    """`bypass scan, badmail when …`: what is skipped for the mail `test` matches."""

    targets: tuple[str, ...]
    test: Test
    description: str
    span: Span


class ProfileTree(Record):
    """One profile: its bypasses, criteria in evaluation order, then the scan step, then
    actions per outcome."""

    name: str
    span: Span
    criteria: tuple[CriterionNode, ...]
    scan: ScanNode | None
    actions: tuple[tuple[str, tuple[Action, ...]], ...]
    bombers: tuple[BomberNode, ...] = ()
    bypasses: tuple[BypassNode, ...] = ()

    def actions_for(self, outcome: str) -> tuple[Action, ...]:
        return dict(self.actions).get(outcome, ())


class SelectorNode(Record):
    """One value of a profile's selector (or of a `domain … uses` line), for explain."""

    profile: str
    description: str
    span: Span


class Selection(Record):
    """Profile selectors beyond the recipient's domain, by kind, most specific first within
    each (qmvc/engine/selection.py has the precedence). Absent from a tree whose policy has
    none, so choosing a profile then costs what it always did."""

    recipients: dict[str, SelectorNode]
    domains: dict[str, SelectorNode]
    """Every exact recipient domain → what maps it (a selector or a `domain … uses` line)."""
    domain_wildcards: tuple[tuple[str, SelectorNode], ...]
    """(`.suffix`, what maps `*.suffix`), longest suffix first."""
    networks: tuple[tuple[str, SelectorNode], ...]
    """Longest prefix first."""
    senders: dict[str, SelectorNode]
    sender_domains: dict[str, SelectorNode]
    sender_wildcards: tuple[tuple[str, SelectorNode], ...]
    """(`.suffix`, selector), longest suffix first."""


class DecisionTree(Record):
    profiles: dict[str, ProfileTree]
    exact_domains: dict[str, str]
    wildcard_domains: tuple[tuple[str, str], ...]
    default_profile: str
    scanners: dict[str, ScannerSpec]
    languages: tuple[tuple[str, tuple[str, ...]], ...]
    default_language: str
    guards: dict[str, tuple[str, ...]]
    guard_languages: dict[str, str]
    notice_from: str
    notice_limit: tuple[int, float]
    state: tuple[str, str]
    verdict_cache_seconds: float
    settings: dict[str, str]
    budget_seconds: float
    sources: tuple[str, ...]
    selection: Selection | None = None

    def profile_for(self, domain: str) -> ProfileTree:
        """The recipient domain's profile: exact name, then the longest wildcard, then default."""
        domain = domain.lower().rstrip(".")
        name = self.exact_domains.get(domain)
        if name is None:
            for suffix, profile in self.wildcard_domains:  # longest suffix first
                if domain.endswith(suffix):
                    name = profile
                    break
        return self.profiles[name or self.default_profile]
