"""What the analysis finds in each corpus message: names, types, text, defects."""

from __future__ import annotations

from pathlib import Path

import pytest

from qmvc.message import Envelope, MessageFacts
from tests.corpus import make_corpus

CORPUS = Path(make_corpus.__file__).parent
PE = {"application/vnd.microsoft.portable-executable", "application/x-dosexec"}
ENVELOPE = Envelope.from_addresses(make_corpus.SENDER, make_corpus.RECIPIENT)


def facts(name: str) -> MessageFacts:
    return MessageFacts((CORPUS / name).read_bytes(), ENVELOPE)


def names(message: MessageFacts) -> list[str]:
    return [attachment.filename for attachment in message.attachments]


def test_committed_corpus_is_what_the_generator_builds(tmp_path: Path) -> None:
    make_corpus.main(tmp_path)
    for built in sorted(tmp_path.iterdir()):
        assert built.read_bytes() == (CORPUS / built.name).read_bytes(), built.name


def test_corpus_has_enough_messages_and_every_file_is_described() -> None:
    files = {path.name for path in CORPUS.glob("*.eml")}
    assert len(files) >= 45
    assert files == {entry.name for entry in make_corpus.CORPUS}


CLEAN_BODIES = {
    "clean-plain-ascii.eml": "lunch on Friday",
    "clean-latin1-qp.eml": "Grüße aus München",
    "clean-utf8-base64.eml": "naïve café ☕",
    "clean-koi8r.eml": "Встреча в пятницу",
    "clean-iso2022jp.eml": "会議は金曜日です",
    "clean-windows1252-8bit.eml": "“Price”: 5 €",
    "clean-unknown-charset.eml": "Zürich",
    "clean-html-only.eml": "Numbers from R&D are in.",
    "clean-crlf-line-endings.eml": "carriage returns",
    "clean-forwarded-message.eml": "Lunch at noon?",
    "body-phrase.eml": "Click here to claim your prize",
    "body-phrase-in-html.eml": "WIN a FREE iPhone!",
    "hostile-bad-charset-codec.eml": "plain words",
    "hostile-no-headers.eml": "Just a body and nothing else.",
}


@pytest.mark.parametrize(("name", "phrase"), sorted(CLEAN_BODIES.items()))
def test_body_text_is_decoded_from_any_charset(name: str, phrase: str) -> None:
    message = facts(name)
    assert phrase in message.body_text
    assert message.defects == []


def test_html_is_reduced_to_visible_text() -> None:
    body = facts("clean-html-only.eml").body_text
    assert "Quarterly report" in body
    assert "<" not in body and "color" not in body and "alert" not in body


def test_script_and_style_hidden_in_html_are_not_body_text() -> None:
    assert "hidden" not in facts("body-phrase-in-html.eml").body_text


def test_alternative_parts_are_both_body_text_and_neither_is_an_attachment() -> None:
    message = facts("clean-multipart-alternative.eml")
    assert message.body_text.count("January newsletter") == 2
    assert message.attachments == []


def test_plain_message_has_no_attachments() -> None:
    assert facts("clean-plain-ascii.eml").attachments == []


