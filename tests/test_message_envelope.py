"""The envelope as qmail-local and the command line give it."""

from __future__ import annotations

import pytest

from qmvc.message import Envelope

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
