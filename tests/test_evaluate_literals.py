"""`contains` tests answered by substring search must agree with the regex they stand for."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from qmvc.engine.evaluate import evaluate
from qmvc.message.envelope import Envelope
from qmvc.message.facts import MessageFacts
from qmvc.policy.policy import Policy

POLICY = """
list phrases = "Free Money" "ILOVEYOU"
profile p default {
  badmail exact when subject contains "Invoice"
  badmail caseless when subject contains list phrases nocase
  on badmail { keep "q" }
}
"""


def verdict_for(tmp_path: Path, subject: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "policy.qmvc"
    path.write_text(POLICY)
    mail = EmailMessage()
    mail["Subject"] = subject
    mail.set_content("hello\n")
    facts = MessageFacts(bytes(mail), Envelope.from_addresses("a@example.org", "b@example.org"))
    return evaluate(Policy.load(path).compile(), facts, None)


def test_a_compiled_contains_list_keeps_its_literals(tmp_path: Path) -> None:
    (tmp_path / "policy.qmvc").write_text(POLICY)
    tree = Policy.load(tmp_path / "policy.qmvc").compile()
    literals = [c.test.literals for c in tree.profiles["p"].criteria]  # type: ignore[union-attr]
    assert literals == [("Invoice",), ("free money", "iloveyou")]


def test_case_matters_unless_nocase(tmp_path: Path) -> None:
    assert verdict_for(tmp_path, "your invoice").outcome == "clean"
    assert [c.name for c in verdict_for(tmp_path, "Invoice 12").criteria] == ["exact"]
    caseless = verdict_for(tmp_path, "re: iLoveYou!")
    assert [c.name for c in caseless.criteria] == ["caseless"]
    assert "at 4-12" in caseless.criteria[0].evidence


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="aAbBiIlLoOvVeEyYuU ", max_size=30))
def test_substring_answers_agree_with_the_regex(tmp_path_factory: object, subject: str) -> None:
    tmp_path = tmp_path_factory.mktemp("literal")  # type: ignore[attr-defined]
    expected = "iloveyou" in subject.lower()
    verdict = verdict_for(tmp_path, subject)
    assert ("caseless" in [c.name for c in verdict.criteria]) == expected
