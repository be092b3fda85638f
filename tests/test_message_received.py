"""The SMTP client's address: read only from the Received line our own qmail-smtpd wrote.

qmail-smtpd prepends one line (`from HOST (HELO NAME) (INFO@IP) by ME with SMTP; DATE`),
qmail-queue one more above it; everything below was written by the sender. The names in
qmail-smtpd's line pass through its safeput(), which turns every character but letters,
digits and `.@%+/=:-` into `?`: the strategies below write HELOs the same way.
"""

from __future__ import annotations

import ipaddress
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qmvc.message.envelope import Envelope
from qmvc.message.facts import MessageFacts
from qmvc.message.received import (
    LINE_LIMIT,
    in_networks,
    parse_address,
    parse_network,
    trusted_client_ip,
)

ME = "mx.example.com"
QUEUED = "(qmail 4711 invoked from network); 26 Nov 2026 02:00:01 -0000"
DATE = "26 Nov 2026 02:00:01 -0000"


def smtpd(address: str, helo: str = "client.example", by: str = ME, info: str = "") -> str:
    """A Received value as qmail-smtpd writes it, folded as it folds it."""
    who = f"{info}@{address}" if info else address
    return f"from unknown (HELO {helo})\n  ({who})\n  by {by} with SMTP; {DATE}"


def client(*received: str, our_host: str = ME) -> str | None:
    found = trusted_client_ip(list(received), our_host)
    return None if found is None else str(found)


# ---- the line that counts ----


def test_our_qmail_smtpd_line_gives_the_client_address() -> None:
    assert client(QUEUED, smtpd("192.0.2.7")) == "192.0.2.7"


def test_qmail_queue_line_above_ours_is_passed_over() -> None:
    assert client(QUEUED, QUEUED, smtpd("192.0.2.7")) == "192.0.2.7"


def test_remoteinfo_before_the_address_is_read_past() -> None:
    assert client(smtpd("192.0.2.7", info="ident@x")) == "192.0.2.7"


def test_line_without_helo_is_ours_too() -> None:
    """qmail-smtpd leaves (HELO …) out when the HELO equals the client's host name."""
    assert client(f"from host.example (192.0.2.7) by {ME} with SMTP; {DATE}") == "192.0.2.7"


def test_encrypted_protocol_of_the_tls_patch_is_ours_too() -> None:
    line = f"from x (HELO x) (192.0.2.7) by {ME} with (DHE-RSA-AES256-SHA encrypted) SMTP; {DATE}"
    assert client(line) == "192.0.2.7"


def test_our_host_name_is_compared_without_case_and_final_dot() -> None:
    assert client(smtpd("192.0.2.7", by="MX.Example.COM.")) == "192.0.2.7"
    assert client(smtpd("192.0.2.7"), our_host=" MX.Example.COM. ") == "192.0.2.7"
    assert client(smtpd("192.0.2.7", by="RELAX"), our_host="relax") == "192.0.2.7"
    assert client(smtpd("192.0.2.7", by="relax"), our_host="RELAX") == "192.0.2.7"
    assert client(smtpd("192.0.2.7", by="relax"), our_host="rela") is None


# ---- what the sender wrote ----


def test_forged_line_below_ours_naming_our_host_is_not_read() -> None:
    forged = smtpd("10.1.2.3")
    assert client(QUEUED, smtpd("203.0.113.9"), forged) == "203.0.113.9"


def test_sender_line_naming_our_host_counts_for_nothing_without_ours_on_top() -> None:
    """A foreign line on top (fetchmail, another relay) ends the search: the lines below it
    came with the message."""
    foreign = f"from relay (198.51.100.1) by relay.example.net with SMTP; {DATE}"
    assert client(foreign, smtpd("10.1.2.3")) is None


def test_locally_injected_message_has_no_client() -> None:
    """`qmail-inject` run by a user: whatever Received lines follow, the user wrote."""
    injected = "(qmail 4711 invoked by uid 1000); 26 Nov 2026 02:00:01 -0000"
    assert client(injected, smtpd("10.1.2.3")) is None


def test_other_host_name_after_by_is_not_ours() -> None:
    assert client(smtpd("10.1.2.3", by="mx.example.com.evil.example")) is None


def test_without_our_host_name_no_line_is_trusted() -> None:
    assert client(smtpd("192.0.2.7"), our_host="") is None


def test_message_without_received_lines_has_no_client() -> None:
    assert client() is None


def test_only_the_first_64_lines_are_read() -> None:
    assert client(*[QUEUED] * 63, smtpd("192.0.2.7")) == "192.0.2.7"
    assert client(*[QUEUED] * 64, smtpd("192.0.2.7")) is None


def test_a_line_of_exactly_the_limit_is_read_one_longer_is_not() -> None:
    line = smtpd("192.0.2.7")
    helo = "h" * (LINE_LIMIT - len(line) + len("client.example"))
    assert len(smtpd("192.0.2.7", helo=helo)) == LINE_LIMIT
    assert client(smtpd("192.0.2.7", helo=helo)) == "192.0.2.7"
    assert client(smtpd("192.0.2.7", helo=helo + "h")) is None


def test_huge_line_is_not_ours_and_is_read_fast() -> None:
    huge = smtpd("192.0.2.7", helo="a" * (LINE_LIMIT * 100))
    started = time.perf_counter()
    assert client(huge) is None
    assert client(*[QUEUED] * 100_000) is None
    assert time.perf_counter() - started < 1.0


