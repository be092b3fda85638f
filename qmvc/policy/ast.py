"""The policy's abstract syntax: the one vocabulary that parse, check and compile share.

Every node is a frozen dataclass carrying the Span of the text it came from, so any
later finding (a diagnostic, a trace step in `explain`) can point back at the policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from qmvc.span import Span

# ---- values a test compares against ----


@dataclass(frozen=True, slots=True)
class Text:
    """A quoted string. In `matches` it is a glob (`*`, `?`, `[...]`)."""

    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class Regex:
    """A `/pattern/flags` literal."""

    pattern: str
    flags: str
    span: Span


@dataclass(frozen=True, slots=True)
class ListRef:
    name: str
    span: Span


Value = Text | Regex | ListRef

# ---- conditions ----

TextOperator = Literal["is", "contains", "matches"]
Comparator = Literal[">", ">=", "<", "<="]
TEXT_FIELDS = frozenset(
    (
        "sender",
        "recipient",
        "subject",
        "body",
        "header",
        "attachment.name",
        "attachment.type",
        "attachment.declared_type",
        "sender.domain",
        "recipient.local",
        "client.ip",
    )
)
NETWORK_FIELDS = frozenset(("client.ip",))
SIZE_FIELDS = frozenset(("attachment.size", "message.size"))
"""What a test may look at; the checker reports any other field name."""


@dataclass(frozen=True, slots=True)
class Field:
    """What a test looks at. `header` names the header; `quantifier` is for attachments."""

    name: str
    span: Span
    header: str = ""
    quantifier: Literal["any", "every"] = "any"


@dataclass(frozen=True, slots=True)
class TextTest:
    field: Field
    operator: TextOperator
    value: Value
    nocase: bool
    span: Span


@dataclass(frozen=True, slots=True)
class EmptyTest:
    field: Field
    span: Span


@dataclass(frozen=True, slots=True)
class SizeTest:
    field: Field
    comparator: Comparator
    size_bytes: int
    span: Span


@dataclass(frozen=True, slots=True)
class AnyAttachment:
    span: Span


@dataclass(frozen=True, slots=True)
class HasDefects:
    span: Span


@dataclass(frozen=True, slots=True)
class ExceedsLimits:
    """Part of the message was not analysed: too many parts, too deep, or unparsable MIME."""

    span: Span


@dataclass(frozen=True, slots=True)
class NetworkTest:
    """`client.ip in 10.0.0.0/8 2001:db8::/32`, or `in list NAME` (then `networks` is empty)."""

    field: Field
    networks: tuple[Text, ...]
    span: Span
    list_ref: ListRef | None = None


@dataclass(frozen=True, slots=True)
class HeaderExists:
    """`header "Name" exists`: the message has the header, whatever its value."""

    header: str
    span: Span


@dataclass(frozen=True, slots=True)
class Not:
    operand: Condition
    span: Span
    depth: int


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Condition, ...]
    span: Span
    depth: int


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Condition, ...]
    span: Span
    depth: int


Condition = (
    TextTest
    | EmptyTest
    | SizeTest
    | NetworkTest
    | HeaderExists
    | AnyAttachment
    | HasDefects
    | ExceedsLimits
    | Not
    | And
    | Or
)

# ---- statements ----


@dataclass(frozen=True, slots=True)
class Include:
    path: str
    span: Span


@dataclass(frozen=True, slots=True)
class ListDecl:
    """`list NAME = ...` or `list NAME from "file"` (then `patterns` is read by the loader)."""

    name: str
    patterns: tuple[Text | Regex, ...]
    span: Span
    from_file: str = ""


@dataclass(frozen=True, slots=True)
class LanguageDecl:
    code: str
    suffixes: tuple[str, ...]
    is_default: bool
    span: Span


@dataclass(frozen=True, slots=True)
class GuardDecl:
    """`guard NAME "address"... [language CODE]`: who hears about incidents, in which language."""

    name: str
    addresses: tuple[str, ...]
    span: Span
    language: str = ""
    language_span: Span | None = None


@dataclass(frozen=True, slots=True)
class NoticesFrom:
    """`notices from "Name <address>"`: the From of every notice (else the guard's mailbox)."""

    address: str
    span: Span


@dataclass(frozen=True, slots=True)
class NoticesLimit:
    """`notices limit COUNT per DURATION`: at most COUNT notices to one address per window."""

    count: int
    window_seconds: float
    span: Span


@dataclass(frozen=True, slots=True)
class Setting:
    """`templates`, `injector`, `budget`, `hostname`, `virtualdomains`: policy-wide settings."""

    key: str
    value: str
    span: Span


@dataclass(frozen=True, slots=True)
class Duration:
    seconds: float
    per_mb_seconds: float
    span: Span


@dataclass(frozen=True, slots=True)
class Address:
    kind: Literal["socket", "tcp"]
    target: str
    span: Span


@dataclass(frozen=True, slots=True)
class ScannerDecl:
    """A clamd or command engine. Options left out stay empty; the checker knows the rules."""

    name: str
    kind: Literal["clamd", "command"]
    span: Span
    addresses: tuple[Address, ...] = ()
    engine: str = ""
    engine_span: Span | None = None
    run: str = ""
    timeout: Duration | None = None
    clean_codes: tuple[int, ...] = ()
    infected_codes: tuple[int, ...] = ()
    virus_pattern: Text | Regex | None = None
    update: str = ""


@dataclass(frozen=True, slots=True)
class Criterion:
    name: str
    condition: Condition
    span: Span


ScanMode = Literal["first", "all", "parallel"]


@dataclass(frozen=True, slots=True)
class ScanDecl:
    engines: tuple[tuple[str, Span], ...]
    unless_badmail: bool
    mode: ScanMode
    span: Span


BypassTarget = Literal["scan", "badmail"]


@dataclass(frozen=True, slots=True)
class Bypass:
    """`bypass scan, badmail when CONDITION`: what the profile skips for the mail it matches."""

    targets: tuple[BypassTarget, ...]
    condition: Condition
    span: Span


@dataclass(frozen=True, slots=True)
class Selector:
    """`for FIELD "value"...` or `for client.ip in NETWORKS` on a profile: mail it is for.
    FIELD is recipient, recipient.domain, client.ip, sender or sender.domain (the grammar's
    SELECTOR_FIELD; qmvc/engine/selection.py has their precedence)."""

    field: str
    values: tuple[Text, ...]
    span: Span
    field_span: Span
    networks: bool = False
    list_ref: ListRef | None = None


OutcomeName = Literal["virus", "badmail", "clean", "failure", "too-large"]


@dataclass(frozen=True, slots=True)
class ActionDecl:
    """keep PATH, forward ADDR…, notify TARGET…, deliver, defer or bounce."""

    kind: Literal["keep", "forward", "notify", "deliver", "defer", "bounce", "drop"]
    arguments: tuple[str, ...]
    span: Span
    argument_spans: tuple[Span, ...] = ()


@dataclass(frozen=True, slots=True)
class OnBlock:
    outcome: OutcomeName
    actions: tuple[ActionDecl, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class ProfileDecl:
    name: str
    is_default: bool
    criteria: tuple[Criterion, ...]
    scans: tuple[ScanDecl, ...]
    on_blocks: tuple[OnBlock, ...]
    span: Span
    bombers: tuple[BomberDecl, ...] = ()
    selectors: tuple[Selector, ...] = ()
    bypasses: tuple[Bypass, ...] = ()


@dataclass(frozen=True, slots=True)
class RateTest:
    """`infected from same sender > 20 per 10m`: messages of KIND from (or to) this
    message's SOURCE within the window, counted across deliveries, this one included."""

    kind: Literal["infected", "badmail"]
    way: Literal["from", "to"]
    source: Literal["sender", "domain", "recipient", "client"]
    threshold: int
    window_seconds: float
    span: Span


@dataclass(frozen=True, slots=True)
class BomberDecl:
    """`bomber NAME when RATE or RATE { quiet D; keep|forward|drop|defer }`."""

    name: str
    tests: tuple[RateTest, ...]
    actions: tuple[ActionDecl, ...]
    quiet_seconds: float
    span: Span


@dataclass(frozen=True, slots=True)
class StateDecl:
    """`state sqlite ["FILE"]` or `state redis "redis://HOST:PORT/DB"`."""

    kind: Literal["sqlite", "redis"]
    target: str
    span: Span


@dataclass(frozen=True, slots=True)
class VerdictCacheDecl:
    """`verdict cache DURATION` (how long a scanner's verdict on a part is reused) or `off`."""

    ttl_seconds: float
    span: Span


@dataclass(frozen=True, slots=True)
class DomainDecl:
    patterns: tuple[tuple[str, Span], ...]
    profile: str
    profile_span: Span
    span: Span


Statement = (
    Include
    | ListDecl
    | LanguageDecl
    | GuardDecl
    | NoticesFrom
    | NoticesLimit
    | StateDecl
    | VerdictCacheDecl
    | Setting
    | ScannerDecl
    | ProfileDecl
    | DomainDecl
    | OnBlock
)


@dataclass(frozen=True, slots=True)
class PolicyFile:
    """One parsed file; includes are resolved by the loader into a PolicySet."""

    path: str
    statements: tuple[Statement, ...]


@dataclass(frozen=True, slots=True)
class PolicySet:
    """The main file and everything it includes, in reading order, plus every file read."""

    files: tuple[PolicyFile, ...]
    dependencies: tuple[str, ...]

    def statements(self) -> tuple[Statement, ...]:
        return tuple(s for f in self.files for s in f.statements)
