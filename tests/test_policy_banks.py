"""Policy banks: the new fields, profile selectors and their precedence, bypasses.

Each test compiles a real policy and evaluates a real message (scanning off, as in
`explain --no-scan`); only the Received line our qmail-smtpd wrote says who the client is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qmvc.engine.evaluate import bypassed_targets, evaluate
from qmvc.engine.tree import DecisionTree
from qmvc.engine.verdict import Verdict
from qmvc.message.envelope import Envelope
from qmvc.message.facts import MessageFacts
from qmvc.policy.bank_checks import client_address_uses
from qmvc.policy.cache import load_tree
from qmvc.policy.policy import Policy

ME = "mx.example.com"
SELECTORS = f"""
hostname "{ME}"
list our_networks = 10.0.0.0/8 2001:db8:100::/48
profile ceo for recipient "ceo@example.com" {{ on clean {{ deliver }} }}
profile domain_exact for recipient.domain "example.com" {{ on clean {{ deliver }} }}
profile domain_wild for recipient.domain "*.example.com" {{ on clean {{ deliver }} }}
profile lab for client.ip in 10.9.0.0/16 {{ on clean {{ deliver }} }}
profile internal for client.ip in list our_networks {{ on clean {{ deliver }} }}
profile boss for sender "boss@partner.example" {{ on clean {{ deliver }} }}
profile partner for sender.domain "partner.example" {{ on clean {{ deliver }} }}
profile partner_wild for sender.domain "*.partner.example" {{ on clean {{ deliver }} }}
profile standard default {{ on clean {{ deliver }} }}
"""


def compiled(tmp_path: Path, text: str) -> DecisionTree:
    path = tmp_path / "policy.qmvc"
    path.write_text(text, encoding="utf-8")
    return Policy.load(path).compile()


def received(address: str, by: str = ME) -> str:
    return (
        f"Received: from x (HELO x) ({address})\n  by {by} with SMTP; 26 Nov 2026 02:00:00 -0000\n"
    )


def verdict_for(
    tree: DecisionTree,
    sender: str = "anna@elsewhere.example",
    recipient: str = "bob@other.example",
    headers: str = "",
    body: str = "hello\n",
) -> Verdict:
    raw = f"{headers}Subject: test\n\n{body}".encode()
    return evaluate(tree, MessageFacts(raw, Envelope.from_addresses(sender, recipient)), None)


# ---- precedence ----


@pytest.fixture(scope="module")
def selecting(tmp_path_factory: pytest.TempPathFactory) -> DecisionTree:
    return compiled(tmp_path_factory.mktemp("selectors"), SELECTORS)


def test_recipient_address_beats_every_other_selector(selecting: DecisionTree) -> None:
    verdict = verdict_for(
        selecting, "boss@partner.example", "ceo@example.com", received("10.9.1.1")
    )
    assert verdict.profile == "ceo"
    also = [step.node for step in verdict.trace if step.depth == 1 and "also met" in step.detail]
    assert also == [
        'profile domain_exact (for recipient.domain "example.com")',
        "profile lab (for client.ip in 10.9.0.0/16)",
        "profile internal (for client.ip in list our_networks)",
        'profile boss (for sender "boss@partner.example")',
        'profile partner (for sender.domain "partner.example")',
    ]


def test_exact_recipient_domain_beats_wildcard_and_client(selecting: DecisionTree) -> None:
    assert verdict_for(
        selecting, recipient="x@example.com", headers=received("10.1.1.1")
    ).profile == ("domain_exact")


def test_wildcard_recipient_domain_beats_client_network(selecting: DecisionTree) -> None:
    verdict = verdict_for(selecting, recipient="x@a.example.com", headers=received("10.1.1.1"))
    assert verdict.profile == "domain_wild"


def test_longer_network_prefix_beats_shorter(selecting: DecisionTree) -> None:
    assert verdict_for(selecting, headers=received("10.9.1.1")).profile == "lab"
    assert verdict_for(selecting, headers=received("10.8.1.1")).profile == "internal"


def test_ipv6_client_network_selects(selecting: DecisionTree) -> None:
    assert verdict_for(selecting, headers=received("IPv6:2001:db8:100::9")).profile == "internal"


def test_client_network_beats_sender_address(selecting: DecisionTree) -> None:
    verdict = verdict_for(selecting, "boss@partner.example", headers=received("10.1.1.1"))
    assert verdict.profile == "internal"


def test_sender_address_beats_sender_domain(selecting: DecisionTree) -> None:
    assert verdict_for(selecting, "Boss@Partner.Example").profile == "boss"


def test_sender_domain_exact_then_wildcard(selecting: DecisionTree) -> None:
    assert verdict_for(selecting, "anna@partner.example").profile == "partner"
    assert verdict_for(selecting, "anna@eu.partner.example").profile == "partner_wild"


def test_no_selector_met_gives_the_default(selecting: DecisionTree) -> None:
    verdict = verdict_for(selecting)
    assert verdict.profile == "standard"
    assert verdict.trace[0].detail == "the default: no selector met"


def test_forged_received_line_below_ours_selects_nothing(selecting: DecisionTree) -> None:
    headers = received("203.0.113.9") + received("10.9.1.1")
    assert verdict_for(selecting, headers=headers).profile == "standard"


def test_received_line_of_another_host_selects_nothing(selecting: DecisionTree) -> None:
    verdict = verdict_for(selecting, headers=received("10.9.1.1", by="relay.example.net"))
    assert verdict.profile == "standard"


def test_the_trace_names_the_selector_that_chose(selecting: DecisionTree) -> None:
    step = verdict_for(selecting, headers=received("10.9.1.1")).trace[0]
    assert step.node == "profile lab"
    assert (
        step.detail == "chosen by 'for client.ip in 10.9.0.0/16': client.ip 10.9.1.1 in 10.9.0.0/16"
    )
    assert step.span is not None and step.span.line == 7


def test_domain_lines_keep_their_old_trace_without_selectors(tmp_path: Path) -> None:
    tree = compiled(
        tmp_path,
        "profile a { on clean { deliver } }\nprofile b default { on clean { deliver } }\n"
        'domain "example.com" uses a\n',
    )
    assert tree.selection is None
    step = verdict_for(tree, recipient="x@example.com").trace[0]
    assert (step.node, step.detail) == ("profile a", 'recipient domain "example.com"')


def test_cached_tree_keeps_its_selectors(tmp_path: Path) -> None:
    path = tmp_path / "policy.qmvc"
    path.write_text(SELECTORS, encoding="utf-8")
    load_tree(path, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir())
    again = load_tree(path, tmp_path / "cache")
    assert verdict_for(again.tree, headers=received("10.9.1.1")).profile == "lab"


# ---- fields ----


FIELDS = f"""
hostname "{ME}"
profile standard default {{
  badmail domain when sender.domain is "partner.example"
  badmail local when recipient.local is "postmaster"
  badmail present when header "X-Spam-Flag" exists
  badmail nets when client.ip in 192.0.2.0/24 2001:db8::/32
  badmail text when client.ip is "198.51.100.7"
  badmail none when client.ip is empty
  on badmail {{ keep "quarantine" }}
  on clean {{ deliver }}
}}
"""


@pytest.fixture(scope="module")
def fields(tmp_path_factory: pytest.TempPathFactory) -> DecisionTree:
    return compiled(tmp_path_factory.mktemp("fields"), FIELDS)


def matched(verdict: Verdict) -> list[str]:
    return [criterion.name for criterion in verdict.criteria]


def test_sender_domain_is_the_senders_domain_in_lower_case(fields: DecisionTree) -> None:
    assert matched(
        verdict_for(fields, "Anna@Partner.EXAMPLE", headers=received("203.0.113.1"))
    ) == ["domain"]


def test_recipient_local_is_the_part_before_the_at(fields: DecisionTree) -> None:
    verdict = verdict_for(
        fields, recipient="postmaster@example.com", headers=received("203.0.113.1")
    )
    assert matched(verdict) == ["local"]


def test_header_exists_even_when_empty(fields: DecisionTree) -> None:
    verdict = verdict_for(fields, headers=received("203.0.113.1") + "X-Spam-Flag:\n")
    assert matched(verdict) == ["present"]


def test_client_ip_in_ipv4_network(fields: DecisionTree) -> None:
    assert matched(verdict_for(fields, headers=received("192.0.2.77"))) == ["nets"]


def test_client_ip_in_ipv6_network(fields: DecisionTree) -> None:
    assert matched(verdict_for(fields, headers=received("IPv6:2001:db8::1"))) == ["nets"]


def test_ipv4_mapped_client_is_in_the_ipv4_network(fields: DecisionTree) -> None:
    assert matched(verdict_for(fields, headers=received("::ffff:192.0.2.77"))) == ["nets"]


def test_client_ip_as_text(fields: DecisionTree) -> None:
    assert matched(verdict_for(fields, headers=received("198.51.100.7"))) == ["text"]


def test_missing_or_malformed_client_is_empty_and_in_no_network(fields: DecisionTree) -> None:
    for headers in ("", received("999.0.2.1"), received("192.0.2.1", by="other.example")):
        verdict = verdict_for(fields, headers=headers)
        assert matched(verdict) == ["none"], headers


def test_client_field_is_not_read_when_no_rule_needs_it(tmp_path: Path) -> None:
    tree = compiled(
        tmp_path,
        'profile p default { badmail s when sender is "x@y" on badmail { keep "q" } '
        "on clean { deliver } }",
    )
    facts = MessageFacts(
        received("192.0.2.1").encode() + b"\nx", Envelope.from_addresses("x@y", "a@b")
    )
    evaluate(tree, facts, None)
    assert facts._client_ips == {}
    assert "_headers" not in facts.__dict__


# ---- bypass ----


BYPASS = f"""
hostname "{ME}"
list ours = 10.0.0.0/8
profile standard default {{
  bypass badmail when client.ip in list ours
  bypass scan, badmail when header "X-Trusted" exists and client.ip in 192.0.2.0/24
  badmail subject when subject contains "test"
  scan clamav
  on virus {{ keep "quarantine/virus" }}
  on badmail {{ keep "quarantine/badmail" }}
  on clean {{ deliver }}
}}
scanner clamav clamd socket "/nonexistent/clamd.ctl"
"""


@pytest.fixture(scope="module")
def bypassing(tmp_path_factory: pytest.TempPathFactory) -> DecisionTree:
    return compiled(tmp_path_factory.mktemp("bypass"), BYPASS)


def test_badmail_bypass_skips_every_rule(bypassing: DecisionTree) -> None:
    verdict = verdict_for(bypassing, headers=received("10.1.2.3"))
    assert verdict.outcome == "clean"
    assert bypassed_targets(verdict) == ("badmail",)
    [rule] = [s for s in verdict.trace if s.node == "badmail subject"]
    assert (rule.result, rule.detail) == ("skipped", "bypassed by 'bypass badmail' (line 5)")


def test_no_bypass_when_its_condition_fails(bypassing: DecisionTree) -> None:
    verdict = verdict_for(bypassing, headers=received("203.0.113.9"))
    assert verdict.outcome == "badmail"
    assert bypassed_targets(verdict) == ()


def test_scan_bypass_skips_the_engines(bypassing: DecisionTree) -> None:
    verdict = verdict_for(bypassing, headers=received("192.0.2.5") + "X-Trusted: yes\n")
    assert bypassed_targets(verdict) == ("badmail", "scan")
    [report] = verdict.scanners
    assert report.status == "skipped"
    assert report.reason == "bypassed by 'bypass scan, badmail' (line 6)"


def test_a_bypass_whose_targets_are_skipped_already_is_not_tested(bypassing: DecisionTree) -> None:
    tree = bypassing
    verdict = verdict_for(tree, headers=received("10.1.2.3"))
    steps = [s for s in verdict.trace if s.node.startswith("bypass") and s.depth == 0]
    assert [(s.node, s.result) for s in steps] == [
        ("bypass badmail", "true"),
        ("bypass scan, badmail", "false"),
    ]


# ---- check-policy on what the selectors and bypasses use ----


def codes(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "policy.qmvc"
    path.write_text(text, encoding="utf-8")
    return [d.code for d in Policy.load(path).check()]


def test_a_list_used_only_by_a_selector_or_a_bypass_is_used(tmp_path: Path) -> None:
    text = (
        "list nets = 10.0.0.0/8\nlist more = 192.0.2.0/24\n"
        "profile i for client.ip in list nets { on clean { deliver } }\n"
        "profile s default { bypass badmail when client.ip in list more\n"
        '  badmail x when subject is "x" on badmail { keep "q" } }\n'
    )
    assert codes(tmp_path, text) == []


def test_an_undefined_network_list_is_an_error(tmp_path: Path) -> None:
    text = (
        "profile i for client.ip in list nets { on clean { deliver } }\n"
        "profile s default { bypass scan when client.ip in list more scan c "
        'on virus { keep "q" } }\nscanner c clamd socket "/x"\n'
    )
    assert codes(tmp_path, text) == ["undefined-list", "undefined-list"]


def test_a_profile_with_a_selector_is_not_unused(tmp_path: Path) -> None:
    text = (
        'profile p for sender.domain "partner.example" { on clean { deliver } }\n'
        "profile s default { on clean { deliver } }\n"
    )
    assert codes(tmp_path, text) == []


def test_a_scan_bypass_requiring_the_client_network_is_not_warned(tmp_path: Path) -> None:
    text = (
        'profile s default { bypass scan when sender.domain is "p.example" and '
        "(client.ip in 192.0.2.0/24 or client.ip in 2001:db8::/32) scan c "
        'on virus { keep "q" } }\nscanner c clamd socket "/x"\n'
    )
    assert codes(tmp_path, text) == []


def test_a_scan_bypass_where_one_branch_skips_the_network_is_warned(tmp_path: Path) -> None:
    text = (
        'profile s default { bypass scan when sender.domain is "p.example" and '
        '(client.ip in 192.0.2.0/24 or header "X-P" exists) or sender is "a@p.example" '
        'scan c on virus { keep "q" } }\nscanner c clamd socket "/x"\n'
    )
    assert codes(tmp_path, text) == ["sender-only-bypass"]


def test_a_badmail_bypass_on_the_sender_alone_is_not_warned(tmp_path: Path) -> None:
    """Only skipping the scan lets viruses in; a sender allowlist for badmail is the admin's
    call (explain and the log show each use of it)."""
    text = (
        'profile s default { bypass badmail when sender.domain is "p.example" '
        'badmail x when subject is "x" on badmail { keep "q" } }\n'
    )
    assert codes(tmp_path, text) == []


def test_a_domain_selector_no_domain_can_match_is_bad_domain(tmp_path: Path) -> None:
    text = (
        'profile p for sender.domain "anna@partner.example" { on clean { deliver } }\n'
        "profile s default { on clean { deliver } }\n"
    )
    assert codes(tmp_path, text) == ["bad-domain"]


def test_two_addresses_for_the_one_client_ip_never_match(tmp_path: Path) -> None:
    text = (
        'profile s default { badmail x when client.ip is "192.0.2.1" and client.ip is '
        '"192.0.2.2" on badmail { keep "q" } }\n'
    )
    assert codes(tmp_path, text) == ["never-true"]


def test_an_address_selector_without_an_address_is_bad_selector(tmp_path: Path) -> None:
    text = (
        'profile p for sender "partner.example" for recipient "a@b.example" { '
        "on clean { deliver } }\nprofile s default { on clean { deliver } }\n"
    )
    assert codes(tmp_path, text) == ["bad-selector"]


def test_the_uses_of_the_client_address_are_found_for_qmvc_doctor(tmp_path: Path) -> None:
    policy = tmp_path / "p.qmvc"
    policy.write_text(
        "profile p default {\n"
        '  badmail odd when client.ip is "10.0.0.1" or subject is "x"\n'
        '  bomber flood when infected from same client > 5 per 10m { keep "q" }\n'
        '  on badmail { keep "q" }\n'
        "}\n"
        "profile inside for client.ip in 10.0.0.0/8 { on clean { deliver } }\n"
        'profile other for sender "a@example.org" { on clean { deliver } }\n'
    )
    uses = client_address_uses(Policy.load(policy).model)
    assert [(what, span.line) for what, span in uses] == [
        ("a client.ip test", 2),
        ("a client.ip selector", 6),
        ("bomber flood", 3),
    ]
