"""Every name a mail client could give a part, each normalised as the file system saving it will.

A part can be named in seven places and clients disagree on which wins, so a rule that tests
only one is a rule an attacker steps around. Each candidate keeps where it came from (explain
shows it) and its raw text beside the normalised one: NFKC (a fullwidth dot is a dot), no
zero-width or bidi controls, no trailing dots or blanks, no NTFS `::$DATA` stream suffix.
"""

from __future__ import annotations

import re
import unicodedata
from email.message import Message
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from qmvc.message.headers import parameters, unfolded
from qmvc.message.text import decode_bytes, decode_words
from qmvc.record import Record

_SECTION = re.compile(r"^([a-z0-9_.-]+)\*(\d{1,3})?(\*)?$")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_CHARSET = re.compile(r"^[A-Za-z0-9_.:+-]*$")
_STREAM_SUFFIX = re.compile(r":+\$DATA$", re.IGNORECASE)
_INVISIBLE = dict.fromkeys(
    [
        *range(0x20),
        0x7F,
        0xAD,  # soft hyphen
        0x061C,  # Arabic letter mark
        0x180E,  # Mongolian vowel separator
        *range(0x200B, 0x2010),  # zero-width space, non-joiner, joiner; LRM, RLM
        *range(0x202A, 0x202F),  # bidi embeddings and overrides
        *range(0x2060, 0x2065),  # word joiner and invisible operators
        *range(0x2066, 0x206A),  # bidi isolates
        0xFEFF,  # zero-width no-break space
    ]
)
_LOCATION_HEADER = "content-location"
_NAME_HEADERS = (("content-name", "Content-Name"), ("x-sun-data-name", "X-Sun-Data-Name"))


class NameCandidate(Record):
    """One name a client could show for a part: as given (decoded), as saved, and from where."""

    raw: str
    name: str
    source: str


def normalise(raw: str) -> str:
    """The name a file system would store: NFKC, invisible and control characters removed,
    an NTFS stream suffix and trailing dots and blanks dropped (Windows drops them)."""
    text = unicodedata.normalize("NFKC", raw).translate(_INVISIBLE)
    text = _STREAM_SUFFIX.sub("", text.strip())
    return text.rstrip(" .")


def part_names(headers: Message) -> list[NameCandidate]:
    """Every candidate name of a part, the one clients prefer first: Content-Disposition
    `filename*` then `filename`, Content-Type `name*` then `name`, Content-Name, X-Sun-Data-Name,
    the last segment of Content-Location. Invalid RFC 2231 values come last, so a valid name
    wins; a name with a NUL is tried whole and cut at the NUL."""
    valid: list[tuple[str, str]] = []
    invalid: list[tuple[str, str]] = []
    for header, parameter in (("content-disposition", "filename"), ("content-type", "name")):
        for value in headers.get_all(header, []):
            _from_parameters(str(value), header, parameter, valid, invalid)
    for key, label in _NAME_HEADERS:
        valid.extend(
            (_without_words(unfolded(str(v)).strip()), label) for v in headers.get_all(key, [])
        )
    for value in headers.get_all(_LOCATION_HEADER, []):
        valid.append((_location_name(str(value)), "Content-Location"))
    return candidates(valid + invalid)


def candidates(found: list[tuple[str, str]]) -> list[NameCandidate]:
    """Candidates from (raw name, source) pairs: empty ones dropped, duplicates kept once,
    a name holding a NUL also as cut at it."""
    seen: set[tuple[str, str]] = set()
    result: list[NameCandidate] = []
    for raw, source in found:
        forms = [(raw, source)]
        if "\0" in raw:
            forms.append((raw.split("\0", 1)[0], f"{source}, cut at NUL"))
        for text, where in forms:
            name = normalise(text)
            if text and (text, name) not in seen:
                seen.add((text, name))
                result.append(NameCandidate(text, name, where))
    return result


