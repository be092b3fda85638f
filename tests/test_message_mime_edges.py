"""Edges of the MIME reader: how a header line without a colon is shown, an attached message
sent in base64, headers read from the first byte, an HTML reader that fails."""

from __future__ import annotations

import base64

import pytest

from qmvc.message import mime
from qmvc.message.headers import read_header_block
from qmvc.message.mime import analyse, parse_headers


def test_a_header_line_without_a_colon_is_shown_cut_to_40_characters_without_its_line_end() -> None:
    raw = (
        b"Subject: a\nbad line ending in X  \r\nanother one ending in XX\n"
        + b"A" * 50
        + b"\n\nbody"
    )
    block = read_header_block(raw, 0, len(raw))
    assert block.defects == [
        "a header line without a colon skipped: 'bad line ending in X  '",
        "a header line without a colon skipped: 'another one ending in XX'",
        f"a header line without a colon skipped: '{'A' * 40}'",
    ]


def test_headers_only_are_read_from_the_first_byte() -> None:
    headers = parse_headers(b"Subject: hi\nFrom: anna@example.org\n\nbody")
    assert (headers.get("subject"), headers.get("from")) == ("hi", "anna@example.org")


def test_an_attached_message_sent_in_base64_is_read_from_its_first_byte() -> None:
    inner = b"Subject: inner one\nContent-Type: text/plain\n\nhello\n"
    raw = (
        b"Subject: outer\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n"
        b"--B\nContent-Type: text/plain\n\nbody\n"
        b"--B\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(inner)
        + b"--B--\n"
    )
    tree = analyse(raw)
    (inner_leaf,) = [leaf for leaf in tree.leaves if leaf.path == "2.1"]
    assert inner_leaf.headers.get("subject") == "inner one"
    assert inner_leaf.content == b"hello\n"
    assert "part 2: attached message in base64" in tree.defects


def test_an_html_reader_that_fails_leaves_the_words_with_their_tags(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fault injected (no HTML is known to make the reader raise): the part's text is still
    tested, and the failure is recorded for `exceeds limits`."""

    def failing_reader(text: str) -> str:
        raise RuntimeError("injected")

    monkeypatch.setattr(mime, "html_to_text", failing_reader)
    (leaf,) = analyse(b"Content-Type: text/html\n\n<p>Click <b>here</b></p>\n").leaves
    assert leaf.text() == "<p>Click <b>here</b></p>\n"
    assert leaf.failures == ["part 1: HTML not readable (RuntimeError)"]
