"""Builds the message corpus deterministically: `python3 tests/corpus/make_corpus.py` rewrites the
.eml files and README.md beside it. Messages too large to commit are built at test time by the
functions named in LARGE.

Every message is written out by hand (no random boundaries), carries its envelope the way qmail
records it (Return-Path, Delivered-To), and is named for what it shows.
"""

from __future__ import annotations

import base64
import binascii
import io
import random
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent
SENDER = "alice@example.org"
RECIPIENT = "bob@example.com"


@dataclass(frozen=True)
class Entry:
    """One corpus message: its file name, what it shows and the facts it should yield."""

    name: str
    shows: str
    expected: str
    build: Callable[[], bytes]


# ---- pieces ---------------------------------------------------------------------------------


def tiny_pe(dll: bool = False) -> bytes:
    """A minimal well-formed PE32 executable (1 KB): libmagic calls it a PE (or dosexec)."""
    dos = bytearray(0x80)
    dos[0:2] = b"MZ"
    struct.pack_into("<13H", dos, 2, 0x90, 3, 0, 4, 0, 0xFFFF, 0, 0xB8, 0, 0, 0, 0x40, 0)
    struct.pack_into("<I", dos, 0x3C, 0x80)
    stub = b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21"
    stub += b"This program cannot be run in DOS mode.\r\r\n$"
    dos[0x40 : 0x40 + len(stub)] = stub
    characteristics = 0x2102 if dll else 0x0102
    coff = struct.pack("<4sHHIIIHH", b"PE\0\0", 0x14C, 1, 0, 0, 0, 0xE0, characteristics)
    optional = bytearray(0xE0)
    struct.pack_into(
        "<HBBIIIIIII", optional, 0, 0x10B, 14, 0, 0x200, 0, 0, 0x1000, 0x1000, 0x2000, 0x400000
    )
    struct.pack_into(
        "<IIHHHHHHIIIIHH", optional, 32, 0x1000, 0x200, 6, 0, 0, 0, 6, 0, 0, 0x2000, 0x200, 0, 2, 0
    )
    struct.pack_into("<IIIIII", optional, 72, 0x100000, 0x1000, 0x100000, 0x1000, 0, 16)
    section = struct.pack(
        "<8sIIIIIIHHI", b".text", 0x1000, 0x1000, 0x200, 0x200, 0, 0, 0, 0, 0x60000020
    )
    head = bytes(dos) + coff + bytes(optional) + section
    return head + bytes(0x200 - len(head)) + b"\xc3" + bytes(0x1FF)


def tiny_pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
        b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )


def tiny_png() -> bytes:
    """A 1x1 red PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def zip_of(files: Iterable[tuple[str, bytes]]) -> bytes:
    """A zip with fixed timestamps, so the corpus is the same on every run."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 2, 3, 4, 5)), data)
    return buffer.getvalue()


def eicar() -> bytes:
    """The EICAR test string, assembled so that this source file itself is not it."""
    return b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-" + b"TEST-FILE!$H+H*"


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


def rfc2047_b(text: str) -> str:
    return "=?utf-8?B?" + base64.b64encode(text.encode()).decode() + "?="


def envelope_headers(
    subject: str,
    *,
    sender: str = SENDER,
    recipient: str = RECIPIENT,
    mime: bool = True,
    extra: str = "",
) -> str:
    """The header block qmail-local leaves: Return-Path and Delivered-To first."""
    return (
        f"Return-Path: <{sender}>\n"
        f"Delivered-To: {recipient}\n"
        f"Received: (qmail 4242 invoked from network); 2 Jan 2024 10:00:00 -0000\n"
        f"From: Alice Example <{sender or 'MAILER-DAEMON@mx.example.org'}>\n"
        f"To: Bob Example <{recipient}>\n"
        f"Subject: {subject}\n"
        f"Date: Tue, 2 Jan 2024 10:00:00 +0000\n"
        f"Message-ID: <{abs(hash_text(subject))}@example.org>\n"
        + ("MIME-Version: 1.0\n" if mime else "")
        + extra
    )


def hash_text(text: str) -> int:
    """A stable number for Message-IDs (str hashes change between runs)."""
    return zlib.crc32(text.encode("utf-8", "surrogateescape"))


