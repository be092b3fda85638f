"""Write a notice's bytes: a fixed set of header lines, then one text/plain UTF-8 body.

Every byte of the header block is written here, never by the email package's generator,
whose refolding decoded RFC 2047 words back into CR/LF on Python before 3.11.10/3.12.5
(CVE-2024-6923): a sender or Subject holding `=?utf-8?Q?=0D=0ABcc:...?=` became a header.
The rules that make injection impossible, whatever the text:

- header names are constants of the caller; a value is first made one printable line
  (`one_line`), so it holds no CR, LF, NUL or other control character;
- a value that is not plain ASCII, or holds `=?` (which a reader would decode), or is
  long, is written entirely as RFC 2047 base64 encoded words, folded within 78 columns;
  base64 cannot carry a line end, a colon or `=?`, so nothing in it reads as syntax;
- addresses pass `mailbox.is_mailable` (a dot-atom and a domain) before they are written;
- the body is a single text/plain part (no boundary a value could forge), in 7bit when it
  is short-lined ASCII, else quoted-printable (Latin scripts) or base64 (Cyrillic, CJK).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence

from qmvc.actions.mailbox import Mailbox, is_mailable

MAX_WORD_BYTES = 42
"""UTF-8 bytes per encoded word: `=?utf-8?B?` + 56 base64 characters + `?=` is 68 columns,
so even `Subject: ` and the first word stay within 78."""
MAX_PLAIN_LINE = 76
QP_PREFERENCE = 1.25
"""Quoted-printable stays readable in a raw mailbox: chosen while at most 25% longer."""
MAX_7BIT_LINE = 998
_HEADER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_PLAIN_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ .-]*")


def one_line(text: str) -> str:
    """One printable line: whitespace controls become spaces, other controls U+FFFD.

    Surrogate escapes (bytes that were not UTF-8) become U+FFFD too, so the result encodes.
    """
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() else " " if char.isspace() else "\ufffd" for char in text
    )


def _needs_encoding(value: str, room: int) -> bool:
    return not value.isascii() or "=?" in value or len(value) > room


def encoded_words(text: str) -> list[str]:
    """`text` as RFC 2047 base64 encoded words, never splitting a character between two."""
    words: list[str] = []
    chunk = bytearray()
    for char in text:
        encoded = char.encode("utf-8", "replace")
        if chunk and len(chunk) + len(encoded) > MAX_WORD_BYTES:
            words.append(_word(bytes(chunk)))
            chunk.clear()
        chunk += encoded
    if chunk or not words:
        words.append(_word(bytes(chunk)))
    return words


def _word(data: bytes) -> str:
    return "=?utf-8?B?" + base64.b64encode(data).decode("ascii") + "?="


def unstructured(name: str, value: str) -> str:
    """`Name: value` for a free-text header (Subject), encoded and folded when needed."""
    value = one_line(value).strip()
    if not _needs_encoding(value, MAX_PLAIN_LINE - len(name) - 2):
        return f"{name}: {value}"
    return f"{name}: " + "\n ".join(encoded_words(value))


def mailbox_header(name: str, mailbox: Mailbox) -> str:
    """`Name: display <address>`: the display name is kept plain only when it is atoms."""
    if not is_mailable(mailbox.address):
        raise ValueError(f"not a usable mail address: {mailbox.address!r}")
    display = one_line(mailbox.display).strip()
    if not display:
        return f"{name}: <{mailbox.address}>"
    if _PLAIN_ATOMS.fullmatch(display) and "=?" not in display and len(display) < 60:
        return f"{name}: {display} <{mailbox.address}>"
    return f"{name}: " + "\n ".join(encoded_words(display)) + f"\n <{mailbox.address}>"


def plain_header(name: str, value: str) -> str:
    """A header whose value qmvc made itself (Date, Message-ID): checked, never encoded."""
    if not value.isascii() or not value.isprintable() or "=?" in value:
        raise ValueError(f"{name}: unexpected characters in {value!r}")
    return f"{name}: {value}"


def body_part(text: str) -> tuple[list[str], bytes]:
    """The Content-* header lines and the encoded body for a UTF-8 text."""
    text = re.sub(r"\r\n?", "\n", text)
    if not text.endswith("\n"):
        text += "\n"
    content_type = "Content-Type: text/plain; charset=utf-8"
    lines = text.split("\n")
    if text.isascii() and all(len(line) <= MAX_7BIT_LINE for line in lines):
        return [content_type, "Content-Transfer-Encoding: 7bit"], text.encode("ascii")
    data = text.encode("utf-8", "replace")
    quoted = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    based = b"\n".join(
        base64.b64encode(data[start : start + 57]) for start in range(0, len(data), 57)
    )
    if len(quoted) <= len(based) * QP_PREFERENCE:
        return [content_type, "Content-Transfer-Encoding: quoted-printable"], quoted
    return [content_type, "Content-Transfer-Encoding: base64"], based + b"\n"


def message_bytes(header_lines: Sequence[str], body: str) -> bytes:
    """The whole notice with LF line ends (qmail-inject's and sendmail's convention)."""
    for line in header_lines:
        name, colon, _ = line.partition(":")
        if not colon or not _HEADER_NAME.fullmatch(name) or "\r" in line or "\n\n" in line:
            raise ValueError(f"malformed header line {line[:40]!r}")
        if any(not part.startswith(" ") for part in line.split("\n")[1:]):
            raise ValueError(f"a continuation line of {name} does not start with a blank")
    content_lines, encoded_body = body_part(body)
    head = "\n".join([*header_lines, "MIME-Version: 1.0", *content_lines])
    return head.encode("ascii") + b"\n\n" + encoded_body
