"""Profile selection and bypasses as `explain` shows them: the exact trace of the choice.

tests/test_policy_banks.py checks which profile wins; this checks what the trace says about
it, with the hostile envelopes a sender controls (a trailing dot, two `@`, no `@`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qmvc.engine.evaluate import bypassed_targets
from qmvc.engine.tree import DecisionTree
from tests.test_policy_banks import SELECTORS, compiled, verdict_for


@pytest.fixture(scope="module")
def selecting(tmp_path_factory: pytest.TempPathFactory) -> DecisionTree:
    return compiled(tmp_path_factory.mktemp("selectors"), SELECTORS)


@pytest.mark.parametrize(
    ("sender", "recipient", "profile", "detail"),
    [
        (
            "anna@elsewhere.example",
            "x@Example.COM.",
            "domain_exact",
            "chosen by 'for recipient.domain \"example.com\"': recipient domain example.com",
        ),
        (
            "anna@partner.example",
            "bob@other.example",
            "partner",
            "chosen by 'for sender.domain \"partner.example\"': sender.domain partner.example",
        ),
        (
            "anna@x@partner.example",  # the domain is after the last @
            "bob@other.example",
            "partner",
            "chosen by 'for sender.domain \"partner.example\"': sender.domain partner.example",
        ),
        ("partner.example", "bob@other.example", "standard", "the default: no selector met"),
    ],
    ids=["recipient-domain-trailing-dot", "sender-domain", "two-ats", "no-at"],
)
def test_the_trace_says_which_selector_chose_the_profile_and_why(
    selecting: DecisionTree, sender: str, recipient: str, profile: str, detail: str
) -> None:
    verdict = verdict_for(selecting, sender, recipient)
    first = verdict.trace[0]
    assert (verdict.profile, first.node, first.result, first.detail, first.depth) == (
        profile,
        f"profile {profile}",
        "true",
        detail,
        0,
    )


BYPASSES = """
scanner clamav clamd socket "/nonexistent/clamd.sock"
profile standard default {
  badmail s when subject contains "test"
  bypass scan when sender is "trusted@example.org"
  bypass scan when subject contains "test"
  bypass badmail when sender is "trusted@example.org"
  bypass scan, badmail when sender.domain is "example.org"
  scan clamav first
  on virus { keep "quarantine/virus" }
  on badmail { keep "quarantine/badmail" }
  on clean { deliver }
  on failure { defer }
}
"""


def test_a_bypass_whose_targets_are_bypassed_already_is_skipped_and_the_next_still_tested(
    tmp_path: Path,
) -> None:
    tree = compiled(tmp_path, BYPASSES)
    verdict = verdict_for(tree, "trusted@example.org")
    assert bypassed_targets(verdict) == ("badmail", "scan")
    steps = [step for step in verdict.trace if step.node.startswith("bypass ")]
    assert [(s.result, s.detail, s.depth) for s in steps] == [
        ("true", "skips the scan", 0),
        ("skipped", "already bypassed", 0),
        ("true", "skips the badmail rules", 0),
        ("skipped", "already bypassed", 0),
    ]
    assert all(step.span is not None for step in steps)


def test_a_bypass_of_two_targets_names_both(tmp_path: Path) -> None:
    verdict = verdict_for(compiled(tmp_path, BYPASSES), "someone@example.org")
    [both] = [s for s in verdict.trace if s.node.startswith("bypass scan, badmail")]
    assert (both.result, both.detail) == ("true", "skips the scan and the badmail rules")
