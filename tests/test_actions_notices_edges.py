"""The edges of qmvc.actions.notices: which language an address's domain gets, what a
template's first line must be and what its body keeps, and what compose_notice says
about addresses and host names it cannot use."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from qmvc.actions.mailbox import Mailbox
from qmvc.actions.notices import NoticeError, compose_notice, language_for, render_variables

RULES = [("de", (".de", ".at")), ("en-gb", (".co.uk",)), ("en", (".uk",))]


# ---- language_for ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "language"),
    [
        ("anna@wdr.de.", "de"),  # the root's trailing dot is not part of the suffix
        ("anna@WDR.DE", "de"),
        ("anna@bbc.co.uk", "en-gb"),
        ("anna@bbc.uk", "en"),
        ("anna@wdr.fde", "fr"),
    ],
)
def test_the_longest_whole_label_suffix_decides(address: str, language: str) -> None:
    assert language_for(address, RULES, "fr") == language


def test_a_domain_ending_in_x_keeps_its_last_letter() -> None:
    """Only the root's dot is cut from the end, whatever the case of the domain."""
    assert language_for("ANNA@MAIL.BOX", [("sv", (".box",))], "en") == "sv"


def test_a_suffix_may_be_a_whole_domain() -> None:
    assert language_for("anna@example.de", [("fr", ("example.de",))], "en") == "fr"


def test_a_tie_goes_to_the_first_rule() -> None:
    """Two languages claiming the same suffix (Switzerland): the policy's first one wins."""
    assert language_for("anna@example.ch", [("de", (".ch",)), ("fr", (".ch",))], "en") == "de"


def test_even_a_one_character_suffix_is_a_match() -> None:
    """The root suffix `.` matches only an address without a domain (qmail's `anna@`)."""
    assert language_for("anna@", [("de", (".",))], "en") == "de"
    assert language_for("anna@example.org", [("de", (".",))], "en") == "en"


# ---- render_variables -----------------------------------------------------------------------


def templates_with(tmp_path: Path, text: str) -> Path:
    """A templates folder whose English sender notice is `text`."""
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "sender.j2").write_text(text)
    return tmp_path


def test_a_template_knows_the_language_it_is_rendered_in(tmp_path: Path) -> None:
    """A language without its own template falls back to English, and says so in `language`."""
    templates = templates_with(tmp_path, "Subject: in {{ language }}\n\nbody\n")
    assert render_variables("sender", "xx", {}, templates) == ("in en", "body\n")


@pytest.mark.parametrize("first_line", ["Betreff: Hallo", "Subject", "Subject - hello"])
def test_the_first_line_must_be_a_subject_line(tmp_path: Path, first_line: str) -> None:
    templates = templates_with(tmp_path, f"{first_line}\n\nbody\n")
    with pytest.raises(NoticeError) as raised:
        render_variables("sender", "en", {}, templates)
    assert str(raised.value) == "en/sender.j2: the first line must be 'Subject: ...'"


@pytest.mark.parametrize(
    ("template", "body"),
    [
        ("Subject:  Hello \n\n\n  indented:\nend\n\n", "  indented:\nend\n\n"),
        ("Subject: Hello\n\nXaver wrote:\nend\n", "Xaver wrote:\nend\n"),
    ],
)
def test_the_body_keeps_all_but_the_blank_lines_before_it(
    tmp_path: Path, template: str, body: str
) -> None:
    """Only the empty lines between the subject and the text go: the text's own first
    characters and its trailing lines stay as the template has them."""
    templates = templates_with(tmp_path, template)
    assert render_variables("sender", "en", {}, templates) == ("Hello", body)


# ---- compose_notice -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "recipient", "message"),
    [
        (
            "not mail",
            "bob@example.com",
            "unusable From address: not a usable mail address: 'not mail'",
        ),
        (
            "av@example.org",
            "bob at home",
            "unusable To address: not a usable mail address: 'bob at home'",
        ),
        (Mailbox("av@example.org"), Mailbox("-x@y"), "not a usable mail address: '-x@y'"),
    ],
)
def test_an_unusable_address_is_refused_saying_which(
    sender: str | Mailbox, recipient: str | Mailbox, message: str
) -> None:
    with pytest.raises(NoticeError) as raised:
        compose_notice("s", "body\n", sender, recipient, "mx.example.org")
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("hostname", "domain"), [("mx.example.org", "mx.example.org"), ("mx example!", "localhost")]
)
def test_the_message_id_names_the_host_or_localhost_when_it_is_no_host_name(
    hostname: str, domain: str
) -> None:
    notice = compose_notice("s", "body\n", "av@example.org", "bob@example.com", hostname)
    parsed = email.message_from_bytes(notice, policy=email.policy.default)
    assert parsed["Message-ID"].endswith(f"@{domain}>")