def part(content_type: str, body: str, *, encoding: str = "", disposition: str = "") -> str:
    lines = [f"Content-Type: {content_type}"]
    if encoding:
        lines.append(f"Content-Transfer-Encoding: {encoding}")
    if disposition:
        lines.append(f"Content-Disposition: {disposition}")
    return "\n".join(lines) + "\n\n" + body


def multipart(parts: list[str], *, boundary: str = "=_qmvc_b1", closed: bool = True) -> str:
    body = "".join(f"--{boundary}\n{p.rstrip(chr(10))}\n" for p in parts)
    return body + (f"--{boundary}--\n" if closed else "")


def single(subject: str, content_type: str, body: str, *, encoding: str = "", **kw: str) -> bytes:
    headers = envelope_headers(subject, **kw) + f"Content-Type: {content_type}\n"
    if encoding:
        headers += f"Content-Transfer-Encoding: {encoding}\n"
    return (headers + "\n" + body).encode("utf-8", "surrogateescape")


def mixed(
    subject: str, parts: list[str], *, subtype: str = "mixed", boundary: str = "=_qmvc_b1"
) -> bytes:
    headers = envelope_headers(subject) + (
        f'Content-Type: multipart/{subtype}; boundary="{boundary}"\n\n'
        "This is a multi-part message in MIME format.\n\n"
    )
    return (headers + multipart(parts, boundary=boundary)).encode("utf-8", "surrogateescape")


GREETING = part("text/plain; charset=us-ascii", "Hello Bob,\n\nplease find the file attached.\n")


def with_attachment(subject: str, attachment: str) -> bytes:
    return mixed(subject, [GREETING, attachment])


def binary_attachment(content_type: str, name_params: str, data: bytes) -> str:
    """An attachment as clients send it; `name_params` is the raw filename parameter text."""
    return part(
        content_type,
        b64(data),
        encoding="base64",
        disposition=f"attachment; {name_params}",
    )


# ---- the messages ---------------------------------------------------------------------------


def clean_koi8r() -> bytes:
    text = "Здравствуйте, Боб!\n\nВстреча в пятницу в 10 часов.\n"
    return single("Meeting", "text/plain; charset=koi8-r", "", encoding="8bit") + text.encode(
        "koi8-r"
    )


def clean_iso2022jp() -> bytes:
    body = "こんにちは、ボブさん。会議は金曜日です。\n".encode("iso-2022-jp").decode("ascii")
    subject = "=?iso-2022-jp?B?" + base64.b64encode("会議".encode("iso-2022-jp")).decode() + "?="
    return single(subject, "text/plain; charset=iso-2022-jp", body, encoding="7bit")


def clean_8bit_headers() -> bytes:
    return mixed(
        "Grüße aus München",
        [
            part("text/plain; charset=utf-8", "Die Rechnung für März.\n", encoding="8bit"),
            binary_attachment("application/pdf", 'filename="Rechnung_März.pdf"', tiny_pdf()),
        ],
    )


def clean_forwarded() -> bytes:
    inner = (
        "From: Carol <carol@example.net>\nTo: Alice <alice@example.org>\n"
        "Subject: Lunch\nDate: Mon, 1 Jan 2024 12:00:00 +0000\n"
        "Content-Type: text/plain; charset=us-ascii\n\nLunch at noon?\n"
    )
    return mixed(
        "Fwd: Lunch",
        [
            part("text/plain; charset=us-ascii", "See below.\n"),
            part("message/rfc822", inner, disposition="inline"),
        ],
    )


def nested_rfc822_with_exe() -> bytes:
    inner = envelope_headers("Your invoice", sender="billing@example.net") + (
        'Content-Type: multipart/mixed; boundary="=_inner"\n\n'
        + multipart(
            [
                part("text/plain", "Invoice attached.\n"),
                binary_attachment("application/octet-stream", 'filename="invoice.exe"', tiny_pe()),
            ],
            boundary="=_inner",
        )
    )
    return mixed(
        "Fwd: Your invoice",
        [
            part("text/plain", "Is this real?\n"),
            part("message/rfc822", inner, disposition='attachment; filename="invoice.eml"'),
        ],
    )


