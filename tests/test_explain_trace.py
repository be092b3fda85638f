"""explain's trace performs nothing, so its last steps say what would be done, in the words
of the policy (`on failure`, as written, not the outcome `scanner-failure`)."""

from __future__ import annotations

from pathlib import Path

from qmvc.engine.evaluate import OUTCOME_WORDS, evaluate
from qmvc.message import Envelope, MessageFacts
from qmvc.policy.compile import OUTCOME_NAMES
from qmvc.policy.policy import Policy

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"


def action_steps(policy_text: str, tmp_path: Path, message: str, scanning: bool) -> list[str]:
    """`result node` of each step the actions left in the trace; with scanning, no engine is
    available here, so the outcome is scanner-failure."""
    policy = tmp_path / "policy.qmvc"
    policy.write_text(policy_text, encoding="utf-8")
    facts = MessageFacts(
        (CORPUS / f"{message}.eml").read_bytes(),
        Envelope.from_addresses("alice@example.org", "bob@example.com"),
    )
    verdict = evaluate(
        Policy.load(policy).compile(), facts, (lambda name: None) if scanning else None
    )
    return [f"{step.result} {step.node}" for step in verdict.trace if step.node.startswith("on ")]


POLICY = """
scanner clamav clamd socket "/nonexistent/clamd.ctl"
guard badmail "postmaster@example.com"
profile p default {
  badmail exe when any attachment.name matches "*.exe"
  scan clamav unless badmail
  on virus { keep "quarantine/virus" }
  on badmail { keep "quarantine/badmail"; notify badmail }
  on failure { defer }
}
"""


def test_the_actions_are_what_would_be_done_not_what_ran(tmp_path: Path) -> None:
    assert action_steps(POLICY, tmp_path, "double-ext-plain-name", scanning=False) == [
        'true on badmail: would keep "quarantine/badmail"',
        "true on badmail: would notify badmail",
    ]


def test_a_scanner_failure_is_labelled_on_failure_as_the_policy_writes_it(tmp_path: Path) -> None:
    assert action_steps(POLICY, tmp_path, "clean-plain-ascii", scanning=True) == [
        "true on failure: would defer"
    ]


def test_a_builtin_action_is_labelled_in_the_policys_words_too(tmp_path: Path) -> None:
    without_failure_block = POLICY.replace("  on failure { defer }\n", "")
    assert action_steps(without_failure_block, tmp_path, "clean-plain-ascii", scanning=True) == [
        "true on failure: would defer"
    ]


def test_every_outcome_the_compiler_renames_reads_back_as_the_policy_word() -> None:
    assert {outcome: word for word, outcome in OUTCOME_NAMES.items()} == OUTCOME_WORDS
