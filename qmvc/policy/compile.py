"""AST → decision tree: resolve names, order tests cheap-first, share equal tests.

The tree holds plain data only (regexes as source text), so it pickles small and loads
fast; every node keeps the Span of the rule it came from for `explain`.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from typing import Any

from qmvc.engine import tree
from qmvc.engine.verdict import Action
from qmvc.policy import ast
from qmvc.policy.check import DEFAULT_SCANNER_TIMEOUT, template_directory
from qmvc.policy.cost import condition_cost, evaluation_order
from qmvc.policy.model import PolicyModel
from qmvc.policy.parse import parse_duration
from qmvc.policy.shadow import shape
from qmvc.record import replace
from qmvc.scanners.catalogue import catalogue_spec
from qmvc.scanners.spec import ClamdAddress, ClamdSpec, CommandSpec, ScannerSpec, Timeout

ALWAYS_CASELESS = {
    "sender",
    "recipient",
    "attachment.name",
    "attachment.type",
    "attachment.declared_type",
}
OUTCOME_NAMES = {"failure": "scanner-failure"}
BUILTIN_ACTIONS = {
    "clean": (Action("deliver"),),
    "scanner-failure": (Action("defer"),),
    "too-large": (Action("defer"),),
}
DEFAULT_BUDGET_SECONDS = 300.0
DEFAULT_VERDICT_CACHE_SECONDS = 3600.0
"""Without `verdict cache`: a part found infected is not scanned again for an hour."""
DEFAULT_NOTICE_LIMIT = (30, 3600.0)
"""Without `notices limit`: at most 30 notices to one address per hour."""


def compile_policy(model: PolicyModel, sources: tuple[str, ...]) -> tree.DecisionTree:
    """Compile a policy that passed `check_policy` without errors."""
    compiler = _Compiler(model)
    profiles = {name: compiler.profile(p) for name, p in model.profiles.items()}
    exact: dict[str, str] = {}
    wildcards: list[tuple[str, str]] = []
    for pattern, profile_name in recipient_domains(model):
        if pattern.startswith("*."):
            wildcards.append((pattern[1:], profile_name))
        else:
            exact.setdefault(pattern, profile_name)
    wildcards.sort(key=lambda item: -len(item[0]))
    default = model.default_profile()
    budget = model.settings.get("budget")
    settings = {key: s.value for key, s in model.settings.items() if key != "budget"}
    if "templates" in model.settings:
        settings["templates"] = str(template_directory(model.settings["templates"]))
    return tree.DecisionTree(
        profiles=profiles,
        exact_domains=exact,
        wildcard_domains=tuple(wildcards),
        default_profile=default.name if default else next(iter(profiles)),
        scanners={name: scanner_spec(s) for name, s in model.scanners.items()},
        languages=tuple(
            (lang.code, lang.suffixes) for lang in model.languages if not lang.is_default
        ),
        default_language=next((lang.code for lang in model.languages if lang.is_default), "en"),
        guards={name: g.addresses for name, g in model.guards.items()},
        guard_languages={name: g.language for name, g in model.guards.items() if g.language},
        notice_from=model.notices_from["from"].address if model.notices_from else "",
        notice_limit=(
            (model.notices_limit["limit"].count, model.notices_limit["limit"].window_seconds)
            if model.notices_limit
            else DEFAULT_NOTICE_LIMIT
        ),
        state=(
            (model.state["state"].kind, model.state["state"].target)
            if model.state
            else ("sqlite", "")
        ),
        verdict_cache_seconds=(
            model.verdict_cache["cache"].ttl_seconds
            if model.verdict_cache
            else DEFAULT_VERDICT_CACHE_SECONDS
        ),
        settings=settings,
        budget_seconds=parse_duration(budget.value) if budget else DEFAULT_BUDGET_SECONDS,
        sources=sources,
        selection=selection(model),
    )


def recipient_domains(model: PolicyModel) -> list[tuple[str, str]]:
    """(domain pattern, profile): every `domain … uses` line, then every `for recipient.domain`."""
    mapped = [(pattern, d.profile) for d in model.domains for pattern, _ in d.patterns]
    for profile in model.profiles.values():
        for selector in profile.selectors:
            if selector.field == "recipient.domain" and not selector.networks:
                mapped += [(v.text.lower().rstrip("."), profile.name) for v in selector.values]
    return mapped


class _Compiler:
    def __init__(self, model: PolicyModel) -> None:
        self.model = model
        self.shared: dict[Any, tree.Test] = {}

    def profile(self, profile: ast.ProfileDecl) -> tree.ProfileTree:
        criteria = tuple(
            tree.CriterionNode(c.name, self.test(c.condition), c.span, condition_cost(c.condition))
            for c in evaluation_order(profile.criteria)
        )
        scan = profile.scans[0] if profile.scans else None
        engines = tuple(name for s in profile.scans for name, _ in s.engines)
        scan_node = (
            tree.ScanNode(engines, scan.unless_badmail, scan.mode, scan.span) if scan else None
        )
        actions: dict[str, tuple[Action, ...]] = dict(BUILTIN_ACTIONS)
        for outcome in ("virus", "badmail", "clean", "failure", "too-large"):
            block = self.model.actions_for(profile, outcome)
            if block:
                actions[OUTCOME_NAMES.get(outcome, outcome)] = tuple(
                    Action(a.kind, a.arguments, a.span) for a in block.actions
                )
        bombers = tuple(
            tree.BomberNode(
                b.name,
                tuple(
                    tree.RateSpec(
                        t.kind,
                        t.source,
                        t.threshold,
                        t.window_seconds,
                        f"{t.kind} {t.way} same {t.source} > {t.threshold} per "
                        f"{tree.duration_text(t.window_seconds)}",
                        t.span,
                    )
                    for t in b.tests
                ),
                tuple(Action(a.kind, a.arguments, a.span) for a in b.actions),
                b.quiet_seconds,
                b.span,
            )
            for b in profile.bombers
        )
        bypasses = tuple(
            tree.BypassNode(
                b.targets,
                self.test(b.condition),
                f"bypass {', '.join(b.targets)}",
                b.span,
            )
            for b in profile.bypasses
        )
        return tree.ProfileTree(
            profile.name,
            profile.span,
            criteria,
            scan_node,
            tuple(sorted(actions.items())),
            bombers,
            bypasses,
        )

    def test(self, condition: ast.Condition) -> tree.Test:
        """One compiled node per distinct test: rules that test the same thing share it."""
        key = shape(condition)
        if key not in self.shared:
            self.shared[key] = self._build(condition)
        return self.shared[key]

    def _build(self, condition: ast.Condition) -> tree.Test:
        description = describe(condition)
        cost = condition_cost(condition)
        match condition:
            case ast.TextTest():
                return self._text_match(condition, description, cost)
            case ast.EmptyTest():
                return tree.IsEmpty(
                    condition.field.name, condition.field.header, description, condition.span, cost
                )
            case ast.SizeTest():
                return tree.SizeCompare(
                    condition.field.name,
                    condition.field.quantifier,
                    condition.comparator,
                    condition.size_bytes,
                    description,
                    condition.span,
                    cost,
                )
            case ast.NetworkTest():
                return tree.NetworkMatch(
                    condition.field.name,
                    network_texts(self.model, condition.networks, condition.list_ref),
                    description,
                    condition.span,
                    cost,
                )
            case ast.HeaderExists():
                return tree.HeaderPresent(condition.header, description, condition.span, cost)
            case ast.AnyAttachment():
                return tree.HasAttachment(description, condition.span)
            case ast.HasDefects():
                return tree.HasDefects(description, condition.span)
            case ast.ExceedsLimits():
                return tree.ExceedsLimits(description, condition.span)
            case ast.Not():
                return tree.Negation(
                    self.test(condition.operand), description, condition.span, cost
                )
            case ast.And():
                return tree.AllOf(self._operands(condition), description, condition.span, cost)
            case ast.Or():
                return tree.AnyOf(self._operands(condition), description, condition.span, cost)

    def _operands(self, condition: ast.And | ast.Or) -> tuple[tree.Test, ...]:
        """Cheap operands first, so and/or short-circuit before the costly ones."""
        ordered = sorted(condition.operands, key=condition_cost)
        return tuple(self.test(o) for o in ordered)

    def _text_match(self, test: ast.TextTest, description: str, cost: int) -> tree.TextMatch:
        value = test.value
        values = (
            self.model.lists[value.name].patterns if isinstance(value, ast.ListRef) else (value,)
        )
        items = tuple(tree.PatternItem(_label(v), _item_regex(test.operator, v)) for v in values)
        combined = "|".join(f"(?:{item.regex})" for item in items) or "(?!)"
        ignore_case = test.nocase or test.field.name in ALWAYS_CASELESS
        texts = [v.text for v in values if isinstance(v, ast.Text)]
        plain = test.operator == "contains" and len(texts) == len(values)
        literals = tuple(t.lower() if ignore_case else t for t in texts) if plain else ()
        return tree.TextMatch(
            test.field.name,
            test.field.header,
            test.field.quantifier,
            combined,
            ignore_case,
            items,
            description,
            test.span,
            cost,
            literals,
        )


def _label(value: ast.Text | ast.Regex) -> str:
    return f'"{value.text}"' if isinstance(value, ast.Text) else f"/{value.pattern}/{value.flags}"


def _item_regex(operator: str, value: ast.Text | ast.Regex) -> str:
    if isinstance(value, ast.Regex):
        return f"(?{value.flags}:{value.pattern})" if value.flags else value.pattern
    if operator == "is":
        return rf"\A{re.escape(value.text)}\Z"
    if operator == "contains":
        return re.escape(value.text)
    return rf"\A{fnmatch.translate(value.text)}"


def describe(condition: ast.Condition) -> str:
    """The condition as the admin would write it, for explain's trace."""
    match condition:
        case ast.TextTest():
            value = condition.value
            shown = f"list {value.name}" if isinstance(value, ast.ListRef) else _label(value)
            nocase = " nocase" if condition.nocase else ""
            return f"{_describe_field(condition.field)} {condition.operator} {shown}{nocase}"
        case ast.EmptyTest():
            return f"{_describe_field(condition.field)} is empty"
        case ast.SizeTest():
            size = _size_text(condition.size_bytes)
            return f"{_describe_field(condition.field)} {condition.comparator} {size}"
        case ast.NetworkTest():
            return f"{condition.field.name} in {_networks_written(condition)}"
        case ast.HeaderExists():
            return f'header "{condition.header}" exists'
        case ast.AnyAttachment():
            return "any attachment"
        case ast.HasDefects():
            return "message has defects"
        case ast.ExceedsLimits():
            return "message exceeds limits"
        case ast.Not():
            return f"not {describe(condition.operand)}"
        case ast.And():
            return " and ".join(_grouped(o) for o in condition.operands)
        case ast.Or():
            return " or ".join(_grouped(o) for o in condition.operands)