def null_sender_bounce() -> bytes:
    original = "From: Bob <bob@example.com>\nTo: nobody@example.invalid\nSubject: hello\n\n"
    headers = envelope_headers(
        "failure notice",
        sender="",
        extra='Content-Type: multipart/report; report-type=delivery-status; boundary="=_bounce"\n',
    )
    return (
        headers
        + "\n"
        + multipart(
            [
                part(
                    "text/plain; charset=us-ascii",
                    "Hi. This is the qmail-send program at mx.example.org.\n"
                    "I'm afraid I wasn't able to deliver your message.\n",
                ),
                part(
                    "message/delivery-status",
                    "Reporting-MTA: dns; mx.example.org\n\n"
                    "Final-Recipient: rfc822; nobody@example.invalid\n"
                    "Action: failed\nStatus: 5.1.1\n",
                ),
                part("message/rfc822", original),
            ],
            boundary="=_bounce",
        )
    ).encode()


def nested_multiparts(levels: int) -> str:
    """`levels` multiparts each inside the previous, a text part at the bottom."""
    body = part("text/plain", "bottom\n")
    for level in range(levels, 0, -1):
        boundary = f"=_level{level}"
        body = f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n' + multipart(
            [body], boundary=boundary
        )
    return body


def deep_rfc822_with_exe(levels: int) -> bytes:
    inner = part(
        "application/octet-stream",
        b64(tiny_pe()),
        encoding="base64",
        disposition='attachment; filename="deep.exe"',
    )
    for level in range(levels):
        inner = f"Subject: level {level}\nContent-Type: message/rfc822\n\n" + inner
    return (envelope_headers("Deeply forwarded") + inner).encode()


def many_parts(count: int) -> bytes:
    headers = envelope_headers("Many parts") + 'Content-Type: multipart/mixed; boundary="b"\n\n'
    return (headers + "--b\n\nx\n" * count + "--b--\n").encode()


def huge_header() -> bytes:
    params = "".join(f" p{n}=v;" for n in range(100_000))
    return single("Huge header", f"text/plain;{params} charset=us-ascii", "Small body.\n")


def random_bytes() -> bytes:
    return random.Random(1337).randbytes(64 * 1024)


def fifty_megabyte_attachment() -> bytes:
    """50 MB: a text part and a base64 attachment of about 37 MB of zeros after a PE header."""
    data = tiny_pe() + bytes(37 * 1024 * 1024)
    return with_attachment(
        "Big file", binary_attachment("application/octet-stream", 'filename="big.bin"', data)
    )


def invalid_base64() -> bytes:
    broken = b64(tiny_pdf())[:-6] + "!!not*base64~~\nQUJ\n"
    return with_attachment(
        "Broken base64",
        part(
            "application/pdf",
            broken,
            encoding="base64",
            disposition='attachment; filename="broken.pdf"',
        ),
    )


def html_phrase() -> bytes:
    html = (
        "<html><head><style>p {color: red}</style><script>var x = 'hidden';</script></head>"
        "<body><p>Congratulations! You have been selected to <b>WIN</b>&nbsp;a&nbsp;FREE "
        "iPhone&#33;</p><p>Claim &amp; enjoy.</p></body></html>\n"
    )
    return single("You won", "text/html; charset=utf-8", html)


def uuencoded_exe() -> bytes:
    lines = ["begin 644 setup.exe"]
    data = tiny_pe()
    lines += [
        binascii.b2a_uu(data[i : i + 45]).decode().rstrip("\n") for i in range(0, len(data), 45)
    ]
    lines += ["`", "end"]
    return with_attachment(
        "Setup",
        part(
            "application/octet-stream",
            "\n".join(lines) + "\n",
            encoding="x-uuencode",
            disposition='attachment; filename="setup.exe"',
        ),
    )


SAMPLE_INVOICE = (
    "Dear customer,\n\n"
    "thank you for your order #48213. Your invoice is attached as a PDF.\n"
    "Please settle the amount of EUR 1,240.00 within 7 days.\n\n"
    "Kind regards,\nAccounts Department\nExample Supplies Ltd.\n"
)