def _from_parameters(
    value: str,
    header: str,
    wanted: str,
    valid: list[tuple[str, str]],
    invalid: list[tuple[str, str]],
) -> None:
    """The `wanted` parameter of one header in each form it takes: `x*` (RFC 2231 whole),
    `x*0`, `x*0*`... (continuations), then plain `x`."""
    label = "Content-Disposition" if header == "content-disposition" else "Content-Type"
    plain: list[str] = []
    whole: list[str] = []
    sections: dict[int, tuple[str, bool]] = {}
    for key, text in parameters(value):
        if key == wanted:
            plain.append(text)
            continue
        section = _SECTION.match(key)
        if not section or section.group(1) != wanted:
            continue
        if section.group(2) is None:
            whole.append(text)
        else:
            sections.setdefault(int(section.group(2)), (text, bool(section.group(3))))
    for text in whole:
        name, ok = _rfc2231(text)
        (valid if ok else invalid).append(
            (name, f"{label} {wanted}*" + ("" if ok else " (invalid)"))
        )
        if "\0" in text:  # a C client's header string ends at the NUL: `x*=evil.exe\0-8''a.pdf`
            cut, _ok = _rfc2231(text.split("\0", 1)[0])
            invalid.append((cut, f"{label} {wanted}*, cut at NUL"))
    if sections:
        name, ok = _joined_sections(sections)
        where = f"{label} {wanted}*0..{max(sections)}"
        (valid if ok else invalid).append((name, where if ok else f"{where} (invalid)"))
    valid.extend((_without_words(text), f"{label} {wanted}") for text in plain)


def _rfc2231(text: str) -> tuple[str, bool]:
    """An extended value `charset'language'percent-text` decoded; (name, whether it was valid).
    An invalid one is still decoded as well as it can be: it stays a candidate to test."""
    charset, quote1, rest = text.partition("'")
    if not quote1:
        return _without_words(unquote(text)), False
    _language, _quote2, encoded = rest.partition("'")
    return _percent_without_words(encoded, charset)


def _joined_sections(sections: dict[int, tuple[str, bool]]) -> tuple[str, bool]:
    """RFC 2231 continuations in order; the charset comes from section 0 when it is encoded."""
    charset = ""
    ok = True
    pieces: list[bytes] = []
    for number in sorted(sections):
        text, encoded = sections[number]
        if encoded:
            if number == 0 and text.count("'") >= 2:
                charset, _language, text = text.split("'", 2)
            if _BAD_PERCENT.search(text):
                ok = False
            pieces.append(_unquote_bytes(text))
        else:
            pieces.append(text.encode("utf-8", "surrogateescape"))
    ok = ok and sorted(sections) == list(range(len(sections))) and _valid_charset(charset)
    return _without_words(decode_bytes(b"".join(pieces), charset or None)), ok


def _percent_without_words(encoded: str, charset: str) -> tuple[str, bool]:
    ok = not _BAD_PERCENT.search(encoded) and _valid_charset(charset)
    return _without_words(decode_bytes(_unquote_bytes(encoded), charset or None)), ok


def _valid_charset(charset: str) -> bool:
    return bool(_CHARSET.match(charset))


def _unquote_bytes(text: str) -> bytes:
    return unquote_to_bytes(text.encode("utf-8", "surrogateescape"))


def _without_words(text: str) -> str:
    """A name as clients show it: RFC 2047 words decoded (not standard in parameters, but every
    client does it)."""
    return decode_words(text) if "=?" in text else text


def _location_name(value: str) -> str:
    """The last path segment of a Content-Location URL, percent-decoded: clients save the part
    under it when no other name is given."""
    location = unfolded(value).strip().strip("<>\"'")
    try:
        path = urlsplit(location).path or location
    except ValueError:
        path = location
    return unquote(path.rstrip("/").rsplit("/", 1)[-1].rsplit("\\", 1)[-1])