ATTACHMENTS = {
    # file: [(filename, declared type, sniffed type or "PE")]
    "clean-pdf-attachment.eml": [("report.pdf", "application/pdf", "application/pdf")],
    "clean-zip-attachment.eml": [("docs.zip", "application/zip", "application/zip")],
    "clean-inline-png-related.eml": [("logo.png", "image/png", "image/png")],
    "clean-text-attachment.eml": [("notes.txt", "text/plain", "text/plain")],
    "clean-calendar-invite.eml": [("invite.ics", "text/calendar", "text/calendar")],
    "clean-8bit-headers.eml": [("Rechnung_März.pdf", "application/pdf", "application/pdf")],
    "sample-exe-attachment.eml": [("Invoice_48213.pdf", "application/pdf", "PE")],
    "exe-declared-as-pdf.eml": [("invoice.pdf", "application/pdf", "PE")],
    "exe-declared-as-text.eml": [("readme.txt", "text/plain", "PE")],
    "exe-no-name-octet-stream.eml": [("", "application/octet-stream", "PE")],
    "exe-uuencoded.eml": [("setup.exe", "application/octet-stream", "PE")],
    "double-ext-plain-name.eml": [("invoice.pdf.exe", "application/octet-stream", "PE")],
    "double-ext-rfc2047-name.eml": [("invoice.pdf.exe", "application/pdf", "PE")],
    "double-ext-rfc2231-name.eml": [("invoice.pdf.exe", "application/pdf", "PE")],
    "rfc2231-continuations.eml": [
        ("Jahresübersicht 2023.pdf.exe", "application/octet-stream", "PE")
    ],
    "rfc2231-latin1-name.eml": [("Rechnung_März.pdf", "application/pdf", "application/pdf")],
    "rfc2047-q-name.eml": [("Prüfbericht final.pdf", "application/pdf", "application/pdf")],
    "rfc2047-split-name.eml": [("Überweisung.pdf.exe", "application/pdf", "PE")],
    "name-only-in-content-type.eml": [("payload.exe", "application/x-msdownload", "PE")],
    "script-vbs-attachment.eml": [("run.vbs", "text/vbscript", "text/plain")],
    "script-js-attachment.eml": [("invoice.js", "application/javascript", "text/plain")],
    "script-scr-attachment.eml": [("holiday.scr", "application/octet-stream", "PE")],
    "script-pif-attachment.eml": [("document.pif", "application/octet-stream", "PE")],
    "eicar-attachment.eml": [("eicar.com", "application/octet-stream", "text/plain")],
    "hostile-path-traversal-name.eml": [("../../etc/passwd", "text/plain", "text/plain")],
    "hostile-rtlo-name.eml": [("invoicefdp.exe", "application/pdf", "PE")],
    "hostile-unterminated.eml": [("cut.exe", "application/octet-stream", "PE")],
    "hostile-invalid-base64.eml": [("broken.pdf", "application/pdf", "application/pdf")],
}


@pytest.mark.parametrize(("name", "expected"), sorted(ATTACHMENTS.items()))
def test_attachment_names_declared_and_sniffed_types(
    name: str, expected: list[tuple[str, str, str]]
) -> None:
    found = [
        (a.filename, a.declared_type, "PE" if a.sniffed_type in PE else a.sniffed_type)
        for a in facts(name).attachments
    ]
    assert found == expected


def test_a_bidi_override_is_kept_in_the_raw_name_and_dropped_from_the_saved_one() -> None:
    [attachment] = facts("hostile-rtlo-name.eml").attachments
    assert [(c.raw, c.name) for c in attachment.names] == [
        ("invoice\u202efdp.exe", "invoicefdp.exe")
    ]


def test_greeting_stays_body_when_a_file_is_attached() -> None:
    message = facts("exe-declared-as-pdf.eml")
    assert "please find the file attached" in message.body_text
    assert [a.path for a in message.attachments] == ["2"]


def test_attachment_size_is_decoded_bytes() -> None:
    assert [a.size for a in facts("exe-declared-as-pdf.eml").attachments] == [1024]
    assert [a.size for a in facts("eicar-attachment.eml").attachments] == [68]
    assert [a.size for a in facts("exe-uuencoded.eml").attachments] == [1024]


def test_text_part_marked_attachment_is_not_body_text() -> None:
    message = facts("clean-text-attachment.eml")
    assert "secret notes" not in message.body_text
    assert message.attachments[0].content == b"secret notes"


def test_executable_in_attached_message_is_found_with_its_position() -> None:
    message = facts("nested-rfc822-with-exe.eml")
    exe = [a for a in message.attachments if a.filename == "invoice.exe"]
    assert [(a.path, a.depth, a.sniffed_type in PE) for a in exe] == [("2.2", 3, True)]


