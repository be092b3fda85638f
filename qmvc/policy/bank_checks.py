"""Checks of policy banks: profile selectors, networks and bypasses (`check-policy`).

One function per check, registered under its diagnostic code in BANK_CHECKS, which
check.py adds to its own registry. The warnings are about allowlists that help an
attacker: a scan bypass anyone can meet by writing a sender, a bypass that holds for all
mail, a selector no mail reaches.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator

from qmvc.message.received import IPNetwork, parse_network
from qmvc.policy import ast
from qmvc.policy.contradiction import always_true
from qmvc.policy.diagnostics import Diagnostic, error, warning
from qmvc.policy.domains import domain_problem
from qmvc.policy.model import PolicyModel, walk
from qmvc.span import Span

Check = Callable[[PolicyModel], Iterable[Diagnostic]]
BANK_CHECKS: dict[str, Check] = {}

SENDER_HEADERS = frozenset(("from", "sender", "reply-to", "return-path"))
"""Headers that say who sent the message: the sender writes them, as he writes SENDER."""
DOMAIN_SELECTORS = ("recipient.domain", "sender.domain")


def check(code: str) -> Callable[[Check], Check]:
    def register(function: Check) -> Check:
        BANK_CHECKS[code] = function
        return function

    return register


def _bypasses(model: PolicyModel) -> Iterator[tuple[ast.ProfileDecl, ast.Bypass]]:
    for profile in model.profiles.values():
        for bypass in profile.bypasses:
            yield profile, bypass


def _selectors(model: PolicyModel) -> Iterator[tuple[ast.ProfileDecl, ast.Selector]]:
    for profile in model.profiles.values():
        for selector in profile.selectors:
            yield profile, selector


def _network_tests(model: PolicyModel) -> Iterator[ast.NetworkTest]:
    conditions = [c.condition for _, c in model.criteria()]
    conditions += [b.condition for _, b in _bypasses(model)]
    for condition in conditions:
        yield from (n for n in walk(condition) if isinstance(n, ast.NetworkTest))


def _written_networks(
    model: PolicyModel, texts: tuple[ast.Text, ...], list_ref: ast.ListRef | None
) -> tuple[ast.Text | ast.Regex, ...]:
    if list_ref is None:
        return texts
    declared = model.lists.get(list_ref.name)
    return declared.patterns if declared else ()


def _networks(
    model: PolicyModel, texts: tuple[ast.Text, ...], list_ref: ast.ListRef | None
) -> list[tuple[IPNetwork, Span]]:
    written = _written_networks(model, texts, list_ref)
    parsed = [(parse_network(t.text), t.span) for t in written if isinstance(t, ast.Text)]
    return [(network, span) for network, span in parsed if network is not None]


# ---- errors ----


@check("bad-network")
def bad_networks(model: PolicyModel) -> Iterator[Diagnostic]:
    """Every network a test or selector uses, written inline or in a list (once per list)."""
    uses: list[tuple[tuple[ast.Text, ...], ast.ListRef | None]] = [
        (t.networks, t.list_ref) for t in _network_tests(model)
    ]
    uses += [(s.values, s.list_ref) for _, s in _selectors(model) if s.networks]
    lists_seen: set[str] = set()
    for texts, list_ref in uses:
        if list_ref is not None:
            if list_ref.name in lists_seen:
                continue
            lists_seen.add(list_ref.name)
        for written in _written_networks(model, texts, list_ref):
            yield from _network_problem(written)


def _network_problem(written: ast.Text | ast.Regex) -> Iterator[Diagnostic]:
    if isinstance(written, ast.Regex):
        yield error(
            "bad-network",
            "a network list holds networks, not regular expressions",
            written.span,
            "write networks as 10.0.0.0/8 or 2001:db8::/32",
        )
        return
    if parse_network(written.text) is not None:
        return
    try:
        loose = ipaddress.ip_network(written.text.strip(), strict=False)
    except ValueError:
        yield error(
            "bad-network",
            f"'{written.text}' is not a network",
            written.span,
            "write an address or a network: 192.0.2.7, 10.0.0.0/8, 2001:db8::/32",
        )
        return
    yield error(
        "bad-network",
        f"'{written.text}' has bits set after its /{loose.prefixlen} prefix",
        written.span,
        f"the network is {loose}",
    )


@check("bad-selector")
def bad_selectors(model: PolicyModel) -> Iterator[Diagnostic]:
    """A selector of the wrong kind of value; a domain no domain can match (`bad-domain`)."""
    for _, selector in _selectors(model):
        if selector.field in DOMAIN_SELECTORS:
            for value in selector.values:
                problem = domain_problem(value.text.lower())
                if problem is not None:
                    yield error("bad-domain", problem.message, value.span, problem.hint)
        if selector.field in ("recipient", "sender"):
            for value in selector.values:
                if value.text.count("@") != 1 or value.text.strip() != value.text:
                    yield error(
                        "bad-selector",
                        f"'{value.text}' is not an address: no {selector.field} is",
                        value.span,
                        f'write one address: for {selector.field} "anna@example.org" (for '
                        f"a whole domain: for {selector.field}.domain)",
                    )
        if selector.field == "client.ip" and not selector.networks:
            yield error(
                "bad-selector",
                "client.ip is chosen by network, not by text",
                selector.span,
                "write: for client.ip in 10.0.0.0/8 (or in list NAME)",
            )
        elif selector.field != "client.ip" and selector.networks:
            yield error(
                "bad-selector",
                f"{selector.field} is chosen by quoted values, not by network",
                selector.span,
                f'write: for {selector.field} "..."',
            )


@check("selector-tie")
def selector_ties(model: PolicyModel) -> Iterator[Diagnostic]:
    """Two profiles chosen by the same value of one kind: no rule says which one wins."""
    seen: dict[tuple[str, str], tuple[str, Span]] = {}
    for domain in model.domains:  # `domain … uses` ties among themselves are domain-conflict
        for pattern, span in domain.patterns:
            seen.setdefault(("recipient.domain", pattern), (domain.profile, span))
    for profile, selector in _selectors(model):
        for key, span in _selector_keys(model, selector):
            first = seen.setdefault((selector.field, key), (profile.name, span))
            if first[0] != profile.name:
                yield error(
                    "selector-tie",
                    f"{selector.field} {key} chooses both profile '{first[0]}' and "
                    f"'{profile.name}'",
                    span,
                    f"the first is at {first[1]}; keep one, or make one more specific",
                )


def _selector_keys(model: PolicyModel, selector: ast.Selector) -> list[tuple[str, Span]]:
    if selector.networks:
        return [(str(n), span) for n, span in _networks(model, selector.values, selector.list_ref)]
    return [(v.text.lower().rstrip("."), v.span) for v in selector.values]


# ---- warnings ----


@check("sender-only-bypass")
def sender_only_bypasses(model: PolicyModel) -> Iterator[Diagnostic]:
    """Senders are forged: a virus writer who knows the partner's domain writes it."""
    for _, bypass in _bypasses(model):
        if "scan" not in bypass.targets or _requires_client(bypass.condition):
            continue
        written = sorted({_sender_field(n) for n in walk(bypass.condition)} - {""})
        if written:
            yield warning(
                "sender-only-bypass",
                f"this scan bypass depends on the sender ({', '.join(written)}) without "
                "client.ip: anyone can write that sender and skip the virus scan",
                bypass.span,
                "require the network the sender's mail comes from too: "
                "... and client.ip in list partner_mx",
            )


