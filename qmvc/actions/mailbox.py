"""Mailboxes for notices: `Name <local@domain>` or a bare address, checked strictly.

A notice goes to addresses that came from the policy (guards, `notices from`) or from the
envelope (the sender, the recipient), so the check is strict on purpose: a dot-atom local
part and a host name or address literal, printable ASCII only. What fails is not mailed;
nothing is repaired. Deliberately not `email.utils.parseaddr`, whose reading of odd input
changed between Python releases (CVE-2023-27043).
"""

from __future__ import annotations

import re

from qmvc.record import Record

_LOCAL_PART = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?)+|\[[0-9A-Fa-f:.]+\]"
_ADDRESS = re.compile(rf"(?:{_LOCAL_PART})@(?:{_DOMAIN})")
_NAME_AND_ADDRESS = re.compile(r"(?s)(?P<display>.*?)\s*<(?P<address>[^<>]*)>")
MAX_ADDRESS_LENGTH = 254


class Mailbox(Record):
    """A checked address and the display name to show beside it ("" for none)."""

    address: str
    display: str = ""


def is_mailable(address: str) -> bool:
    """True for `local@domain` a notice may be sent to; see the module docstring."""
    return (
        len(address) <= MAX_ADDRESS_LENGTH
        and not address.startswith("-")
        and _ADDRESS.fullmatch(address) is not None
    )


def parse_mailbox(text: str) -> Mailbox:
    """`Name <address>`, `"Name" <address>` or `address`; raises ValueError when unusable."""
    text = text.strip()
    match = _NAME_AND_ADDRESS.fullmatch(text)
    display, address = (match["display"], match["address"].strip()) if match else ("", text)
    display = display.strip()
    if len(display) >= 2 and display[0] == display[-1] == '"':
        display = re.sub(r"\\(.)", r"\1", display[1:-1])
    if not is_mailable(address):
        raise ValueError(f"not a usable mail address: {address!r}")
    if any(not char.isprintable() for char in display):
        raise ValueError(f"control character in the display name {display!r}")
    return Mailbox(address, display)
