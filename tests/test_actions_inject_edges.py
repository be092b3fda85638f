"""The edges of qmvc.actions.inject: what an injector setting may say, which addresses a
forward refuses (and what the refusal says: it is the deferral's reason in qmail's log),
and when MAIL FROM asks for BODY=8BITMIME, seen by a real aiosmtpd server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from qmvc.actions.inject import ForwardError, InjectorConfig, forward, parse_injector
from tests.smtp_support import RecordingHandler, free_port

ASCII_MESSAGE = b"From: a@example.org\nSubject: hi\n\nplain text\n"
EIGHT_BIT_MESSAGE = "From: a@example.org\nSubject: hi\n\nGrüße aus Köln\n".encode()
SUCCEEDING_COMMAND = InjectorConfig("command", argv=(sys.executable, "-c", "pass"))
"""An injector that accepts anything: a refusal can only come from the check before it."""


# ---- parse_injector -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("  ", "empty injector: give a command line or smtp:HOST:PORT"),
        ("smtp:", "smtp injector without a host: ''"),
        ("smtp:[]:25", "smtp injector without a host: '[]:25'"),
        ("smtp:mx:port", "smtp injector port is not a number: 'port'"),
        ("smtp:mx:0", "smtp injector port out of range: 0"),
        ("smtp:mx:65536", "smtp injector port out of range: 65536"),
        ("smtp:[::1]]", "smtp injector port is not a number: ']'"),
        ("smtp:2001:db8::1", "smtp injector port is not a number: 'db8::1'"),
    ],
)
def test_a_setting_that_names_no_usable_injector_says_what_is_wrong(
    text: str, message: str
) -> None:
    """The policy check shows this text to the admin; an IPv6 address needs its brackets."""
    with pytest.raises(ValueError) as raised:
        parse_injector(text)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("smtp:mx:1", "mx", 1),
        ("smtp:mx:65535", "mx", 65535),
        ("smtp:[::1]:2525", "::1", 2525),
        ("smtp:[2001:db8::25]", "2001:db8::25", 25),
    ],
)
def test_every_tcp_port_and_a_bracketed_ipv6_port_are_read(text: str, host: str, port: int) -> None:
    assert parse_injector(text) == InjectorConfig("smtp", host=host, port=port)


# ---- the address check before anything runs ----------------------------------------------


@pytest.mark.parametrize(
    ("sender", "recipients", "message"),
    [
        ("a@example.org", [], "no recipients to forward to"),
        ("a@example.org", ["-oQ/tmp/x"], "unusable recipient address '-oQ/tmp/x'"),
        ("a@example.org", [""], "unusable recipient address ''"),
        (
            "a@example.org\r\nRCPT TO:<b@x>",
            ["x@example.net"],
            "control character in address 'a@example.org\\r\\nRCPT TO:<b@x>'",
        ),
        (
            "a@example.org",
            ["x@example.net\x7f"],
            "control character in address 'x@example.net\\x7f'",
        ),
        (
            "a@example.org",
            ["x@exam\x1fple.net"],
            "control character in address 'x@exam\\x1fple.net'",
        ),
    ],
)
def test_a_forward_that_could_smuggle_an_option_or_a_command_is_refused_saying_why(
    sender: str, recipients: list[str], message: str
) -> None:
    with pytest.raises(ForwardError) as raised:
        forward(ASCII_MESSAGE, sender, recipients, SUCCEEDING_COMMAND, 10)
    assert str(raised.value) == message


def test_an_address_with_a_space_is_not_a_control_character() -> None:
    """A quoted local part may hold a space (and a DEL is 127, not 128's neighbour): the
    injector decides about such addresses, the check only stops control characters."""
    forward(ASCII_MESSAGE, '"a b"@example.org', ['"x y"@example.net'], SUCCEEDING_COMMAND, 10)
    forward(ASCII_MESSAGE, "a@example.org", ["x\x80@example.net"], SUCCEEDING_COMMAND, 10)


# ---- BODY=8BITMIME ------------------------------------------------------------------------


class OptionsHandler(RecordingHandler):
    """Also records the MAIL FROM parameters of each transaction (upper-cased by aiosmtpd)."""

    def __init__(self) -> None:
        super().__init__()
        self.mail_options: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.mail_options.append(list(envelope.mail_options))
        return await super().handle_DATA(server, session, envelope)


@contextmanager
def smtp_server(eight_bit: bool) -> Iterator[tuple[InjectorConfig, OptionsHandler]]:
    """aiosmtpd offers 8BITMIME only when it does not decode the data (decode_data=False)."""
    handler = OptionsHandler()
    controller = Controller(
        handler, hostname="127.0.0.1", port=free_port(), decode_data=not eight_bit
    )
    controller.start()
    try:
        yield InjectorConfig("smtp", host="127.0.0.1", port=controller.port), handler
    finally:
        controller.stop()


def test_body_8bitmime_is_asked_for_exactly_when_the_server_offers_it_and_it_is_needed() -> None:
    with smtp_server(eight_bit=True) as (config, handler):
        forward(EIGHT_BIT_MESSAGE, "a@example.org", ["x@example.net"], config, 10)
        forward(ASCII_MESSAGE, "a@example.org", ["x@example.net"], config, 10)
        assert handler.mail_options == [["BODY=8BITMIME"], []]
    with smtp_server(eight_bit=False) as (config, handler):
        forward(EIGHT_BIT_MESSAGE, "a@example.org", ["x@example.net"], config, 10)
        assert handler.mail_options == [[]]
