"""What MessageFacts says about the parts of one message: the names a rule tests and where
each came from, the members and types of an attached archive, where a scanner's part sits."""

from __future__ import annotations

import base64
import io
import zipfile

import pytest

from qmvc.message import Envelope
from qmvc.message.containers import archives
from qmvc.message.facts import MessageFacts, _enclosing_paths

ENVELOPE = Envelope("anna@example.org", "bob@example.com", "bob", "example.com", "")
MZ = b"MZ\x90\x00" + bytes(200)


def zip_of(name: str, content: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(name, content)
    return out.getvalue()


def message_with(*parts: tuple[str, bytes]) -> bytes:
    """A multipart/mixed message: a text body, then each (Content-Type value, content)."""
    lines = [
        b"From: anna@example.org\nSubject: t\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nhello\n"
    ]
    for content_type, content in parts:
        lines.append(
            b"--B\nContent-Type: " + content_type.encode() + b"\n"
            b"Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(content)
        )
    lines.append(b"--B--\n")
    return b"".join(lines)


def test_an_attached_zip_gives_its_members_names_and_sniffed_types() -> None:
    facts = MessageFacts(
        message_with(('application/zip; name="docs.zip"', zip_of("inner/run.exe", MZ))), ENVELOPE
    )
    (docs,) = facts.attachments
    assert [(m.raw, m.name, m.source) for m in docs.member_names] == [
        ("inner/run.exe", "inner/run.exe", "member of docs.zip")
    ]
    assert ("application/x-dosexec", "docs.zip › inner/run.exe") in docs.type_values
    assert ("inner/run.exe", "docs.zip › inner/run.exe") in docs.name_values


def test_a_part_that_is_no_archive_has_no_members_and_no_archive_defects() -> None:
    (plain,) = MessageFacts(
        message_with(('application/octet-stream; name="run.exe"', MZ)), ENVELOPE
    ).attachments
    assert plain.member_names == []
    assert plain.type_values == [("application/x-dosexec", "part 2")]
    assert plain.archive_defects == ([], [])


def test_a_name_is_shown_with_its_raw_form_only_when_that_differs() -> None:
    raw = message_with(
        ('application/octet-stream; name="evil.exe "', MZ),
        ('application/octet-stream; name="plain.exe"', MZ),
    )
    trailing, plain = MessageFacts(raw, ENVELOPE).attachments
    assert trailing.name_values == [
        ("evil.exe", "part 2, Content-Type name, raw 'evil.exe '"),
        ("evil.exe ", "part 2, Content-Type name, raw 'evil.exe '"),
    ]
    assert plain.name_values == [("plain.exe", "part 3, Content-Type name")]


def test_an_archive_reader_that_fails_leaves_the_part_unanalysed_naming_the_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fault injected: a bug in the archive reader (none is known) must not raise out of
    the facts, whose callers decide a delivery."""

    def failing_reader(content: bytes, **_options: object) -> object:
        raise RuntimeError("injected")

    monkeypatch.setattr(archives, "archive_members", failing_reader)
    (docs,) = MessageFacts(
        message_with(('application/zip; name="docs.zip"', zip_of("a.txt", b"a"))), ENVELOPE
    ).attachments
    assert docs.archive_defects == ([], ["part 2 (docs.zip): archive not readable (RuntimeError)"])


def test_scan_parts_say_where_a_person_finds_each_part() -> None:
    forwarded = (
        b"From: carl@example.net\nSubject: inner\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/mixed; boundary=I\n\n--I\nContent-Type: text/plain\n\nhi\n"
        b'--I\nContent-Type: application/octet-stream; name="setup.exe"\n'
        b"Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(MZ) + b"--I--\n"
    )
    raw = (
        b"From: anna@example.org\nSubject: t\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nhello\n"
        b'--B\nContent-Type: message/rfc822; name="fwd.eml"\n\n' + forwarded + b"--B--\n"
    )
    located = {part.name: part.location for part in MessageFacts(raw, ENVELOPE).scan_parts()}
    assert located["setup.exe"] == "fwd.eml › setup.exe"


@pytest.mark.parametrize(
    ("path", "enclosing"),
    [
        ("1", []),
        ("1.2.3", ["1.2", "1"]),
        ("1.2#1", ["1.2", "1"]),
        ("2#1", ["2"]),
        ("1.2.3.4#2", ["1.2.3.4", "1.2.3", "1.2", "1"]),
        ("1.2#1#2", ["1.2", "1"]),
    ],
)
def test_the_enclosing_paths_of_a_part_are_listed_nearest_first(
    path: str, enclosing: list[str]
) -> None:
    assert _enclosing_paths(path) == enclosing