def test_helo_with_an_encoded_word_cannot_write_an_address() -> None:
    """safeput keeps `=`, `?` and letters, so a HELO may be an RFC 2047 word that decodes to
    `x) (10.1.2.3`: the raw line is read, never its decoding."""
    helo = "=?utf-8?q?x=29_=2810.1.2.3?="
    raw = (
        f"Received: {QUEUED}\nReceived: from unknown (HELO {helo}) (203.0.113.9)\n"
        f"  by {ME} with SMTP; {DATE}\nSubject: hi\n\nbody\n"
    ).encode()
    facts = MessageFacts(raw, Envelope.from_addresses("a@example.org", "b@example.com"))
    assert str(facts.client_ip(ME)) == "203.0.113.9"
    assert facts.client_ip("other.example") is None


# ---- addresses ----


def test_ipv6_client_with_the_ipv6_prefix() -> None:
    assert client(smtpd("IPv6:2001:db8::7")) == "2001:db8::7"


def test_ipv6_client_without_prefix() -> None:
    assert client(smtpd("2001:DB8::7")) == "2001:db8::7"


def test_ipv4_mapped_client_is_its_ipv4_address() -> None:
    assert client(smtpd("::ffff:192.0.2.7")) == "192.0.2.7"


def test_bracketed_address_is_read() -> None:
    assert client(smtpd("[192.0.2.7]")) == "192.0.2.7"


def test_malformed_addresses_give_no_client() -> None:
    for malformed in ("999.1.2.3", "unknown", "192.0.2", "1.2.3.4.5", "2001:db8:::1", "::g"):
        assert client(smtpd(malformed)) is None, malformed


def test_empty_parentheses_give_no_client() -> None:
    assert client(f"from x (HELO x) () by {ME} with SMTP; {DATE}") is None


# ---- networks ----


def test_networks_parse_strictly() -> None:
    assert parse_network("10.0.0.0/8") == ipaddress.ip_network("10.0.0.0/8")
    assert parse_network("2001:db8::/32") == ipaddress.ip_network("2001:db8::/32")
    assert parse_network("192.0.2.7") == ipaddress.ip_network("192.0.2.7/32")
    assert parse_network("10.0.0.1/8") is None
    assert parse_network("10.0.0.0/33") is None
    assert parse_network("not a network") is None


def test_ipv4_mapped_network_is_its_ipv4_network() -> None:
    assert parse_network("::ffff:10.0.0.0/104") == ipaddress.ip_network("10.0.0.0/8")


def test_an_address_is_only_in_networks_of_its_version() -> None:
    networks = [ipaddress.ip_network("::/0"), ipaddress.ip_network("10.0.0.0/8")]
    assert in_networks(ipaddress.ip_address("10.1.2.3"), networks) == networks[1]
    assert in_networks(ipaddress.ip_address("192.0.2.7"), networks) is None


# ---- properties ----

SAFE = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.@%+/=:-?", max_size=60
)
ADDRESSES = st.ip_addresses()


@given(st.lists(st.text(max_size=300), max_size=8), st.text(max_size=40))
def test_any_received_lines_never_raise(received: list[str], our_host: str) -> None:
    found = trusted_client_ip(received, our_host)
    assert found is None or isinstance(found, ipaddress.IPv4Address | ipaddress.IPv6Address)


@given(ADDRESSES, SAFE, SAFE, st.lists(st.text(max_size=200), max_size=5))
def test_our_line_gives_its_address_whatever_the_helo_and_the_lines_below(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    helo: str,
    info: str,
    below: list[str],
) -> None:
    ours = smtpd(str(address), helo=helo, info=info)
    expected = getattr(address, "ipv4_mapped", None) or address
    assert trusted_client_ip([QUEUED, ours, *below], ME) == expected


@given(st.text(max_size=80))
def test_parse_address_never_raises(text: str) -> None:
    parse_address(text)
    parse_network(text)


def test_bombers_count_clients_by_the_same_trusted_line() -> None:
    """`infected from same client` must not be steered by a line the sender wrote."""
    from qmvc.engine.bombers import client_ip

    forged = f"Received: {smtpd('10.1.2.3')}\n"
    ours = f"Received: {QUEUED}\nReceived: {smtpd('203.0.113.9')}\n"
    envelope = Envelope.from_addresses("a@example.org", "b@example.com")
    assert client_ip(MessageFacts(f"{ours}{forged}\nx".encode(), envelope), ME) == "203.0.113.9"
    assert client_ip(MessageFacts(f"{forged}\nx".encode(), envelope), "other.example") == ""


@pytest.mark.parametrize("text", ["192.0.2.77]", "[192.0.2.7", "2001:db8::1]"])
def test_a_bracket_on_one_side_only_is_no_address(text: str) -> None:
    """Only a whole `[...]` literal is unwrapped: cutting one bracket and a digit of the
    other side would read `192.0.2.77]` as 92.0.2.77."""
    assert parse_address(text) is None


def test_a_bracketed_literal_is_its_address() -> None:
    assert str(parse_address(" [192.0.2.7] ")) == "192.0.2.7"
    assert str(parse_address("[IPv6:2001:db8::1]")) == "2001:db8::1"
