"""The notice writer: header lines qmvc builds itself, encoded words, the body's encoding."""

from __future__ import annotations

import email
import email.header
import email.policy
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qmvc.actions import compose
from qmvc.actions.mailbox import Mailbox, is_mailable, parse_mailbox

HEADER_LINE = re.compile(rb"[A-Za-z][A-Za-z0-9-]*: |[ \t]")

hostile_text = st.lists(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20)
    | st.sampled_from(["\r", "\n", "\r\n", "\x00", ":", "=?", "?=", "=0D=0A", "Bcc: x@y"]),
    max_size=30,
).map("".join)


def header_block(raw: bytes) -> list[bytes]:
    head, separator, _ = raw.partition(b"\n\n")
    assert separator, "a notice always has a body"
    return head.split(b"\n")


def decoded(value: str) -> str:
    return str(email.header.make_header(email.header.decode_header(value)))


@settings(max_examples=300, deadline=None)
@given(text=hostile_text)
def test_a_subject_is_one_header_that_decodes_to_its_one_line_text(text: str) -> None:
    line = compose.unstructured("Subject", text)
    raw = compose.message_bytes([line], "body")
    lines = header_block(raw)
    assert lines[0].startswith(b"Subject: ")
    assert all(HEADER_LINE.match(line) for line in lines)
    assert [line.split(b":")[0] for line in lines if not line[:1].isspace()] == [
        b"Subject",
        b"MIME-Version",
        b"Content-Type",
        b"Content-Transfer-Encoding",
    ]
    parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
    value = re.sub(r"\r?\n[ \t]", "", parsed["Subject"])
    assert (
        decoded(value) == compose.one_line(text).strip() or value == compose.one_line(text).strip()
    )


@pytest.mark.parametrize(
    "text",
    [
        "=?utf-8?Q?x=0D=0AX-Injected:_1=0D=0A?=",
        "=?utf-8?B?DQpCY2M6IHZpY3RpbUBleGFtcGxlLmNvbQ0KDQo=?=",
        "Rechnung =?iso-8859-1?q?=0A?= bitte",
    ],
)
def test_encoded_words_in_the_text_stay_text(text: str) -> None:
    line = compose.unstructured("Subject", text)
    assert "=?utf-8?Q?" not in line and "DQpC" not in line.replace("=?utf-8?B?", "")
    assert line.count("\n") == len(line.split("\n")) - 1
    value = re.sub(r"\n ", "", line.removeprefix("Subject: "))
    assert decoded(value) == text


def test_plain_short_ascii_is_written_as_it_is() -> None:
    assert compose.unstructured("Subject", "Virus found") == "Subject: Virus found"


@pytest.mark.parametrize("name", ["Subject", "X-Qmvc-Incident"])
def test_plain_ascii_stays_plain_up_to_a_76_column_line_and_no_further(name: str) -> None:
    """RFC 2047 (and 5322's 78) allow a plain header line of 76 columns: a value that fills
    it exactly is written as it is, one character more is encoded and folded instead."""
    fits = "x" * (76 - len(name) - 2)
    assert compose.unstructured(name, fits) == f"{name}: {fits}"
    assert len(compose.unstructured(name, fits)) == 76
    encoded = compose.unstructured(name, fits + "y")
    assert encoded.startswith(f"{name}: =?utf-8?B?")
    assert decoded(re.sub(r"\n ", "", encoded.removeprefix(f"{name}: "))) == fits + "y"


def test_long_and_non_ascii_values_are_folded_words_of_at_most_75_columns() -> None:
    line = compose.unstructured("Subject", "Schöne Grüße " * 900)  # 10 KB and more
    for physical in line.split("\n"):
        assert len(physical) <= 78
    assert all(word.startswith(("=?utf-8?B?", " =?utf-8?B?")) for word in line.split("\n")[1:])


def test_no_character_is_split_between_two_words() -> None:
    words = compose.encoded_words("я" * 100 + "😀" * 30)
    for word in words:
        assert email.header.decode_header(word)[0][0].decode("utf-8")  # each word decodes alone


def word_bytes(word: str) -> bytes:
    [(data, charset)] = email.header.decode_header(word)
    assert charset == "utf-8" and isinstance(data, bytes)
    return data