def _networks_written(written: ast.NetworkTest | ast.Selector) -> str:
    if written.list_ref is not None:
        return f"list {written.list_ref.name}"
    texts = written.values if isinstance(written, ast.Selector) else written.networks
    return " ".join(text.text for text in texts)


def network_texts(
    model: PolicyModel, networks: tuple[ast.Text, ...], list_ref: ast.ListRef | None
) -> tuple[str, ...]:
    """The networks written inline or in the list, normalised (`parse_network`)."""
    from qmvc.message.received import parse_network

    values = networks
    if list_ref is not None and list_ref.name in model.lists:
        values = tuple(p for p in model.lists[list_ref.name].patterns if isinstance(p, ast.Text))
    parsed = (parse_network(value.text) for value in values)
    return tuple(str(network) for network in parsed if network is not None)


def describe_selector(selector: ast.Selector) -> str:
    """`for client.ip in 10.0.0.0/8`, `for sender.domain "partner.example"`: as written."""
    if selector.networks:
        return f"for {selector.field} in {_networks_written(selector)}"
    return f"for {selector.field} " + " ".join(f'"{v.text}"' for v in selector.values)


def selection(model: PolicyModel) -> tree.Selection | None:
    """The selectors of every profile, by kind; None when no profile has one."""
    if not any(profile.selectors for profile in model.profiles.values()):
        return None
    recipients: dict[str, tree.SelectorNode] = {}
    domains: dict[str, tree.SelectorNode] = {}
    networks: list[tuple[str, tree.SelectorNode]] = []
    senders: dict[str, tree.SelectorNode] = {}
    sender_domains: dict[str, tree.SelectorNode] = {}
    for domain in model.domains:
        for pattern, span in domain.patterns:
            written = f'domain "{pattern}" uses {domain.profile}'
            domains.setdefault(pattern, tree.SelectorNode(domain.profile, written, span))
    for profile in model.profiles.values():
        for selector in profile.selectors:
            node = tree.SelectorNode(profile.name, describe_selector(selector), selector.span)
            if selector.networks:
                texts = network_texts(model, selector.values, selector.list_ref)
                networks.extend((text, node) for text in texts)
                continue
            table = {
                "recipient": recipients,
                "recipient.domain": domains,
                "sender": senders,
                "sender.domain": sender_domains,
            }[selector.field]
            for value in selector.values:
                table.setdefault(value.text.lower().rstrip("."), node)
    from qmvc.message.received import parse_network

    networks.sort(key=lambda item: -parse_network(item[0]).prefixlen)  # type: ignore[union-attr]
    return tree.Selection(
        recipients,
        _exact(domains),
        _wildcards(domains),
        tuple(networks),
        senders,
        _exact(sender_domains),
        _wildcards(sender_domains),
    )


