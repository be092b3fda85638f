"""Header words, file names and charsets decoded as mail clients do, never raising."""

from __future__ import annotations

import binascii

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qmvc.message import Envelope, MessageFacts
from qmvc.message.mime import decode_header_value, decode_quoted_printable, decode_words
from qmvc.message.text import decode_bytes, html_to_text

ENVELOPE = Envelope.from_addresses("a@example.org", "b@example.com")


def attachment_names(content_type: str, disposition: str = "attachment") -> list[str]:
    raw = (
        'Content-Type: multipart/mixed; boundary="b"\n\n--b\n\nbody\n--b\n'
        f"Content-Type: {content_type}\nContent-Disposition: {disposition}\n\ndata\n--b--\n"
    ).encode()
    return [a.filename for a in MessageFacts(raw, ENVELOPE).attachments]


@pytest.mark.parametrize(
    ("words", "text"),
    [
        ("=?utf-8?B?w6k=?=", "é"),
        ("=?UTF-8?q?caf=C3=A9_au_lait?=", "café au lait"),
        ("=?utf-8?B?w6k=?= =?utf-8?B?w6k=?=", "éé"),
        ("=?utf-8?B?w6k=?=\n =?iso-8859-1?Q?=E9?=", "éé"),
        ("=?utf-8?B?w6k=?= plain =?utf-8?B?w6k=?=", "é plain é"),
        ("=?utf-8*en?Q?hello?=", "hello"),
        ("=?utf-8?B?w6k?=", "é"),
    ],
)
def test_encoded_words_decode(words: str, text: str) -> None:
    assert decode_header_value(words) == text


def test_adjacent_words_join_bytes_before_decoding() -> None:
    assert decode_words("=?utf-8?B?w6==?= =?utf-8?B?qQ==?=") == "é"
    assert decode_words("=?utf-8?q?a?= =?utf-8?q?b?= =?utf-8?q?c?=") == "abc"


def test_a_lower_case_b_is_base64_and_a_broken_word_does_not_end_decoding() -> None:
    text = "=?utf-8?b?w6k?= and =?utf-8?b?!!?= then =?utf-8?q?ok?="
    assert decode_words(text) == "é and =?utf-8?b?!!?= then ok"


@pytest.mark.parametrize(
    "broken", ["=?utf-8?B?!!!?=", "=?utf-8?B?w?=", "=?nocharset?X?abc?=", "=?utf-8?Q?a b?="]
)
def test_broken_encoded_words_stay_as_written(broken: str) -> None:
    assert decode_header_value(broken) == broken


def test_header_value_is_unfolded_and_single_line() -> None:
    assert decode_header_value("one\n two\r\n\tthree") == "one two\tthree"
    assert decode_header_value("=?utf-8?Q?a=0Ab=00c?=") == "a bc"


@pytest.mark.parametrize(
    ("data", "charset", "text"),
    [
        ("é".encode(), "utf-8", "é"),
        ("é".encode("latin-1"), "iso-8859-1", "é"),
        ("é".encode(), "x-no-such-charset", "é"),
        ("€".encode("cp1252"), None, "€"),
        (b"\xff\xfe", "utf-8", "\ufffd\ufffd"),
        (b"abc", "base64", "abc"),
        (b"\xff", "idna", "ÿ"),
        ("é".encode(), '"UTF-8"', "é"),
        ("é".encode(), "us-ascii", "é"),
        # an 8-bit body labelled ASCII is mislabelled, not ASCII: read as UTF-8, not replaced
        ("é".encode(), "ascii", "é"),
        ("é".encode(), "ASCII", "é"),
        # quotes around the name, and the RFC 2231 language after a star, are not the name
        (b"\xe4", "'koi8-r'", "Д"),
        (b"\xe4", "koi8-r*ru", "Д"),
        (b"\xe4", "koi8-r*ru*x", "Д"),
        # an alias that starts with an x (Mac mail clients' labels)
        ("한".encode("euc_kr"), "X-MAC-KOREAN", "한"),
    ],
)
def test_bytes_decode_with_declared_charset_or_fallback(
    data: bytes, charset: str | None, text: str
) -> None:
    assert decode_bytes(data, charset) == text


def test_html_to_text_keeps_visible_words_one_block_per_line() -> None:
    html = "<div>One&amp;two</div><script>x()</script><p>Three<br>four</p><!-- no -->"
    assert html_to_text(html) == "One&two\nThree\nfour"


def test_html_to_text_of_broken_markup_returns_its_text() -> None:
    assert html_to_text("<p>open <b>bold <a href='x").startswith("open bold")


def test_disposition_filename_wins_over_content_type_name() -> None:
    assert attachment_names('application/pdf; name="b.pdf"', 'attachment; filename="a.pdf"') == [
        "a.pdf"
    ]


def test_empty_disposition_filename_falls_back_to_content_type_name() -> None:
    assert attachment_names('application/pdf; name="b.pdf"', 'attachment; filename=""') == ["b.pdf"]


def test_rfc2231_name_with_impossible_charset_does_not_raise() -> None:
    assert attachment_names("application/pdf", "attachment; filename*=idna''%FFa.pdf") == ["ÿa.pdf"]


def test_control_characters_are_removed_from_names() -> None:
    assert attachment_names("application/pdf", 'attachment; filename="a\tb\x7fc.pdf"') == [
        "abc.pdf"
    ]


def test_text_part_with_a_name_is_an_attachment() -> None:
    assert attachment_names('text/plain; name="notes.txt"', "inline") == ["notes.txt"]


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        (b"a==b", b"a==b"),
        (b"=zz=41", b"=zzA"),
        (b"soft=\nbreak", b"softbreak"),
        (b"padded= \t\r\nbreak", b"paddedbreak"),
        (b"tab=\t\nbreak", b"tabbreak"),  # a tab alone before the break
        (b"caf=C3=A9", "café".encode()),
    ],
)
def test_quoted_printable_keeps_an_equals_sign_that_starts_no_escape(
    encoded: bytes, decoded: bytes
) -> None:
    assert decode_quoted_printable(encoded) == decoded


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300).map(lambda data: data.replace(b"\r", b"")), st.booleans())
def test_quoted_printable_round_trips_what_an_encoder_writes(data: bytes, tabs: bool) -> None:
    """Without CRs: binascii's encoder itself loses a CR before a line break."""
    assert decode_quoted_printable(binascii.b2a_qp(data, quotetabs=tabs)) == data
