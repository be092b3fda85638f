"""Safe file names for message parts written to disk for a command-line engine.

A part's name comes from the sender, so it is hostile until proven otherwise: it may
climb out of the directory (`../../etc/passwd`), hide (`.x`), pose as an option to the
engine (`-rf`), name a Windows device that some engines still special-case (`CON.txt`),
or be longer than a file system allows. The result is always one plain path component.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

MAX_NAME_BYTES = 100
"""Well under NAME_MAX (255 bytes) so a numeric suffix always fits."""

MAX_EXTENSION_BYTES = 16
"""A longer "extension" is just part of the name, not worth keeping whole."""

_UNSAFE_CHARACTERS = re.compile(r'[/\\:*?"<>|]')
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"COM{digit}" for digit in "0123456789"}
    | {f"LPT{digit}" for digit in "0123456789"}
)


def safe_file_names(names: Iterable[str]) -> list[str]:
    """One safe, distinct name per input name, in order (compared case-insensitively)."""
    taken: set[str] = set()
    result: list[str] = []
    for number, name in enumerate(names, start=1):
        candidate = safe_file_name(name, number)
        candidate = _deduplicate(candidate, taken)
        taken.add(candidate.casefold())
        result.append(candidate)
    return result


def safe_file_name(name: str, number: int) -> str:
    """A single safe path component for `name`; `part-<number>` when nothing usable is left."""
    basename = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE_CHARACTERS.sub("_", _printable(basename))
    cleaned = cleaned.lstrip(" .-~").rstrip(" .")
    if not cleaned:
        return f"part-{number}"
    cleaned = _limit_length(cleaned)  # before the device test: cutting "CON   …x" leaves "CON"
    return _limit_length("_" + cleaned) if _is_windows_device(cleaned) else cleaned


def _printable(text: str) -> str:
    """Drops control, format and surrogate characters (NUL, escapes, bidi overrides)."""
    return "".join(character for character in text if unicodedata.category(character)[0] != "C")


def _is_windows_device(name: str) -> bool:
    stem = name.split(".", 1)[0].rstrip(" ")
    return stem.upper() in _WINDOWS_DEVICES


def _split_extension(name: str) -> tuple[str, str]:
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension.encode()) > MAX_EXTENSION_BYTES:
        return name, ""
    return stem, "." + extension


def _truncate_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of `text` that fits in `max_bytes` of UTF-8."""
    return text.encode()[:max_bytes].decode(errors="ignore")


def _limit_length(name: str, suffix: str = "") -> str:
    """Shortens the stem, keeping the extension (`.exe` matters to engines and to people)."""
    stem, extension = _split_extension(name)
    room = MAX_NAME_BYTES - len(extension.encode()) - len(suffix.encode())
    return _truncate_utf8(stem, room).rstrip(" .") + suffix + extension


def _deduplicate(name: str, taken: set[str]) -> str:
    candidate = name
    counter = 2
    while candidate.casefold() in taken:
        candidate = _limit_length(name, f"-{counter}")
        counter += 1
    return candidate