def test_each_word_is_filled_up_to_the_limit_and_no_further() -> None:
    limit = compose.MAX_WORD_BYTES
    assert [word_bytes(w) for w in compose.encoded_words("a" * limit)] == [b"a" * limit]
    words = compose.encoded_words("b" * (2 * limit + 1))
    assert [len(word_bytes(w)) for w in words] == [limit, limit, 1]


def test_empty_text_is_still_one_word() -> None:
    assert compose.encoded_words("") == ["=?utf-8?B??="]


def test_a_lone_surrogate_is_written_as_a_replacement_not_an_error() -> None:
    # Header text decoded with surrogateescape (undecodable bytes in a Subject) keeps lone
    # surrogates; a notice quoting it must still be composed.
    words = compose.encoded_words("caf\udce9 ok")
    assert b"".join(word_bytes(w) for w in words) == b"caf? ok"


def test_a_display_name_is_encoded_and_the_address_kept_plain() -> None:
    line = compose.mailbox_header("From", Mailbox("av@example.org", "Virenschutz Größe"))
    assert line.endswith("<av@example.org>") and "=?utf-8?B?" in line
    plain = compose.mailbox_header("From", Mailbox("av@example.org", "AV Team"))
    assert plain == "From: AV Team <av@example.org>"


@pytest.mark.parametrize(
    "address",
    [
        "a@b.de\r\nBcc: c@d.de",
        "=?utf-8?Q?x=0D=0AX-Injected:_1=0D=0A?=@b.example",
        "a b@example.org",
        "-oQ/tmp@example.org",
        "<a@example.org>",
        "a@example.org, b@example.org",
        "a@",
        "@example.org",
        "ä@example.org",
        "x" * 300 + "@example.org",
    ],
)
def test_unusable_addresses_are_refused(address: str) -> None:
    assert not is_mailable(address)
    with pytest.raises(ValueError):
        compose.mailbox_header("To", Mailbox(address))


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("av@example.org", Mailbox("av@example.org")),
        ("AV Team <av@example.org>", Mailbox("av@example.org", "AV Team")),
        ('"Team, AV" <av@example.org>', Mailbox("av@example.org", "Team, AV")),
        ("<av@[192.0.2.1]>", Mailbox("av@[192.0.2.1]")),
        (
            "Anna <anna.o'neil+tag@mail.example.de>",
            Mailbox("anna.o'neil+tag@mail.example.de", "Anna"),
        ),
    ],
)
def test_mailboxes_as_admins_write_them(written: str, expected: Mailbox) -> None:
    assert parse_mailbox(written) == expected


def test_a_header_line_that_could_add_a_header_is_refused() -> None:
    with pytest.raises(ValueError):
        compose.message_bytes(["Subject: a\nBcc: b@c"], "x")
    with pytest.raises(ValueError):
        compose.message_bytes(["X: a\n\nbody"], "x")
    with pytest.raises(ValueError):
        compose.plain_header("Message-ID", "<a@b>\r\nBcc: c@d")


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        ("plain ASCII\n", "7bit"),
        ("Grüße aus Köln\n", "quoted-printable"),
        ("Здравствуйте! Вирус найден во вложении.\n" * 3, "base64"),
        ("x" * 2000 + "\n", "quoted-printable"),
    ],
)
def test_body_encoding_is_the_shortest_safe_one(body: str, encoding: str) -> None:
    raw = compose.message_bytes(["Subject: s"], body)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Content-Transfer-Encoding"] == encoding
    assert parsed.get_content() == body  # type: ignore[attr-defined]
    assert all(len(line) <= 998 for line in raw.split(b"\n"))
    assert raw.isascii()


@settings(max_examples=200, deadline=None)
@given(body=hostile_text)
def test_any_body_round_trips_as_one_text_part(body: str) -> None:
    raw = compose.message_bytes(["Subject: s"], body)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert not parsed.is_multipart()
    assert list(parsed.keys()) == [
        "Subject",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
    ]
    expected = re.sub(r"\r\n?", "\n", body.encode("utf-8", "replace").decode("utf-8"))
    got = parsed.get_content()  # type: ignore[attr-defined]
    assert got.rstrip("\n") == expected.rstrip("\n")