def _sender_field(node: ast.Condition) -> str:
    match node:
        case ast.TextTest() | ast.EmptyTest() if node.field.name in ("sender", "sender.domain"):
            return node.field.name
        case ast.TextTest() | ast.EmptyTest() if node.field.name == "header":
            return f'header "{node.field.header}"' if _is_sender_header(node.field.header) else ""
        case ast.HeaderExists() if _is_sender_header(node.header):
            return f'header "{node.header}"'
    return ""


def _is_sender_header(name: str) -> bool:
    return name.lower() in SENDER_HEADERS


def _requires_client(condition: ast.Condition) -> bool:
    """Whether every message the condition matches came from a network it names."""
    match condition:
        case ast.NetworkTest():
            return True
        case ast.And():
            return any(_requires_client(o) for o in condition.operands)
        case ast.Or():
            return all(_requires_client(o) for o in condition.operands)
    return False


@check("always-bypass")
def always_bypasses(model: PolicyModel) -> Iterator[Diagnostic]:
    for _, bypass in _bypasses(model):
        reason = _matches_everything(model, bypass.condition)
        if reason:
            yield warning(
                "always-bypass",
                f"'bypass {', '.join(bypass.targets)}' applies to every message: {reason}",
                bypass.span,
                "narrow its condition (client.ip in list our_networks), or remove the "
                + ("scan step" if bypass.targets == ("scan",) else "rules it skips"),
            )