def test_text_of_an_attached_message_is_body_text_and_an_attachment() -> None:
    message = facts("clean-forwarded-message.eml")
    assert "See below." in message.body_text and "Lunch at noon?" in message.body_text
    assert [(a.path, a.declared_type) for a in message.attachments] == [("2.1", "text/plain")]


def test_subject_encoded_words_are_decoded_and_joined() -> None:
    assert facts("subject-rfc2047.eml").subject == "Ihre Bestellung über 50 € ist unterwegs"
    assert facts("clean-iso2022jp.eml").subject == "会議"
    assert facts("sample-exe-attachment.eml").subject == "Rechnung Nr. 48213 – bitte begleichen"


def test_broken_encoded_word_is_kept_raw_and_unknown_charset_falls_back() -> None:
    assert facts("subject-broken-encoding.eml").subject == "=?utf-8?B?!!!?= and café"


def test_raw_8bit_header_is_read_as_utf8() -> None:
    assert facts("clean-8bit-headers.eml").subject == "Grüße aus München"


def test_header_returns_every_value_decoded_whatever_the_name_case() -> None:
    message = facts("sample-exe-attachment.eml")
    assert message.header("DELIVERED-TO") == ["bob@example.com"]
    assert len(message.header("received")) == 2
    assert message.header("received")[1].startswith("from mail.example-supplies.test")
    assert message.header("x-absent") == []
    assert message.message_id == "<20240102091405.48213@mail.example-supplies.test>"


def test_null_sender_bounce_keeps_report_and_returned_headers() -> None:
    message = facts("null-sender-bounce.eml")
    assert message.header("return-path") == ["<>"]
    assert "qmail-send program" in message.body_text
    assert "Status: 5.1.1" in message.body_text  # the report is read in place, as clients show it
    assert "message/delivery-status" not in [a.declared_type for a in message.attachments]


def test_injected_line_breaks_never_reach_subject_or_names() -> None:
    message = facts("hostile-header-injection.eml")
    assert message.subject == "a  X-Injected: 1"
    assert names(message) == ["reportX-Injected: 1.pdf"]


def test_scan_parts_are_every_decoded_leaf_with_its_name() -> None:
    parts = facts("exe-declared-as-pdf.eml").scan_parts()
    assert [part.name for part in parts] == ["", "invoice.pdf"]
    assert parts[1].content[:2] == b"MZ"
    assert parts[0].content == b"Hello Bob,\n\nplease find the file attached."


def test_eicar_attachment_decodes_to_the_test_string() -> None:
    [part] = [p for p in facts("eicar-attachment.eml").scan_parts() if p.name == "eicar.com"]
    assert part.content == make_corpus.eicar()


DEFECTS = {
    "hostile-missing-boundary.eml": "multipart without a boundary parameter",
    "hostile-boundary-not-found.eml": "boundary never appears",
    "hostile-unterminated.eml": "not terminated",
    "hostile-10000-parts.eml": "more than 1000 parts",
    "hostile-deep-nesting-100.eml": "nested deeper than 20 levels",
    "hostile-deep-rfc822-nesting.eml": "nested deeper than 20 levels",
    "hostile-nul-bytes.eml": "NUL bytes",
    "hostile-invalid-base64.eml": "invalid base64 (characters outside the alphabet)",
    "hostile-random-bytes.eml": "a header line without a colon",
}


@pytest.mark.parametrize(("name", "defect"), sorted(DEFECTS.items()))
def test_hostile_message_records_its_defect(name: str, defect: str) -> None:
    assert any(defect in found for found in facts(name).defects)


def test_base64_with_junk_and_bad_padding_records_each_defect_once() -> None:
    assert facts("hostile-invalid-base64.eml").defects == [
        "part 2: invalid base64 (characters outside the alphabet)",
        "part 2: invalid base64 (truncated or badly padded)",
    ]


@pytest.mark.parametrize(
    "name", sorted(n for n in CLEAN_BODIES.keys() | ATTACHMENTS.keys() if "hostile" not in n)
)
def test_well_formed_message_has_no_defects(name: str) -> None:
    assert facts(name).defects == []
