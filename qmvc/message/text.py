"""Bytes to readable text: charset decoding that never raises, and HTML reduced to its words.

Mail declares charsets that do not exist, mislabels cp1252 as ISO-8859-1 and sends HTML
where rules want words; every function here accepts whatever arrives and returns text.
"""

from __future__ import annotations

import binascii
import re

_NOT_TEXT_ERRORS = (LookupError, UnicodeError, ValueError, TypeError)
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset, else UTF-8, else cp1252, else Latin-1 (which always works).

    A declared charset that exists decodes with replacement characters rather than
    falling back, so a mostly-right label still yields mostly-right text.
    """
    declared = (charset or "").strip().strip("\"'").split("*", 1)[0].lower()
    if declared and declared not in ("us-ascii", "ascii", "unknown-8bit", "x-unknown"):
        try:
            return data.decode(declared, "replace")
        except _NOT_TEXT_ERRORS:
            pass
    for fallback in ("utf-8", "cp1252"):
        try:
            return data.decode(fallback)
        except UnicodeDecodeError:
            pass
    return data.decode("latin-1")


def repair_8bit(value: str) -> str:
    """Turn a header the parser read as ASCII with escaped 8-bit bytes into the text they meant."""
    if value.isascii():
        return value
    try:
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value
    return decode_bytes(data, None)


def html_to_text(html: str) -> str:
    """The words of an HTML document as a reader sees them: no tags, scripts or styles; entities
    decoded. html.parser costs 3.5 ms to import, so plain-text mail never loads it.
    """
    from qmvc.message.html_text import reduce_html

    return reduce_html(html)


def decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words. Blanks between two words go; adjacent words with the same
    charset are joined as bytes before decoding, because clients split characters across them."""
    segments: list[str | tuple[str, bytearray]] = []
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        gap, position = text[position : match.start()], match.end()
        charset, encoding, encoded = match.groups()
        data = _word_bytes(encoding, encoded)
        if data is None:
            segments.append(gap + match.group(0))
            continue
        previous = segments[-1] if segments else None
        if not isinstance(previous, tuple) or gap.strip():
            segments.append(gap)
        elif previous[0] == charset.lower():
            previous[1].extend(data)
            continue
        segments.append((charset.lower(), bytearray(data)))
    segments.append(text[position:])
    return "".join(
        segment if isinstance(segment, str) else decode_bytes(bytes(segment[1]), segment[0])
        for segment in segments
    )


def _word_bytes(encoding: str, encoded: str) -> bytes | None:
    """The bytes of one encoded word, or None when it is not valid (it is then kept as written)."""
    try:
        if encoding in "bB":
            return binascii.a2b_base64(encoded + "=" * (-len(encoded) % 4), strict_mode=True)
        return binascii.a2b_qp(encoded, header=True)
    except (binascii.Error, ValueError):
        return None
