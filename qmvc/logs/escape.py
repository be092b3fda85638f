"""Percent-encoding that keeps every log record on one line and every field parseable.

Values come from the network (senders, subjects, file names, virus names) and may hold
anything, including bytes that are not UTF-8 (carried in str as surrogate escapes, as
os.environ and `bytes.decode(..., "surrogateescape")` give them). `escape` turns each
character that is not printable ASCII, each `%` and each caller-reserved separator into
`%XX` per byte of its UTF-8 encoding (a surrogate escape becomes its original byte), so the
result is printable ASCII without the separators. `unescape` reverses it exactly.
For reports read by people, `ascii_only=False` keeps printable non-ASCII letters as they
are and still encodes controls, line and paragraph separators and bidi overrides.
"""

from __future__ import annotations

import re

_PERCENT_BYTE = re.compile(rb"%([0-9A-Fa-f]{2})")


def _encode_char(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"%{code - 0xDC00:02X}"
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))


def escape(text: str, reserved: str = "", ascii_only: bool = True) -> str:
    """Printable text without `%` or any char of `reserved`; everything else as `%XX`."""
    plain = (text.isascii() or not ascii_only) and text.isprintable() and "%" not in text
    if plain and not any(separator in text for separator in reserved):
        return text
    return "".join(
        _encode_char(char)
        if char == "%"
        or char in reserved
        or not char.isprintable()
        or (ascii_only and not char.isascii())
        else char
        for char in text
    )


def unescape(text: str) -> str:
    """The text `escape` was given; bytes that are not UTF-8 come back as surrogate escapes."""
    if "%" not in text:
        return text
    raw = _PERCENT_BYTE.sub(
        lambda match: bytes([int(match[1], 16)]), text.encode("utf-8", "surrogateescape")
    )
    return raw.decode("utf-8", "surrogateescape")
