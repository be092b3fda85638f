"""The envelope as qmail-local and the command line give it, and as explain and notice
--preview assume it from a message's headers when neither gives it."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qmvc.message import Envelope
from qmvc.message.envelope import (
    HEAD_LIMIT,
    RECIPIENT_HEADERS,
    SENDER_HEADERS,
    AssumedEnvelope,
    EnvelopeAddress,
    _mailboxes,
    assume_envelope,
    header_addresses,
)

QMAIL_ENVIRONMENT = {
    "SENDER": "alice@example.org",
    "RECIPIENT": "example.com-bob-lists@example.com",
    "LOCAL": "bob-lists",
    "HOST": "Example.COM",
    "EXT": "lists",
}


def test_environment_gives_every_field_with_domain_lower_cased() -> None:
    assert Envelope.from_environ(QMAIL_ENVIRONMENT) == Envelope(
        "alice@example.org",
        "example.com-bob-lists@example.com",
        "bob-lists",
        "example.com",
        "lists",
    )


@pytest.mark.parametrize("null", ["", "#@[]"])
def test_qmail_null_sender_is_empty(null: str) -> None:
    assert Envelope.from_environ({**QMAIL_ENVIRONMENT, "SENDER": null}).sender == ""


def test_missing_local_and_host_come_from_the_recipient() -> None:
    envelope = Envelope.from_environ({"SENDER": "a@b", "RECIPIENT": "Bob@Example.Com"})
    assert (envelope.local, envelope.domain, envelope.extension) == ("Bob", "example.com", "")


def test_empty_environment_gives_empty_envelope() -> None:
    assert Envelope.from_environ({}) == Envelope("", "", "", "", "")


@pytest.mark.parametrize("null", ["<>", "", None, " <> "])
def test_command_line_null_sender(null: str | None) -> None:
    assert Envelope.from_addresses(null, "bob@example.com").sender == ""


def test_command_line_addresses_lose_angle_brackets_and_split_at_last_at() -> None:
    envelope = Envelope.from_addresses("<alice@example.org>", '"odd@local"@Example.COM')
    assert envelope == Envelope(
        "alice@example.org", '"odd@local"@Example.COM', '"odd@local"', "example.com", ""
    )


def test_recipient_without_domain() -> None:
    envelope = Envelope.from_addresses("alice@example.org", "postmaster")
    assert (envelope.local, envelope.domain) == ("postmaster", "")


# ---- the envelope explain and notice --preview assume from the headers --------------------


Sourced = tuple[str, str]


def assumed(
    *header_lines: str, sender: str | None = None, recipient: str | None = None
) -> tuple[Sourced, Sourced]:
    """((sender, its source), (recipient, its source)) for a message with these headers."""
    raw = ("\n".join(header_lines) + "\n\nHello.\n").encode()
    found = assume_envelope(raw, sender, recipient)
    return (found.sender.address, found.sender.source), (
        found.recipient.address,
        found.recipient.source,
    )


def test_sender_is_return_path_before_sender_and_from() -> None:
    sender, _ = assumed(
        "From: Anna <anna@example.org>",
        "Sender: list-owner@lists.example.org",
        "Return-Path: <bounces@lists.example.org>",
    )
    assert sender == ("bounces@lists.example.org", "Return-Path")


def test_sender_falls_back_to_the_sender_header_then_from() -> None:
    with_sender, _ = assumed("From: Anna <anna@example.org>", "Sender: Bot <bot@example.org>")
    only_from, _ = assumed("From: Anna <anna@example.org>")
    assert with_sender == ("bot@example.org", "Sender")
    assert only_from == ("anna@example.org", "From")


@pytest.mark.parametrize("null", ["<>", " < > ", "<#@[]>"])
def test_return_path_of_the_null_sender_is_the_null_sender(null: str) -> None:
    sender, _ = assumed(f"Return-Path: {null}", "From: MAILER-DAEMON@mx.example.org")
    assert sender == ("", "Return-Path")


def test_null_sender_is_never_taken_from_sender_or_from() -> None:
    sender, _ = assumed("Sender: <>", "From: <>")
    assert sender == ("", "none")


def test_recipient_is_the_topmost_delivered_to() -> None:
    _, recipient = assumed(
        "Delivered-To: anna@example.de",
        "Delivered-To: list@lists.example.org",
        "To: list@lists.example.org",
    )
    assert recipient == ("anna@example.de", "Delivered-To")


def test_recipient_falls_back_to_to_then_cc() -> None:
    _, from_to = assumed("To: Bob <bob@example.de>, Carl <carl@example.de>", "Cc: dora@example.de")
    _, from_cc = assumed("Cc: Dora <dora@example.de>, eve@example.de")
    assert from_to == ("bob@example.de", "To")
    assert from_cc == ("dora@example.de", "Cc")


def test_no_envelope_headers_give_the_null_sender_and_no_recipient() -> None:
    assert assumed("Subject: hello") == (("", "none"), ("", "none"))


def test_options_override_the_headers_each_on_its_own() -> None:
    headers = ("Return-Path: <anna@example.org>", "Delivered-To: bob@example.de")
    assert assumed(*headers, sender="carl@example.net") == (
        ("carl@example.net", "option"),
        ("bob@example.de", "Delivered-To"),
    )
    assert assumed(*headers, recipient="<dora@example.com>") == (
        ("anna@example.org", "Return-Path"),
        ("dora@example.com", "option"),
    )


@pytest.mark.parametrize("null", ["<>", ""])
def test_null_sender_given_as_an_option_is_the_null_sender(null: str) -> None:
    sender, _ = assumed("From: Anna <anna@example.org>", sender=null)
    assert sender == ("", "option")


def test_the_assumed_envelope_is_the_envelope_the_options_would_give() -> None:
    found = assume_envelope(b"From: anna@example.org\nTo: Bob@Example.DE\n\n", None, None)
    assert found.envelope == Envelope.from_addresses("anna@example.org", "Bob@Example.DE")
    assert found.envelope.domain == "example.de"


@pytest.mark.parametrize(
    ("value", "addresses"),
    [
        pytest.param("Anna Example <anna@example.org>", ["anna@example.org"], id="display-name"),
        pytest.param('"Example, Anna" <anna@example.org>', ["anna@example.org"], id="quoted-comma"),
        pytest.param(
            '"Anna <x@evil.test>" <anna@example.org>', ["anna@example.org"], id="quoted-<>"
        ),
        pytest.param("anna@example.org (Anna (the boss))", ["anna@example.org"], id="comment"),
        pytest.param("(a <x@evil.test>) anna@example.org", ["anna@example.org"], id="comment-<>"),
        pytest.param(
            "=?utf-8?q?Anna_M=C3=BCller?= <anna@example.org>", ["anna@example.org"], id="encoded"
        ),
        pytest.param(
            "team: anna@example.org, Bob <bob@example.de>;, carl@example.net",
            ["anna@example.org", "bob@example.de", "carl@example.net"],
            id="group",
        ),
        pytest.param("undisclosed-recipients:;", [], id="empty-group"),
        pytest.param("Anna\r\n <anna@example.org>", ["anna@example.org"], id="folded"),
        pytest.param("Jürgen <jürgen@bücher.example>", ["jürgen@bücher.example"], id="utf-8"),
        pytest.param('"odd@local"@example.org', ['"odd@local"@example.org'], id="quoted-local"),
        pytest.param("anna@[192.0.2.1]", ["anna@[192.0.2.1]"], id="address-literal"),
        pytest.param("(a \\) b) anna@example.org", ["anna@example.org"], id="escaped-paren"),
        pytest.param('"a \\" b" <anna@example.org>', ["anna@example.org"], id="escaped-quote"),
        pytest.param("anna@example.org (EXTRA (X) eXtra)", ["anna@example.org"], id="comment-X"),
        pytest.param(
            "MAX@EXAMPLE.ORG, Xena <x@example.org>",
            ["MAX@EXAMPLE.ORG", "x@example.org"],
            id="capital-x",
        ),  # fmt: skip
    ],
)
def test_header_addresses_are_the_addresses_only(value: str, addresses: list[str]) -> None:
    assert header_addresses(value) == addresses


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("garbage", id="no-at"),
        pytest.param("Anna anna@example.org", id="name-without-brackets"),
        pytest.param("=?utf-8?q?anna@example.org?=", id="encoded-word-as-address"),
        pytest.param("<=?utf-8?q?anna?=@example.org>", id="encoded-word-in-address"),
        pytest.param("Anna <anna@example.org", id="bracket-left-open"),
        pytest.param('"Anna <anna@example.org>', id="quote-left-open"),
        pytest.param("anna@example.org (Anna", id="comment-left-open"),
        pytest.param("<anna@example.org> <bob@example.org>", id="two-addresses-in-one"),
        pytest.param("anna@example.org>", id="stray-bracket"),
        pytest.param("<anna@exa mple.org>", id="blank-inside"),
        pytest.param("<anna@example.org\x1b[2J>", id="control-character"),
        pytest.param("<anna@ex\ufffdample.org>", id="undecodable"),
        pytest.param("<anna@example.org\u202egpj.exe>", id="bidi-override"),
        pytest.param(f"<{'a' * 250}@example.org>", id="too-long"),
        pytest.param("x@y@z", id="two-ats"),
        pytest.param("<>", id="empty"),
    ],
)
def test_header_addresses_leave_garbage_out(value: str) -> None:
    assert header_addresses(value) == []


def test_garbage_falls_through_to_the_next_header() -> None:
    assert assumed(
        "Return-Path: <not an address>",
        "Sender: =?utf-8?q?bot@example.org?=",
        "From: Anna <anna@example.org>",
        "Delivered-To: (nobody)",
        "To: undisclosed-recipients:;",
        "Cc: Dora <dora@example.de>",
    ) == (("anna@example.org", "From"), ("dora@example.de", "Cc"))


def test_bytes_that_are_not_utf8_make_an_address_garbage() -> None:
    raw = b"Return-Path: <j\xfcrgen@example.org>\nFrom: anna@example.org\n\n"
    assert assume_envelope(raw, None, None).sender == EnvelopeAddress("anna@example.org", "From")


def test_only_the_head_of_a_message_is_read() -> None:
    raw = b"Subject: big\n" + b"X-Filler: " + b"x" * HEAD_LIMIT + b"\nFrom: anna@example.org\n\n"
    assert assume_envelope(raw, None, None).sender == EnvelopeAddress("", "none")


@pytest.mark.parametrize("opener", ["(", "<", '"', "\\", ":"])
def test_a_hostile_header_is_read_in_linear_time(opener: str) -> None:
    raw = b"From: " + opener.encode() * (HEAD_LIMIT - 10) + b"\n\n"
    started = time.monotonic()
    assert assume_envelope(raw, None, None) == AssumedEnvelope(
        EnvelopeAddress("", "none"), EnvelopeAddress("", "none")
    )
    assert time.monotonic() - started < 2


PLAIN = re.compile(r"[^\s@]+@[^\s@]+|\"[^\s]*\"@[^\s@]+")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_give_an_envelope_of_plain_addresses(raw: bytes) -> None:
    found = assume_envelope(raw, None, None)
    for found_address in (found.sender, found.recipient):
        address = found_address.address
        assert found_address.source in {"none", *SENDER_HEADERS, *RECIPIENT_HEADERS}
        assert address == "" or (PLAIN.fullmatch(address) and address.isprintable())


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_header_text_gives_plain_addresses(value: str) -> None:
    for address in header_addresses(value):
        assert PLAIN.fullmatch(address) and address.isprintable() and "=?" not in address


@settings(max_examples=200, deadline=None)
@given(
    st.text(st.characters(blacklist_characters='"\\', blacklist_categories=("Cc", "Cs"))),
    st.from_regex(
        r"[a-z0-9_%+-]{1,9}(\.[a-z0-9_%+-]{1,9})?@[a-z0-9-]{1,20}\.[a-z]{2,6}", fullmatch=True
    ),
)
def test_a_quoted_display_name_never_hides_the_address(name: str, address: str) -> None:
    assert header_addresses(f'"{name}" <{address}>, other@example.org') == [
        address,
        "other@example.org",
    ]


@pytest.mark.parametrize(
    ("value", "mailboxes"),
    [
        pytest.param("anna@example.org", [("anna@example.org", False)], id="bare"),
        pytest.param("<anna@example.org>", [("anna@example.org", True)], id="in-brackets"),
        pytest.param("anna@example.org,  ", [("anna@example.org", False)], id="blank-after-comma"),
        pytest.param('"open', [("", False)], id="quote-left-open"),
        pytest.param("Anna <a@b.c> <d@e.f>", [("", False)], id="two-brackets"),
    ],
)
def test_mailboxes_say_whether_they_were_written_in_brackets(
    value: str, mailboxes: list[tuple[str, bool]]
) -> None:
    assert list(_mailboxes(value)) == mailboxes


def test_an_address_of_exactly_the_smtp_limit_is_kept_one_longer_is_not() -> None:
    at_limit = "a" * (254 - len("@example.org")) + "@example.org"
    assert header_addresses(f"<{at_limit}>") == [at_limit]
    assert header_addresses(f"<a{at_limit}>") == []


@pytest.mark.parametrize("half", ["<anna@example.org", "anna@example.org>"])
def test_only_a_pair_of_angle_brackets_is_taken_off_an_envelope_address(half: str) -> None:
    assert Envelope.from_environ({"SENDER": half}).sender == half


def test_qmails_host_wins_over_the_recipients_domain() -> None:
    envelope = Envelope.from_environ({"RECIPIENT": "bob@alias.example", "HOST": "Real.Example"})
    assert envelope.domain == "real.example"
