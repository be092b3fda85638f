"""Incident notices: every template renders, no content can add a header, they leave as <>."""

from __future__ import annotations

import email
import email.policy
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmvc.actions.inject import InjectorConfig
from qmvc.actions.notices import (
    AUDIENCES,
    OUTCOMES,
    NoticeContext,
    NoticeError,
    language_for,
    render_notice,
    send_notice,
)
from qmvc.engine.verdict import Action, CriterionMatch, ScannerReport, Verdict
from qmvc.paths import PROJECT_ROOT, TEMPLATES_DIR
from qmvc.policy.template_check import sample_contexts
from qmvc.span import Span
from tests.smtp_support import SmtpServer, running_smtp_server

NO_SPAN = Span("policy.qmvc", 1, 1, 1, 2)

LANGUAGES = ("en", "de", "fr", "ru")
EXPECTED_HEADERS = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
]
HOSTILE = "Hello\r\nBcc: victim@example.com\r\n\r\nforged body\nX-Evil: 1\x00\x1b[31m"


def virus_verdict(evidence: str = "GF112.doc.com", virus: str = "W32/Goner@MM") -> Verdict:
    return Verdict(
        outcome="virus",
        profile="wdr",
        exit_code=99,
        criteria=[CriterionMatch("filename", evidence, NO_SPAN)],
        scanners=[
            ScannerReport("McAfee", "ran", (virus,)),
            ScannerReport("Trend Micro", "ran", ("WORM_SIRCAM.A",)),
        ],
        actions=[Action("keep", ("quarantine",))],
    )


def context(verdict: Verdict | None = None, **changes: str) -> NoticeContext:
    fields = dict(
        sender="bob@example.org",
        recipient="Verkehr@wdr.de",
        subject="Schöne Grüße",
        message_id="<3BE79C1B.5F3A@example.org>",
        date="Tue, 6 Nov 2001 09:22:51 +0100",
        guard="virus@wdr.de",
        hostname="mx.wdr.de",
    )
    fields.update(changes)
    return NoticeContext.from_verdict(verdict or virus_verdict(), **fields)


def test_a_verdict_gives_the_templates_each_engine_finding_action_and_host() -> None:
    """The variables a template is written against (templates/README.md): every engine with
    its status, every virus with where it was found, every action as the policy wrote it,
    and the host the caller named. The shipped templates read `findings` or `scanners`,
    whichever is there, so only the context itself shows one of them missing."""
    verdict = Verdict(
        "virus",
        "wdr",
        99,
        scanners=[
            ScannerReport("clamav", "ran", ("Eicar",), 0.1, "", (("Eicar", "a.zip › a.exe"),)),
            ScannerReport("sophos", "failed", (), 0.0, "exit 2"),
        ],
        actions=[Action("keep", ("quarantine/virus",)), Action("notify", ("av", "recipient"))],
    )
    ctx = context(verdict)
    assert ctx.scanners == (("clamav", "ran", ("Eicar",)), ("sophos", "failed", ()))
    assert ctx.findings == (("clamav", "Eicar", "a.zip › a.exe"),)
    assert ctx.actions == ("keep quarantine/virus", "notify av recipient")
    assert ctx.hostname == "mx.wdr.de"


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def render(audience: str = "recipient", language: str = "en", **changes: str) -> EmailMessage:
    raw = render_notice(audience, language, context(**changes), "qmvc@wdr.de", "Verkehr@wdr.de")
    return parse(raw)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("audience", AUDIENCES)
def test_every_audience_and_language_renders_a_complete_message(
    audience: str, language: str
) -> None:
    notice = render(audience, language)
    assert list(notice.keys()) == EXPECTED_HEADERS
    assert notice["Auto-Submitted"] == "auto-generated"
    assert notice.get_content_type() == "text/plain"
    assert notice.get_content_charset() == "utf-8"
    assert notice["Subject"].strip()
    body = notice.get_content()
    assert "Schöne Grüße" in body
    assert "W32/Goner@MM" in body


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("audience", AUDIENCES)
def test_badmail_notices_name_the_criterion(audience: str, language: str) -> None:
    badmail = Verdict("badmail", "wdr", 99, [CriterionMatch("filename", "love.vbs", NO_SPAN)])
    raw = render_notice(audience, language, context(badmail), "qmvc@wdr.de", "a@wdr.de")
    assert "love.vbs" in parse(raw).get_content()


