"""Which profile a message gets, when profiles have selectors (`profile internal for …`).

The most specific selector wins, by one rule, in this order:

1. recipient address (`for recipient "ceo@example.org"`)
2. recipient domain (`domain "example.org" uses …`, `for recipient.domain …`): an exact
   name before a `*.suffix`, a longer suffix before a shorter one
3. client network (`for client.ip in 10.0.0.0/8`): a longer prefix before a shorter one
4. sender address (`for sender "alerts@partner.example"`)
5. sender domain (`for sender.domain …`): exact before `*.suffix`, longer suffix first
6. the default profile

The recipient comes first because qmail delivers to it, so it is never forged, and the
profile protects its mailbox; the client's network next, recorded by our own qmail-smtpd
(qmvc.message.received); the sender last, since anyone can write any sender. Two selectors
of one rank that one message can meet are a check-policy error (`selector-tie`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

from qmvc.engine.tree import DecisionTree, Selection, SelectorNode
from qmvc.message.facts import MessageFacts
from qmvc.message.received import IPNetwork, parse_network

Hit = tuple[SelectorNode, str]
"""A selector the message meets, and the evidence: `client.ip 10.1.2.3 in 10.0.0.0/8`."""


def matching_selectors(
    selection: Selection, facts: MessageFacts, our_host: Callable[[], str]
) -> list[Hit]:
    """Every selector the message meets, the one that decides first. The client's address
    is read only when some selector names a network."""
    return list(_hits(selection, facts, our_host))


def _hits(selection: Selection, facts: MessageFacts, our_host: Callable[[], str]) -> Iterator[Hit]:
    envelope = facts.envelope
    recipient = envelope.recipient.lower()
    if recipient in selection.recipients:
        yield selection.recipients[recipient], f"recipient {recipient}"
    domain = envelope.domain.lower().rstrip(".")
    yield from _domain_hits(
        selection.domains, selection.domain_wildcards, domain, "recipient domain"
    )
    if selection.networks:
        address = facts.client_ip(our_host())
        if address is not None:
            for text, node in selection.networks:
                network = network_of(text)
                if network.version == address.version and address in network:
                    yield node, f"client.ip {address} in {text}"
    sender = envelope.sender.lower()
    if sender and sender in selection.senders:
        yield selection.senders[sender], f"sender {sender}"
    sender_domain = sender.rpartition("@")[2] if "@" in sender else ""
    yield from _domain_hits(
        selection.sender_domains, selection.sender_wildcards, sender_domain, "sender.domain"
    )


def _domain_hits(
    exact: dict[str, SelectorNode],
    wildcards: tuple[tuple[str, SelectorNode], ...],
    domain: str,
    label: str,
) -> Iterator[Hit]:
    """The exact name's selector, then each `*.suffix` one, the longest suffix first."""
    if not domain:
        return
    if domain in exact:
        yield exact[domain], f"{label} {domain}"
    for suffix, node in wildcards:
        if domain.endswith(suffix):
            yield node, f"{label} {domain}"


@functools.lru_cache(maxsize=4096)
def network_of(text: str) -> IPNetwork:
    """A network of a compiled tree, parsed once per process."""
    network = parse_network(text)
    assert network is not None  # the compiler keeps only networks that parse
    return network


def default_node(decision_tree: DecisionTree) -> SelectorNode:
    profile = decision_tree.profiles[decision_tree.default_profile]
    return SelectorNode(profile.name, "default", profile.span)