def _exact(patterns: dict[str, tree.SelectorNode]) -> dict[str, tree.SelectorNode]:
    return {pattern: node for pattern, node in patterns.items() if pattern[:2] != "*."}


def _wildcards(patterns: dict[str, tree.SelectorNode]) -> tuple[tuple[str, tree.SelectorNode], ...]:
    """(`.suffix`, node) of each `*.suffix` pattern, the longest suffix first."""
    found = [(pattern[1:], node) for pattern, node in patterns.items() if pattern[:2] == "*."]
    return tuple(sorted(found, key=lambda item: -len(item[0])))


def _size_text(size_bytes: int) -> str:
    """A size as an admin writes it: 10MB rather than 10485760B."""
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size_bytes >= factor and size_bytes % factor == 0:
            return f"{size_bytes // factor}{unit}"
    return f"{size_bytes}B"


def _grouped(condition: ast.Condition) -> str:
    text = describe(condition)
    return f"({text})" if isinstance(condition, ast.And | ast.Or) else text


def _describe_field(field: ast.Field) -> str:
    if field.name == "header":
        return f'header "{field.header}"'
    if field.name.startswith("attachment."):
        return f"{field.quantifier} {field.name}"
    return field.name


def scanner_spec(scanner: ast.ScannerDecl) -> ScannerSpec:
    duration = scanner.timeout
    timeout = (
        Timeout(duration.seconds, duration.per_mb_seconds)
        if duration
        else Timeout(DEFAULT_SCANNER_TIMEOUT)
    )
    update = tuple(shlex.split(scanner.update)) if scanner.update else None
    if scanner.kind == "clamd":
        addresses = tuple(
            ClamdAddress(socket_path=a.target)
            if a.kind == "socket"
            else ClamdAddress(host=a.target.rsplit(":", 1)[0], port=int(a.target.rsplit(":", 1)[1]))
            for a in scanner.addresses
        )
        spec: ScannerSpec = ClamdSpec(scanner.name, addresses, timeout)
    elif scanner.engine:
        spec = catalogue_spec(
            scanner.engine,
            scanner.name,
            timeout,
            tuple(shlex.split(scanner.run)) if scanner.run else None,
        )
    else:
        spec = CommandSpec(
            scanner.name,
            tuple(shlex.split(scanner.run)),
            frozenset(scanner.clean_codes or (0,)),
            frozenset(scanner.infected_codes),
            _pattern_source(scanner.virus_pattern),
            timeout,
        )
    if scanner.kind == "command" and scanner.engine:
        spec = _with_codes(spec, scanner)  # type: ignore[arg-type]
    if update is not None:
        spec = _replace(spec, update_command=update)
    return spec


def _with_codes(spec: CommandSpec, scanner: ast.ScannerDecl) -> CommandSpec:
    """A catalogued engine whose codes or pattern the policy overrides."""
    changes: dict[str, Any] = {}
    if scanner.clean_codes:
        changes["clean_codes"] = frozenset(scanner.clean_codes)
    if scanner.infected_codes:
        changes["infected_codes"] = frozenset(scanner.infected_codes)
    if scanner.virus_pattern:
        changes["virus_pattern"] = _pattern_source(scanner.virus_pattern)
    return _replace(spec, **changes)  # type: ignore[return-value]


def _replace(spec: ScannerSpec, **changes: Any) -> ScannerSpec:
    return replace(spec, **changes)


def _pattern_source(pattern: ast.Text | ast.Regex | None) -> str:
    if pattern is None:
        return r"(?P<name>\S+) FOUND"
    if isinstance(pattern, ast.Text):
        return pattern.text
    return f"(?{pattern.flags}){pattern.pattern}" if pattern.flags else pattern.pattern
