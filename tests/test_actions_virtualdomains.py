"""qmail's control/virtualdomains as qmvc reads it to find a recipient's own address:
`domain:prefix` lines (the first for a domain wins, case does not matter, comments and
lines without a domain or a colon are not entries, bytes that are not UTF-8 do not stop
the reading), and a host's prefix: its exact entry, else its longest `.suffix` entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from qmvc.actions.virtualdomains import _prefix_for, personal_address, read_prefixes
from qmvc.message import Envelope


def test_entries_are_read_as_qmail_send_reads_them(tmp_path: Path) -> None:
    control = tmp_path / "virtualdomains"
    control.write_bytes(
        b"Example.DE:pre1\n"
        b"# old.example.de:retired\n"
        b":no-domain\n"
        b"no-colon-here\n"
        b".example.org:suffix\n"
        b"example.de:second\n"
        b"list.example.net:lists:extra\n"
        b"caf\xe9.example:cafe\n"
    )
    assert read_prefixes(control) == {
        "example.de": "pre1",
        ".example.org": "suffix",
        "list.example.net": "lists:extra",
        "caf\ufffd.example": "cafe",
    }


def test_an_unreadable_file_is_none_not_empty(tmp_path: Path) -> None:
    assert read_prefixes(tmp_path / "missing") is None
    assert read_prefixes(tmp_path) is None  # a directory
    (tmp_path / "empty").write_text("")
    assert read_prefixes(tmp_path / "empty") == {}


def test_a_host_takes_its_exact_entry_else_its_longest_suffix_entry() -> None:
    prefixes = {
        "x.a.example.org": "exact",
        ".org": "org",
        ".a.example.org": "longest",
        ".example.org": "shorter",
        ".other.net": "elsewhere",
        "ample.org": "not-a-suffix-entry",
    }
    assert _prefix_for("x.a.example.org", prefixes) == "exact"
    assert _prefix_for("y.a.example.org", prefixes) == "longest"  # not ".org", the largest
    assert _prefix_for("example.org", prefixes) == "org"
    assert _prefix_for("example.com", prefixes) is None
    assert _prefix_for("sample.org", {"ample.org": "x"}) is None
    assert _prefix_for("example.com", {".other.net": "x"}) is None


@pytest.mark.parametrize(
    ("delivered_to", "personal"),
    [
        ("vp-anna@example.de", "anna@example.de"),  # the file's prefix comes off
        ("VP-Anna@Example.DE", "Anna@example.de"),  # in any case; the name keeps its own
        ("example.de-anna@example.de", "example.de-anna@example.de"),  # not this domain's
        ("anna-lists@example.de", "anna-lists@example.de"),  # an extension, no prefix
        ("pre-bob@example.org", "pre-bob@example.org"),  # a domain the file does not list
    ],
)
def test_a_readable_file_decides_the_prefix_that_comes_off(
    tmp_path: Path, delivered_to: str, personal: str
) -> None:
    """With control/virtualdomains readable, only the prefix it gives for the domain is
    taken off, never the vpopmail guess (`HOST-`): a notice must reach the person."""
    control = tmp_path / "virtualdomains"
    control.write_text("example.de:vp\n")
    envelope = Envelope.from_addresses("a@example.net", delivered_to)
    assert personal_address(envelope, control) == personal


def test_an_unreadable_file_falls_back_to_vpopmail_s_own_domain_prefix(tmp_path: Path) -> None:
    envelope = Envelope.from_addresses("a@example.net", "example.de-anna@example.de")
    assert personal_address(envelope, tmp_path / "missing") == "anna@example.de"