def test_german_recipient_notice_speaks_like_qmvc() -> None:
    notice = render("recipient", "de")
    assert notice["Subject"] == "Virus in einer E-Mail an Sie gefunden: Schöne Grüße"
    body = notice.get_content()
    assert "in der an Sie gerichteten E-Mail von bob@example.org" in body
    assert "Die E-Mail wird Ihnen\ndeshalb nicht zugestellt." in body
    assert "McAfee: Virus W32/Goner@MM gefunden" in body
    assert "Trend Micro: Virus WORM_SIRCAM.A gefunden" in body
    assert "an unseren Virenschutzbeauftragten: virus@wdr.de" in body


@pytest.mark.parametrize("language", ["xx", "../de", "de/../../etc", ""])
def test_unknown_or_odd_language_falls_back_to_english(language: str) -> None:
    assert render("sender", language)["Subject"] == render("sender", "en")["Subject"]


def test_non_ascii_subject_is_rfc2047_encoded() -> None:
    raw = render_notice("recipient", "de", context(), "qmvc@wdr.de", "Verkehr@wdr.de")
    subject_line = next(line for line in raw.splitlines() if line.startswith(b"Subject:"))
    assert subject_line.isascii() and b"=?utf-8?" in subject_line


@pytest.mark.parametrize("audience", AUDIENCES)
def test_hostile_subject_filename_and_virus_add_no_header(audience: str) -> None:
    ctx = context(virus_verdict(evidence=HOSTILE, virus=HOSTILE), subject=HOSTILE, sender=HOSTILE)
    notice = parse(render_notice(audience, "en", ctx, "qmvc@wdr.de", "Verkehr@wdr.de"))
    assert list(notice.keys()) == EXPECTED_HEADERS
    assert "\n" not in notice["Subject"]
    assert "\x00" not in notice.get_content() and "\x1b" not in notice.get_content()


def test_hostile_to_address_is_refused() -> None:
    with pytest.raises(NoticeError):
        render_notice("sender", "en", context(), "qmvc@wdr.de", "a@b.de\r\nBcc: c@d.de")


def test_template_without_subject_line_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "sender.j2").write_text("Hello {{ sender }}\n")
    with pytest.raises(NoticeError, match="Subject"):
        render_notice("sender", "en", context(), "q@wdr.de", "b@example.org", tmp_path)


def test_unknown_audience_is_an_error() -> None:
    with pytest.raises(NoticeError, match="audience"):
        render_notice("postmaster", "en", context(), "q@wdr.de", "b@example.org")


text_values = st.text() | st.binary().map(lambda data: data.decode("utf-8", "surrogateescape"))


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    audience=st.sampled_from(AUDIENCES),
    language=st.sampled_from(LANGUAGES),
    sender=text_values,
    subject=text_values,
    message_id=text_values,
    evidence=text_values,
    virus=text_values,
)
def test_any_context_text_gives_exactly_the_expected_headers(
    audience: str,
    language: str,
    sender: str,
    subject: str,
    message_id: str,
    evidence: str,
    virus: str,
) -> None:
    ctx = context(
        virus_verdict(evidence=evidence, virus=virus),
        sender=sender,
        subject=subject,
        message_id=message_id,
        date=subject,
    )
    notice = parse(render_notice(audience, language, ctx, "qmvc@wdr.de", "Verkehr@wdr.de"))
    assert list(notice.keys()) == EXPECTED_HEADERS
    assert notice.defects == []


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


def test_notice_is_sent_with_the_null_envelope_sender(smtp_server: SmtpServer) -> None:
    raw = render_notice("sender", "en", context(), "qmvc@wdr.de", "bob@example.org")
    injector = InjectorConfig("smtp", host=smtp_server.host, port=smtp_server.port)
    assert send_notice(raw, "bob@example.org", injector, 5)
    [mail] = smtp_server.received
    assert mail.mail_from == "<>"
    assert mail.rcpt_tos == ("bob@example.org",)
    assert parse(mail.content)["Subject"] == parse(raw)["Subject"]


