"""The SMTP client's address, as this host's own qmail-smtpd recorded it.

qmail-smtpd prepends one line to every message it accepts::

    Received: from host.example (HELO helo.example) (info@192.0.2.7)
      by mx.example.org with SMTP; 26 Nov 2026 02:52:19 -0000

and qmail-queue then prepends its own `Received: (qmail 123 invoked from network)`. Every
other Received line was written by someone else, and all those below ours by whoever sent
the message: anything may be in them. So the address is read from one line only: the
topmost line qmail-queue did not write, and only when it has qmail-smtpd's exact form and
names this host after `by`. qmail-smtpd replaces every character of the names it writes
that is not a letter, digit or one of `.@%+/=:-` by `?`, so a client cannot write a
parenthesis, a space or `by` into its HELO; the raw line is read, never its RFC 2047
decoding, which a HELO of `=?utf-8?q?…?=` could otherwise rewrite.

A message injected on this host (`invoked by uid N`) came from no SMTP client: it has none.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from pathlib import Path

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")

QMAIL_ME = Path("/var/qmail/control/me")
"""qmail's own name for this host; tcpserver's `-l` usually gives qmail-smtpd the same."""
LINES_READ = 64
"""Received lines looked at, at most: qmail writes two per hop on this host."""
LINE_LIMIT = 4096
"""A longer line is not one qmail-smtpd wrote (its names fit in a few hundred bytes)."""

_QMAIL_QUEUE = re.compile(r"\(qmail \d+ invoked (?P<how>[^)]*)\)")
_SMTPD = re.compile(
    r"from [^\s()]+(?: \(HELO [^\s()]*\))? \((?:[^\s()]*@)?(?P<address>[^\s()@]+)\)"
    r" by (?P<host>[^\s()]+) with "  # then SMTP, ESMTPA, `(… encrypted) SMTP`: any protocol
)
_FOLDING = re.compile(r"\s+")


def trusted_client_ip(received: Iterable[str], our_host: str) -> IPAddress | None:
    """The client's address from the raw Received values (topmost first), or None: no
    line of our qmail-smtpd's on top, a local injection, or an address that is not one."""
    host = our_host.strip().rstrip(".").lower()
    if not host:
        return None
    for count, value in enumerate(received):
        if count >= LINES_READ or len(value) > LINE_LIMIT:
            return None
        line = _FOLDING.sub(" ", value).strip()
        queued = _QMAIL_QUEUE.match(line)
        if queued:
            if queued.group("how").startswith("by uid"):
                return None  # injected here: every line below came with the message
            continue
        ours = _SMTPD.match(line)
        if ours is None or ours.group("host").rstrip(".").lower() != host:
            return None
        return parse_address(ours.group("address"))
    return None


def parse_address(text: str) -> IPAddress | None:
    """`192.0.2.7`, `2001:db8::1`, `IPv6:2001:db8::1` or `[…]`; an IPv4-mapped IPv6 address
    (`::ffff:192.0.2.7`, as an IPv6 tcpserver writes IPv4 clients) is its IPv4 address.
    None for anything else."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if text[:5].lower() == "ipv6:":
        text = text[5:]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_network(text: str) -> IPNetwork | None:
    """`10.0.0.0/8`, `2001:db8::/32`, a lone address (all its bits); an IPv4-mapped IPv6
    network is the IPv4 network it maps, as `parse_address` reads such clients. None for
    anything else, host bits set after the prefix included (`10.0.0.1/8`)."""
    try:
        network = ipaddress.ip_network(text.strip())
    except ValueError:
        return None
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        mapped = network.network_address.ipv4_mapped
        assert mapped is not None
        return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


def in_networks(address: IPAddress, networks: Iterable[IPNetwork]) -> IPNetwork | None:
    """The first of `networks` that holds `address` (of its own version), or None."""
    for network in networks:
        if network.version == address.version and address in network:
            return network
    return None


def our_hostname(setting: str) -> str:
    """The name our qmail-smtpd writes after `by`: the policy's `hostname`, else qmail's me."""
    return setting or _qmail_me()


@functools.cache
def _qmail_me() -> str:
    try:
        return QMAIL_ME.read_text(encoding="utf-8", errors="replace").split("\n", 1)[0].strip()
    except OSError:
        return ""
