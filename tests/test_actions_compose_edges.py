"""The edges of a notice's header lines (qmvc.actions.compose) and of the mailboxes they are
written for (qmvc.actions.mailbox): where a display name stops being plain, what a refusal
says, and how an admin's quoted display name is read."""

from __future__ import annotations

import email.header

import pytest

from qmvc.actions import compose
from qmvc.actions.mailbox import MAX_ADDRESS_LENGTH, Mailbox, is_mailable, parse_mailbox

ADDRESS = "guard@example.org"


def decoded(header_value: str) -> str:
    """What a mail reader shows for an RFC 2047 header value."""
    return str(email.header.make_header(email.header.decode_header(header_value)))


# ---- mailbox_header -------------------------------------------------------------------------


def test_a_display_name_of_59_characters_stays_plain_and_one_of_60_is_encoded() -> None:
    assert compose.mailbox_header("From", Mailbox(ADDRESS, "a" * 59)) == (
        f"From: {'a' * 59} <{ADDRESS}>"
    )
    encoded = compose.mailbox_header("From", Mailbox(ADDRESS, "a" * 60))
    assert encoded.startswith("From: =?utf-8?B?") and encoded.endswith(f"\n <{ADDRESS}>")
    assert decoded(encoded.removeprefix("From: ").rpartition("\n")[0]) == "a" * 60


def test_a_display_name_that_looks_like_an_encoded_word_is_encoded_itself() -> None:
    """A reader would decode `=?...?=` written plain: the text is sent as base64 words, so
    the reader shows it as it was typed."""
    text = "=?utf-8?B?Qm9zcw==?="
    header = compose.mailbox_header("From", Mailbox(ADDRESS, text))
    assert text not in header
    assert decoded(header.removeprefix("From: ").rpartition("\n")[0]) == text


def test_a_long_display_name_is_folded_into_continuation_lines_of_words() -> None:
    text = "Überwachung der Virenfilter im Rechenzentrum Nord, Abteilung Süd"
    header = compose.mailbox_header("From", Mailbox(ADDRESS, text))
    first, *continued = header.split("\n")
    assert first.startswith("From: =?utf-8?B?") and first.endswith("?=")
    assert len(continued) >= 2 and continued[-1] == f" <{ADDRESS}>"
    assert all(line.startswith(" =?utf-8?B?") for line in continued[:-1])
    assert decoded(header.removeprefix("From: ").rpartition("\n")[0]) == text


def test_an_unusable_address_is_refused_naming_it() -> None:
    with pytest.raises(ValueError) as raised:
        compose.mailbox_header("To", Mailbox("not an address"))
    assert str(raised.value) == "not a usable mail address: 'not an address'"


# ---- plain_header ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["<=?utf-8?B?QQ==?=@mx.example>", "<caf\u00e9@mx>", "<a\tb@mx>"])
def test_a_value_qmvc_made_is_refused_when_a_reader_could_decode_or_misread_it(value: str) -> None:
    with pytest.raises(ValueError) as raised:
        compose.plain_header("Message-ID", value)
    assert str(raised.value) == f"Message-ID: unexpected characters in {value!r}"


def test_a_plain_value_is_written_as_it_is() -> None:
    assert compose.plain_header("Message-ID", "<1.2@mx.example>") == "Message-ID: <1.2@mx.example>"


# ---- mailbox: is_mailable, parse_mailbox ----------------------------------------------------


def test_an_address_is_mailable_up_to_254_characters_and_no_further() -> None:
    domain = "@example.org"
    longest = "a" * (MAX_ADDRESS_LENGTH - len(domain)) + domain
    assert len(longest) == 254 and is_mailable(longest)
    assert not is_mailable("a" + longest)


@pytest.mark.parametrize(
    ("written", "display"),
    [
        ('"" <a@example.org>', ""),
        ('"A" <a@example.org>', "A"),
        ('"Anna \\"the guard\\" Meier" <a@example.org>', 'Anna "the guard" Meier'),
        ('"back\\\\slash" <a@example.org>', "back\\slash"),
    ],
)
def test_a_quoted_display_name_loses_its_quotes_and_backslash_escapes(
    written: str, display: str
) -> None:
    assert parse_mailbox(written) == Mailbox("a@example.org", display)


def test_a_display_name_with_a_control_character_is_refused_naming_it() -> None:
    with pytest.raises(ValueError) as raised:
        parse_mailbox("Anna\x07 <a@example.org>")
    assert str(raised.value) == "control character in the display name 'Anna\\x07'"