def sample_exe_attachment() -> bytes:
    """The README's demo: a realistic invoice mail whose "PDF" is a Windows executable."""
    headers = (
        "Return-Path: <billing@example-supplies.test>\n"
        "Delivered-To: bob@example.com\n"
        "Received: (qmail 31337 invoked from network); 2 Jan 2024 09:14:07 -0000\n"
        "Received: from mail.example-supplies.test (HELO mail.example-supplies.test) "
        "(203.0.113.7)\n  by mx.example.com with SMTP; 2 Jan 2024 09:14:07 -0000\n"
        "From: Example Supplies Accounts <billing@example-supplies.test>\n"
        "To: Bob Example <bob@example.com>\n"
        f"Subject: {rfc2047_b('Rechnung Nr. 48213 – bitte begleichen')}\n"
        "Date: Tue, 2 Jan 2024 10:14:05 +0100\n"
        "Message-ID: <20240102091405.48213@mail.example-supplies.test>\n"
        "MIME-Version: 1.0\n"
        "X-Mailer: Microsoft Outlook 16.0\n"
        'Content-Type: multipart/mixed; boundary="----=_NextPart_000_0012_01DA3D5F"\n\n'
        "This is a multi-part message in MIME format.\n\n"
    )
    body = multipart(
        [
            part(
                'multipart/alternative; boundary="----=_NextPart_001_0013"',
                multipart(
                    [
                        part("text/plain; charset=utf-8", SAMPLE_INVOICE, encoding="8bit"),
                        part(
                            "text/html; charset=utf-8",
                            "<html><body><p>"
                            + SAMPLE_INVOICE.replace("\n\n", "</p><p>").replace("\n", "<br>")
                            + "</p></body></html>\n",
                            encoding="8bit",
                        ),
                    ],
                    boundary="----=_NextPart_001_0013",
                ),
            ),
            binary_attachment(
                'application/pdf; name="Invoice_48213.pdf"',
                'filename="Invoice_48213.pdf"',
                tiny_pe(),
            ),
        ],
        boundary="----=_NextPart_000_0012_01DA3D5F",
    )
    return (headers + body).encode()


def header_injection() -> bytes:
    return with_attachment(
        "=?utf-8?Q?a=0D=0AX-Injected:_1?=",
        binary_attachment(
            "application/pdf",
            'filename="=?utf-8?Q?report=0D=0AX-Injected:_1.pdf?="',
            tiny_pdf(),
        ),
    )


def rfc2047_split_name() -> bytes:
    """Outlook-style: one name as two encoded words, a multi-byte character cut between them."""
    data = "Überweisung.pdf.exe".encode()
    first, second = data[:1], data[1:]
    words = "=?utf-8?B?" + base64.b64encode(first).decode() + "?= =?utf-8?B?"
    words += base64.b64encode(second).decode() + "?="
    return with_attachment(
        "Transfer",
        binary_attachment(f'application/pdf; name="{words}"', f'filename="{words}"', tiny_pe()),
    )


def script(name: str, content_type: str, data: bytes) -> Callable[[], bytes]:
    return lambda: with_attachment(
        f"Document {name}", binary_attachment(content_type, f'filename="{name}"', data)
    )


RTLO_NAME = "invoice\u202efdp.exe"
VBS = b'Set shell = CreateObject("WScript.Shell")\r\nshell.Run "cmd /c calc.exe"\r\n'
JS = b'var shell = new ActiveXObject("WScript.Shell");\r\nshell.Run("calc.exe");\r\n'