@pytest.mark.parametrize("null_sender", ["", "<>", "#@[]"])
def test_no_notice_goes_to_a_null_sender(smtp_server: SmtpServer, null_sender: str) -> None:
    injector = InjectorConfig("smtp", host=smtp_server.host, port=smtp_server.port)
    assert not send_notice(b"Subject: x\n\nx\n", null_sender, injector, 5)
    assert smtp_server.received == []


RULES = [("de", (".de", ".at", ".ch")), ("en", (".uk",)), ("fr", (".fr", ".co.uk"))]


@pytest.mark.parametrize(
    ("sender", "language"),
    [
        ("anna@wdr.de", "de"),
        ("Anna@Example.AT", "de"),
        ("john@bbc.uk", "en"),
        ("jean@example.co.uk", "fr"),
        ("x@fde", "en"),
        ("x@example.com", "en"),
        ("", "en"),
        ("no-at-sign.de", "de"),
    ],
)
def test_language_follows_the_longest_domain_suffix(sender: str, language: str) -> None:
    assert language_for(sender, RULES) == language


def test_language_default_is_configurable() -> None:
    assert language_for("x@example.com", RULES, default="de") == "de"


def test_shipped_english_templates_are_complete() -> None:
    assert {path.stem for path in (TEMPLATES_DIR / "en").glob("*.j2")} >= set(AUDIENCES)


def test_hot_path_modules_do_not_import_jinja2() -> None:
    code = (
        "import sys, qmvc.actions.maildir, qmvc.actions.inject, qmvc.logs.line, qmvc.logs.rep;"
        "print(sorted(m for m in ('jinja2', 'email', 'smtplib', 'subprocess') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert out.stdout.strip() == "[]", out.stderr


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("outcome", OUTCOMES)
@pytest.mark.parametrize("audience", AUDIENCES)
def test_every_shipped_template_renders_every_outcome(
    audience: str, outcome: str, language: str
) -> None:
    assert (TEMPLATES_DIR / language / f"{audience}.j2").is_file()
    for ctx in sample_contexts(outcome):
        notice = parse(render_notice(audience, language, ctx, "qmvc@wdr.de", "a@wdr.de"))
        assert list(notice.keys()) == EXPECTED_HEADERS
        assert notice["Subject"].strip() and notice.get_content().strip()
        assert notice.defects == []


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("audience", ["recipient", "sender"])
def test_a_virus_notice_says_which_engine_found_what_in_which_attachment(
    audience: str, language: str
) -> None:
    [ctx, _] = sample_contexts("virus")
    body = parse(render_notice(audience, language, ctx, "q@wdr.de", "a@wdr.de")).get_content()
    assert "clamav" in body and "Eicar-Test-Signature" in body
    assert "invoice.zip › invoice.exe" in body


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("audience", ["recipient", "sender"])
def test_the_guard_to_ask_is_the_one_for_the_outcome(audience: str, language: str) -> None:
    virus = Verdict("virus", "p", 99, scanners=[ScannerReport("clamav", "ran", ("X",))])
    badmail = Verdict("badmail", "p", 99, [CriterionMatch("filename", "love.vbs", NO_SPAN)])
    virus_text = parse(
        render_notice(audience, language, context(virus, guard="av@wdr.de"), "q@wdr.de", "a@wdr.de")
    ).get_content()
    badmail_text = parse(
        render_notice(
            audience, language, context(badmail, guard="bm@wdr.de"), "q@wdr.de", "a@wdr.de"
        )
    ).get_content()
    assert "av@wdr.de" in virus_text and "bm@wdr.de" in badmail_text
    officer = {"en": "anti-virus", "de": "Virenschutz", "fr": "antivirus", "ru": "антивирус"}
    assert officer[language].lower() in virus_text.lower()
    assert officer[language].lower() not in badmail_text.lower()
