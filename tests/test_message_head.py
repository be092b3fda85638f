"""Attachment heads: sniffing decodes only the start of a large base64 part, and must see
exactly the bytes a full decode would give."""

from __future__ import annotations

from email.message import EmailMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from qmvc.message.envelope import Envelope
from qmvc.message.facts import MessageFacts
from qmvc.message.sniff import SNIFF_BYTES

ENVELOPE = Envelope.from_addresses("a@example.org", "b@example.org")


def attachment_of(content: bytes) -> MessageFacts:
    mail = EmailMessage()
    mail.set_content("see attachment\n")
    mail.add_attachment(content, maintype="application", subtype="octet-stream", filename="f.bin")
    return MessageFacts(bytes(mail), ENVELOPE)


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=0, max_size=3 * SNIFF_BYTES), st.integers(1, 2 * SNIFF_BYTES))
def test_a_head_is_the_start_of_the_full_decode(content: bytes, size: int) -> None:
    [attachment] = attachment_of(content).attachments
    assert attachment._source.head(size) == content[:size]


def test_sniffing_a_large_attachment_does_not_decode_all_of_it() -> None:
    content = b"MZ" + bytes(200_000)
    [attachment] = attachment_of(content).attachments
    attachment.sniffed_type  # noqa: B018 -- the access under test
    assert "_decoded" not in attachment._source.__dict__
    assert attachment.size == len(content)  # asking for the size still decodes it all
