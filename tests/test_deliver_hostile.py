"""Hostile messages and envelopes: each delivers or defers, never crashes, and qmvc.log keeps
exactly one parseable line per delivery whatever the sender, subject or file names hold."""

from __future__ import annotations

import random
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.deliver_support import (
    PROJECT,
    Delivery,
    QmailSetup,
    assert_no_traceback,
    badmail_message,
    clean_message,
    files_under,
    prepended,
    qmail_setup,
)

CORPUS = sorted((PROJECT / "tests" / "corpus").glob("*.eml"))
QMAIL_OUTCOMES = {0, 99, 111}


@pytest.fixture
def qmail(tmp_path: Path) -> QmailSetup:
    return qmail_setup(tmp_path, "hostile.qmvc")


def assert_handled(qmail: QmailSetup, delivery: Delivery, deliveries_so_far: int = 1) -> None:
    """A qmail exit code, no traceback, one more log line, and a kept file that is whole."""
    assert delivery.returncode in QMAIL_OUTCOMES, delivery.stderr
    assert_no_traceback(delivery.stderr)
    records = qmail.log_records()
    assert len(records) == deliveries_so_far
    assert records[-1].exit_code == delivery.returncode
    assert records[-1].size == len(delivery.message)
    assert "F" not in dict(records[-1].scanners).values(), delivery.stderr
    kept = [path.read_bytes() for path in files_under(qmail.qmvc_dir)]
    if delivery.returncode == 99:
        assert prepended(delivery.environ) + delivery.message in kept
    assert files_under(qmail.qmvc_dir, "tmp") == []


def test_corpus_is_there() -> None:
    assert CORPUS, "tests/corpus/*.eml is missing"


@pytest.mark.parametrize("eml", CORPUS, ids=[path.name for path in CORPUS])
def test_corpus_message_delivers_or_defers(qmail: QmailSetup, eml: Path) -> None:
    assert_handled(qmail, qmail.deliver(eml.read_bytes()))


def _random_bytes() -> bytes:
    return random.Random(4711).randbytes(256 * 1024)


def _ten_thousand_parts() -> bytes:
    boundary = "b"
    parts = "".join(f"--{boundary}\nContent-Type: text/plain\n\npart {n}\n" for n in range(10_000))
    header = "From: a@example.org\nSubject: parts\nMIME-Version: 1.0\n"
    header += f"Content-Type: multipart/mixed; boundary={boundary}\n\n"
    return (header + parts + f"--{boundary}--\n").encode()


def _megabyte_header_line() -> bytes:
    return b"From: a@example.org\nSubject: " + b"x" * 1_048_576 + b"\n\nbody\n"


def _hostile_names_and_subject() -> bytes:
    message = EmailMessage()
    message["From"] = "a@example.org"
    message["Subject"] = "=?utf-8?q?line=0Abreak=0D=7C|pipe=25?="
    message.set_content("hello")
    names: list[str | tuple[str, str, str]] = [
        "../../etc/passwd",
        ("utf-8", "", "a|b\nc\r.txt"),
        ("utf-8", "", "\x00.exe"),
        "\u202eexe.txt",
        "%00.pdf",
        "con",
        "x" * 300,
    ]
    for name in names:
        message.add_attachment(
            b"data", maintype="application", subtype="octet-stream", filename=name
        )
    return message.as_bytes()


def _nul_and_8bit_everywhere() -> bytes:
    return b"From: \xff\xfe\x00@example.org\nSubject: \x00\xff|\r\n\r\nbody \x00\xff\r\n.\r\n"


@pytest.mark.parametrize(
    "make",
    [
        _random_bytes,
        _ten_thousand_parts,
        _megabyte_header_line,
        _hostile_names_and_subject,
        _nul_and_8bit_everywhere,
    ],
)
def test_generated_hostile_message_delivers_or_defers(qmail: QmailSetup, make) -> None:  # type: ignore[no-untyped-def]
    assert_handled(qmail, qmail.deliver(make()))


HOSTILE_ADDRESSES = [
    "a|b@example.org",
    "evil\n@example.org",
    "evil\r\nqmvc Pid:1|20010101 00:00:00|x|y|||RC:0|00:00:00@example.org",
    "%7C%0A@example.org",
    "\udcff\udcfe@example.org",  # bytes that are not UTF-8, as os.environ gives them
    "ünïcödé@exämple.org",
    "",
]


@pytest.mark.parametrize("address", HOSTILE_ADDRESSES)
@pytest.mark.parametrize("message", [clean_message, badmail_message], ids=["clean", "badmail"])
def test_hostile_envelope_keeps_log_one_line(qmail: QmailSetup, address: str, message) -> None:  # type: ignore[no-untyped-def]
    environ = qmail.environ(sender=address)
    environ["RECIPIENT"] = address or "bob@example.com"
    delivery = qmail.deliver(message(), environ)
    assert_handled(qmail, delivery)
    [record] = qmail.log_records()
    if "\\udc" not in ascii(address):  # surrogates: the log holds the bytes, escaped
        assert (record.sender, record.recipient) == (address, environ["RECIPIENT"])


def test_many_hostile_deliveries_leave_one_line_each(qmail: QmailSetup) -> None:
    """The log and the report stay in step across mixed hostile deliveries in one directory."""
    badmail = 0
    for count, address in enumerate(HOSTILE_ADDRESSES, start=1):
        delivery = qmail.deliver(_hostile_names_and_subject(), qmail.environ(sender=address))
        assert_handled(qmail, delivery, count)
        badmail += delivery.returncode == 99
    assert qmail.report_text().count("\n=== qmvc report ") + 1 == badmail
