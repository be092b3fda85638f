"""`message exceeds limits`: what qmvc could not analyse can be a badmail of its own."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from qmvc.engine.evaluate import evaluate
from qmvc.message.envelope import Envelope
from qmvc.message.facts import MessageFacts
from qmvc.message.mime import MAX_DEPTH, MAX_PARTS
from qmvc.policy.policy import Policy

ENVELOPE = Envelope.from_addresses("a@example.org", "b@example.org")
POLICY = """
profile p default {
  badmail unanalysable when message exceeds limits
  on badmail { keep "q" }
}
"""


def nested(levels: int) -> bytes:
    inner = EmailMessage()
    inner.set_content("innermost\n")
    inner.add_attachment(
        b"MZ" + bytes(100), maintype="application", subtype="octet-stream", filename="deep.exe"
    )
    for _ in range(levels):
        outer = EmailMessage()
        outer.set_content("wrapper\n")
        outer.add_attachment(inner)
        inner = outer
    return bytes(inner)


def many_parts(count: int) -> bytes:
    mail = EmailMessage()
    mail.set_content("many\n")
    for number in range(count):
        mail.add_attachment(f"part {number}\n".encode(), maintype="text", subtype="plain")
    return bytes(mail)


def outcome(tmp_path: Path, raw: bytes) -> str:
    (tmp_path / "p.qmvc").write_text(POLICY)
    tree = Policy.load(tmp_path / "p.qmvc").compile()
    return evaluate(tree, MessageFacts(raw, ENVELOPE), None).outcome


def test_a_message_within_the_limits_is_analysed_completely(tmp_path: Path) -> None:
    raw = nested(3)
    assert MessageFacts(raw, ENVELOPE).unanalysed == []
    assert outcome(tmp_path, raw) == "clean"


def test_nesting_past_the_depth_limit_exceeds_limits(tmp_path: Path) -> None:
    raw = nested(MAX_DEPTH + 5)
    facts = MessageFacts(raw, ENVELOPE)
    assert facts.unanalysed and all(reason in facts.defects for reason in facts.unanalysed)
    assert "deep.exe" not in [a.filename for a in facts.attachments]
    assert outcome(tmp_path, raw) == "badmail"


def test_more_parts_than_the_limit_exceeds_limits(tmp_path: Path) -> None:
    assert outcome(tmp_path, many_parts(MAX_PARTS + 10)) == "badmail"
    assert outcome(tmp_path, many_parts(10)) == "clean"