CORPUS: list[Entry] = [
    Entry(
        "clean-plain-ascii.eml",
        "plain US-ASCII text, no MIME",
        "body has 'lunch on Friday'; no attachments; no defects",
        lambda: single(
            "Lunch",
            "text/plain; charset=us-ascii",
            "Hi Bob,\n\nare we still on for lunch on Friday?\n\nAlice\n",
            mime=False,
        ),
    ),
    Entry(
        "clean-latin1-qp.eml",
        "ISO-8859-1 text in quoted-printable",
        "body has 'Grüße aus München'",
        lambda: single(
            "Greetings",
            "text/plain; charset=iso-8859-1",
            "Gr=FC=DFe aus M=FCnchen,\nund sch=F6ne Feiertage!\n",
            encoding="quoted-printable",
        ),
    ),
    Entry(
        "clean-utf8-base64.eml",
        "UTF-8 text in base64",
        "body has 'naïve café ☕'",
        lambda: single(
            "Coffee",
            "text/plain; charset=utf-8",
            b64("A naïve café ☕ near the station.\n".encode()),
            encoding="base64",
        ),
    ),
    Entry(
        "clean-koi8r.eml", "Russian in KOI8-R, 8bit", "body has 'Встреча в пятницу'", clean_koi8r
    ),
    Entry(
        "clean-iso2022jp.eml",
        "Japanese in ISO-2022-JP, subject and body",
        "subject '会議'; body has '会議は金曜日です'",
        clean_iso2022jp,
    ),
    Entry(
        "clean-windows1252-8bit.eml",
        "cp1252 text with curly quotes and the euro sign",
        "body has '“Price”: 5 €'",
        lambda: (
            single("Price", "text/plain; charset=windows-1252", "", encoding="8bit")
            + "“Price”: 5 €\n".encode("cp1252")
        ),
    ),
    Entry(
        "clean-unknown-charset.eml",
        "a charset that does not exist (UTF-8 bytes)",
        "body has 'Zürich' (UTF-8 fallback); no exception",
        lambda: (
            single("Zurich", "text/plain; charset=x-klingon", "", encoding="8bit")
            + "Greetings from Zürich\n".encode()
        ),
    ),
    Entry(
        "clean-html-only.eml",
        "an HTML-only message with style, script and entities",
        "body has 'Quarterly report' and 'R&D', not 'color' or 'alert'",
        lambda: single(
            "Report",
            "text/html; charset=utf-8",
            "<html><head><style>body {color: #333}</style></head><body>"
            "<h1>Quarterly report</h1><script>alert(1)</script>"
            "<p>Numbers from R&amp;D&nbsp;are in.</p></body></html>\n",
        ),
    ),
    Entry(
        "clean-multipart-alternative.eml",
        "text and HTML alternatives",
        "body has both versions' text; no attachments",
        lambda: mixed(
            "Newsletter",
            [
                part("text/plain; charset=utf-8", "Our January newsletter.\n"),
                part("text/html; charset=utf-8", "<p>Our <b>January</b> newsletter.</p>\n"),
            ],
            subtype="alternative",
        ),
    ),
    Entry(
        "clean-pdf-attachment.eml",
        "a real PDF attached as PDF",
        "attachment report.pdf, declared and sniffed application/pdf",
        lambda: with_attachment(
            "Report", binary_attachment("application/pdf", 'filename="report.pdf"', tiny_pdf())
        ),
    ),
    Entry(
        "clean-inline-png-related.eml",
        "multipart/related: HTML with an inline PNG",
        "body has 'Our logo'; attachment logo.png sniffed image/png",
        lambda: mixed(
            "Logo",
            [
                part("text/html; charset=utf-8", '<p>Our logo: <img src="cid:logo"></p>\n'),
                part(
                    "image/png",
                    b64(tiny_png()),
                    encoding="base64",
                    disposition='inline; filename="logo.png"',
                ),
            ],
            subtype="related",
        ),
    ),
    Entry(
        "clean-text-attachment.eml",
        "a text file attached (Content-Disposition: attachment)",
        "attachment notes.txt text/plain; its text is not in the body",
        lambda: with_attachment(
            "Notes",
            part(
                "text/plain; charset=utf-8",
                "secret notes\n",
                disposition='attachment; filename="notes.txt"',
            ),
        ),
    ),
    Entry(
        "clean-8bit-headers.eml",
        "raw UTF-8 in Subject and file name (no encoding)",
        "subject 'Grüße aus München'; attachment 'Rechnung_März.pdf'",
        clean_8bit_headers,
    ),
    Entry(
        "clean-forwarded-message.eml",
        "a message/rfc822 forwarded inline",
        "body has 'See below' and 'Lunch at noon'; the inner text is attachment 2.1",
        clean_forwarded,
    ),
    Entry(
        "clean-crlf-line-endings.eml",
        "CRLF line endings throughout",
        "subject 'Windows'; body has 'carriage returns'",
        lambda: single("Windows", "text/plain", "Written with carriage returns.\n").replace(
            b"\n", b"\r\n"
        ),
    ),
    Entry(
        "clean-zip-attachment.eml",
        "a zip archive (not unpacked)",
        "attachment docs.zip, sniffed application/zip",
        lambda: with_attachment(
            "Docs",
            binary_attachment(
                "application/zip",
                'filename="docs.zip"',
                zip_of([("readme.txt", b"read me\n"), ("data.csv", b"a,b\n1,2\n")]),
            ),
        ),
    ),
    Entry(
        "clean-calendar-invite.eml",
        "a text/calendar invitation part",
        "attachment invite.ics text/calendar",
        lambda: with_attachment(
            "Invite",
            part(
                'text/calendar; method=REQUEST; name="invite.ics"',
                "BEGIN:VCALENDAR\nVERSION:2.0\nEND:VCALENDAR\n",
            ),
        ),
    ),
    Entry(
        "sample-exe-attachment.eml",
        "the README demo: an invoice mail whose Invoice_48213.pdf is a Windows executable",
        "attachment Invoice_48213.pdf, declared application/pdf, sniffed PE",
        sample_exe_attachment,
    ),
    Entry(
        "exe-declared-as-pdf.eml",
        "a PE executable named invoice.pdf, declared application/pdf",
        "attachment invoice.pdf, declared application/pdf, sniffed PE",
        lambda: with_attachment(
            "Invoice",
            binary_attachment(
                'application/pdf; name="invoice.pdf"', 'filename="invoice.pdf"', tiny_pe()
            ),
        ),
    ),
    Entry(
        "exe-no-name-octet-stream.eml",
        "an unnamed application/octet-stream PE",
        "attachment '' sniffed PE",
        lambda: with_attachment(
            "Data", part("application/octet-stream", b64(tiny_pe()), encoding="base64")
        ),
    ),
    Entry(
        "exe-declared-as-text.eml",
        "a PE named readme.txt, declared text/plain",
        "attachment readme.txt sniffed PE; not in the body",
        lambda: with_attachment(
            "Readme", binary_attachment("text/plain", 'filename="readme.txt"', tiny_pe())
        ),
    ),
    Entry(
        "exe-uuencoded.eml",
        "a PE in x-uuencode transfer encoding",
        "attachment setup.exe, 1024 bytes, sniffed PE",
        uuencoded_exe,
    ),
    Entry(
        "double-ext-plain-name.eml",
        "invoice.pdf.exe as a plain quoted name",
        "attachment invoice.pdf.exe",
        lambda: with_attachment(
            "Invoice",
            binary_attachment("application/octet-stream", 'filename="invoice.pdf.exe"', tiny_pe()),
        ),
    ),
    Entry(
        "double-ext-rfc2047-name.eml",
        "invoice.pdf.exe as an RFC 2047 word in quotes",
        "attachment invoice.pdf.exe",
        lambda: with_attachment(
            "Invoice",
            binary_attachment(
                f'application/pdf; name="{rfc2047_b("invoice.pdf.exe")}"',
                f'filename="{rfc2047_b("invoice.pdf.exe")}"',
                tiny_pe(),
            ),
        ),
    ),
    Entry(
        "double-ext-rfc2231-name.eml",
        "invoice.pdf.exe as an RFC 2231 filename*=UTF-8''",
        "attachment invoice.pdf.exe",
        lambda: with_attachment(
            "Invoice",
            binary_attachment("application/pdf", "filename*=UTF-8''invoice.pdf.exe", tiny_pe()),
        ),
    ),
    Entry(
        "rfc2231-continuations.eml",
        "an RFC 2231 name in three continuations, UTF-8",
        "attachment 'Jahresübersicht 2023.pdf.exe'",
        lambda: with_attachment(
            "Overview",
            binary_attachment(
                "application/octet-stream",
                "filename*0*=UTF-8''Jahres%C3%BC; filename*1*=bersicht%202023; "
                'filename*2=".pdf.exe"',
                tiny_pe(),
            ),
        ),
    ),
    Entry(
        "rfc2231-latin1-name.eml",
        "an RFC 2231 name in ISO-8859-1 with a language",
        "attachment 'Rechnung_März.pdf'",
        lambda: with_attachment(
            "Rechnung",
            binary_attachment(
                "application/pdf", "filename*=iso-8859-1'de'Rechnung_M%E4rz.pdf", tiny_pdf()
            ),
        ),
    ),
    Entry(
        "rfc2047-q-name.eml",
        "a Q-encoded name with spaces",
        "attachment 'Prüfbericht final.pdf'",
        lambda: with_attachment(
            "Bericht",
            binary_attachment(
                "application/pdf", 'filename="=?iso-8859-1?Q?Pr=FCfbericht_final.pdf?="', tiny_pdf()
            ),
        ),
    ),
    Entry(
        "rfc2047-split-name.eml",
        "a name in two encoded words splitting a UTF-8 character",
        "attachment 'Überweisung.pdf.exe'",
        rfc2047_split_name,
    ),
    Entry(
        "name-only-in-content-type.eml",
        "the name only in Content-Type (no disposition)",
        "attachment payload.exe",
        lambda: with_attachment(
            "Payload",
            part('application/x-msdownload; name="payload.exe"', b64(tiny_pe()), encoding="base64"),
        ),
    ),
    Entry(
        "nested-rfc822-with-exe.eml",
        "an attached message that carries invoice.exe",
        "attachments include invoice.exe at 2.2, depth 3, sniffed PE",
        nested_rfc822_with_exe,
    ),
    Entry(
        "script-vbs-attachment.eml",
        "a VBScript attachment",
        "attachment run.vbs",
        script("run.vbs", "text/vbscript", VBS),
    ),
    Entry(
        "script-js-attachment.eml",
        "a JScript attachment",
        "attachment invoice.js",
        script("invoice.js", "application/javascript", JS),
    ),
    Entry(
        "script-scr-attachment.eml",
        "a screensaver (.scr) that is a PE",
        "attachment holiday.scr sniffed PE",
        script("holiday.scr", "application/octet-stream", tiny_pe()),
    ),
    Entry(
        "script-pif-attachment.eml",
        "a .pif that is a PE",
        "attachment document.pif sniffed PE",
        script("document.pif", "application/octet-stream", tiny_pe()),
    ),
    Entry(
        "eicar-attachment.eml",
        "the EICAR test file in base64",
        "attachment eicar.com, 68 bytes; scanners report Eicar-Test-Signature",
        lambda: with_attachment(
            "Test", binary_attachment("application/octet-stream", 'filename="eicar.com"', eicar())
        ),
    ),
    Entry(
        "subject-rfc2047.eml",
        "a subject of UTF-8 B and Q words with spaces between",
        "subject 'Ihre Bestellung über 50 € ist unterwegs'",
        lambda: single(
            "=?utf-8?Q?Ihre_Bestellung_=C3=BCber?= =?utf-8?B?IDUwIOKCrA==?= ist unterwegs",
            "text/plain",
            "Shipping soon.\n",
        ),
    ),
    Entry(
        "subject-broken-encoding.eml",
        "encoded words with invalid base64 and unknown charset",
        "subject keeps '=?utf-8?B?!!!?=' raw and decodes 'café' with fallback",
        lambda: single(
            "=?utf-8?B?!!!?= and =?x-unknown?Q?caf=C3=A9?=", "text/plain", "Broken subject.\n"
        ),
    ),
    Entry(
        "null-sender-bounce.eml",
        "a bounce from the null sender <> with a delivery report",
        "Return-Path <>; body has 'qmail-send' and the report's 'Status: 5.1.1'",
        null_sender_bounce,
    ),
    Entry(
        "body-phrase.eml",
        "a phrase for body rules in plain text",
        "body has 'Click here to claim your prize'",
        lambda: single(
            "Prize", "text/plain", "Dear winner,\n\nClick here to claim your prize now!\n"
        ),
    ),
    Entry(
        "body-phrase-in-html.eml",
        "a phrase hidden in HTML with entities and tags",
        "body has 'WIN a FREE iPhone!' but not 'hidden'",
        html_phrase,
    ),
    Entry(
        "hostile-missing-boundary.eml",
        "multipart without a boundary parameter",
        "defect 'without a boundary'; the body is one opaque attachment",
        lambda: single("No boundary", "multipart/mixed", multipart([GREETING], boundary="lost")),
    ),
    Entry(
        "hostile-boundary-not-found.eml",
        "a boundary that never appears in the body",
        "defect 'boundary never appears'",
        lambda: single(
            "Wrong boundary",
            'multipart/mixed; boundary="elsewhere"',
            multipart([GREETING], boundary="lost"),
        ),
    ),
    Entry(
        "hostile-unterminated.eml",
        "a multipart cut off in the middle of a base64 attachment",
        "defect 'not terminated'; attachment cut.exe still found and sniffed PE",
        lambda: single(
            "Cut",
            'multipart/mixed; boundary="b"',
            multipart(
                [
                    GREETING,
                    binary_attachment("application/octet-stream", 'filename="cut.exe"', tiny_pe()),
                ],
                boundary="b",
                closed=False,
            )[:-200],
        ),
    ),
    Entry(
        "hostile-10000-parts.eml",
        "10,000 empty parts",
        "1,000 analysed; defect 'more than 1000 parts'",
        lambda: many_parts(10_000),
    ),
    Entry(
        "hostile-deep-nesting-100.eml",
        "100 multiparts nested in each other",
        "defect 'nested deeper than 20'; no exception",
        lambda: (envelope_headers("Deep") + nested_multiparts(100)).encode(),
    ),
    Entry(
        "hostile-deep-rfc822-nesting.eml",
        "an exe at the bottom of 30 nested messages",
        "defect 'nested deeper than 20'; deep.exe not analysed",
        lambda: deep_rfc822_with_exe(30),
    ),
    Entry(
        "hostile-nul-bytes.eml",
        "NUL bytes in a header and the body",
        "defect 'NUL bytes'; subject without NUL",
        lambda: single("Nul\0here", "text/plain", "before\0after\n"),
    ),
    Entry(
        "hostile-long-line.eml",
        "a 1 MB line in the body",
        "body of 1 MB; no exception",
        lambda: single("Long", "text/plain", "x" * 1_048_576 + "\n"),
    ),
    Entry(
        "hostile-invalid-base64.eml",
        "base64 with junk characters and bad padding",
        "defect 'invalid base64'; broken.pdf still decoded",
        invalid_base64,
    ),
    Entry(
        "hostile-header-injection.eml",
        "CR LF encoded in the subject and a file name",
        "subject 'a  X-Injected: 1'; name 'reportX-Injected: 1.pdf'; no line breaks",
        header_injection,
    ),
    Entry(
        "hostile-path-traversal-name.eml",
        "a file name of ../../etc/passwd",
        "attachment name kept as given: '../../etc/passwd'",
        lambda: with_attachment(
            "Passwd",
            binary_attachment(
                "text/plain", 'filename="../../etc/passwd"', b"root:x:0:0::/root:/bin/sh\n"
            ),
        ),
    ),
    Entry(
        "hostile-rtlo-name.eml",
        "a name with U+202E RIGHT-TO-LEFT OVERRIDE (exe looks like pdf)",
        "attachment 'invoice\u202efdp.exe' kept with the override",
        lambda: with_attachment(
            "RTLO",
            binary_attachment("application/pdf", f'filename="{rfc2047_b(RTLO_NAME)}"', tiny_pe()),
        ),
    ),
    Entry(
        "hostile-no-headers.eml",
        "no header at all, just text",
        "subject ''; body text found; no defects",
        lambda: b"\nJust a body and nothing else.\n",
    ),
    Entry(
        "hostile-huge-header.eml",
        "a 1 MB Content-Type with 100,000 parameters",
        "analysed in well under a second (parameter header cut at 16 KB)",
        huge_header,
    ),
    Entry(
        "hostile-bad-charset-codec.eml",
        "charset names a codec that is not text (base64)",
        "body decoded with fallback; no exception",
        lambda: single("Codec", "text/plain; charset=base64", "plain words\n"),
    ),
    Entry(
        "hostile-random-bytes.eml",
        "64 KB of random bytes",
        "facts exist; no exception",
        random_bytes,
    ),
    Entry(
        "hostile-empty.eml", "an empty file", "size 0; no attachments; no exception", lambda: b""
    ),
]

LARGE: dict[str, Callable[[], bytes]] = {
    "hostile-50mb-attachment.eml": fifty_megabyte_attachment,
}
"""Built at test time, never committed."""


def readme() -> str:
    rows = "\n".join(f"| `{e.name}` | {e.shows} | {e.expected} |" for e in CORPUS)
    large = ", ".join(f"`{name}`" for name in LARGE)
    return (
        "# Message corpus\n\n"
        "Generated by `python3 tests/corpus/make_corpus.py` (deterministic; do not edit by hand).\n"
        f"Envelope: Return-Path and Delivered-To, as qmail writes them (`{SENDER}` to "
        f"`{RECIPIENT}` unless the file says otherwise). Built at test time, not committed: "
        f"{large}.\n\n"
        "| file | what it shows | facts expected |\n|---|---|---|\n" + rows + "\n"
    )


def main(directory: Path = CORPUS_DIR) -> None:
    for entry in CORPUS:
        (directory / entry.name).write_bytes(entry.build())
    (directory / "README.md").write_text(readme(), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else CORPUS_DIR)