@check("bypass-nothing")
def bypasses_of_nothing(model: PolicyModel) -> Iterator[Diagnostic]:
    """A bypass of a step its profile does not have: the admin meant another profile, or
    the step was taken out and the allowlist left behind."""
    for profile, bypass in _bypasses(model):
        has = {"scan": bool(profile.scans), "badmail": bool(profile.criteria)}
        for target in bypass.targets:
            if not has[target]:
                step = "scan step" if target == "scan" else "badmail rule"
                yield warning(
                    "bypass-nothing",
                    f"'bypass {target}' in profile {profile.name}, which has no {step}: it "
                    "skips nothing",
                    bypass.span,
                    f"move it to the profile whose {step}s it should skip, or remove it",
                )


def _matches_everything(model: PolicyModel, condition: ast.Condition) -> str:
    if always_true(condition, model.lists) is not None:
        return "its condition is always true"
    operands = condition.operands if isinstance(condition, ast.Or) else (condition,)
    for operand in operands:
        if isinstance(operand, ast.NetworkTest):
            everyone = [
                n
                for n, _ in _networks(model, operand.networks, operand.list_ref)
                if not n.prefixlen
            ]
            if everyone:
                return f"{everyone[0]} holds every {_version_name(everyone[0])} client"
    return ""


def _version_name(network: IPNetwork) -> str:
    return "IPv4" if network.version == 4 else "IPv6"


@check("unreachable-selector")
def unreachable_selectors(model: PolicyModel) -> Iterator[Diagnostic]:
    """A network selector with no network, or whose networks more specific selectors of
    other profiles cover whole (a longer prefix wins)."""
    networks = [
        (profile.name, network, span, selector)
        for profile, selector in _selectors(model)
        if selector.networks
        for network, span in _networks(model, selector.values, selector.list_ref)
    ]
    for profile, selector in _selectors(model):
        undefined = selector.list_ref is not None and selector.list_ref.name not in model.lists
        if (
            selector.networks
            and not undefined
            and not _networks(model, selector.values, selector.list_ref)
        ):
            yield warning(
                "unreachable-selector",
                f"this selector of profile '{profile.name}' names no network: no mail reaches it",
                selector.span,
                "add networks to it (or its list), or remove it",
            )
    for name, network, span, _ in networks:
        covering = [
            other
            for other_name, other, _, _ in networks
            if other_name != name
            and other.version == network.version
            and other.prefixlen > network.prefixlen
            and other.subnet_of(network)  # type: ignore[arg-type]
        ]
        if covering and list(ipaddress.collapse_addresses(covering)) == [network]:  # type: ignore[type-var]
            shown = ", ".join(str(n) for n in covering[:3])
            yield warning(
                "unreachable-selector",
                f"no mail reaches profile '{name}' through {network}: more specific selectors "
                f"of other profiles cover all of it ({shown}{'...' if len(covering) > 3 else ''})",
                span,
                "a longer prefix wins; remove this network or the ones that cover it",
            )


def client_address_uses(model: PolicyModel) -> list[tuple[str, Span]]:
    """Where the policy needs the SMTP client's address (what, where): `client.ip` tests and
    selectors, and bomber rates counted by client. `qmvc doctor` checks that this host's
    name, which finds that address, is known."""
    uses: list[tuple[str, Span]] = []
    for _, criterion in model.criteria():
        uses += _client_fields(criterion.condition)
    for _, bypass in _bypasses(model):
        uses += _client_fields(bypass.condition)
    for _, selector in _selectors(model):
        if selector.field == "client.ip":
            uses.append(("a client.ip selector", selector.span))
    for profile in model.profiles.values():
        for bomber in profile.bombers:
            uses += [
                (f"bomber {bomber.name}", rate.span)
                for rate in bomber.tests
                if rate.source == "client"
            ]
    return uses


def _client_fields(condition: ast.Condition) -> list[tuple[str, Span]]:
    return [
        ("a client.ip test", node.field.span)
        for node in walk(condition)
        if isinstance(node, ast.TextTest | ast.EmptyTest | ast.NetworkTest)
        and node.field.name == "client.ip"
    ]
