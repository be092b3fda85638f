"""Test cases for a policy (`qmvc test`): a TOML file beside it, `NAME.tests.toml` for
`NAME.qmvc`, read with the standard library's tomllib.

Each `[[case]]` gives a message (a file, or headers, a body and attachments inline), the
envelope, the scanners' answers and what the verdict must be; a `[scanners]` table gives
answers for every case. Unknown keys are errors, and so is a case that expects nothing: a
misspelt expectation would otherwise be a test that cannot fail.
"""

from __future__ import annotations

import base64
import mimetypes
import tomllib
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

EXPECTATIONS = ("outcome", "profile", "exit_code", "matches", "does_not_match", "actions")
CASE_KEYS = {"name", "message", "sender", "recipient", "scanners", "copies", *EXPECTATIONS}
MESSAGE_KEYS = {"headers", "body", "attachments"}
ATTACHMENT_KEYS = {"name", "content", "base64", "file", "type"}
REAL = "real"


class CaseError(Exception):
    """A test file that cannot be read or says something qmvc test does not understand."""


@dataclass(frozen=True)
class ScannerAnswer:
    """What a scanner says in a case: `clean`, `fails`, `found NAME[, NAME…]`, or `real`
    (ask the engine the policy configures)."""

    status: str
    viruses: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str, where: str) -> ScannerAnswer:
        if text in ("clean", "fails", REAL):
            return cls(text)
        if text.startswith("found ") and text[6:].strip():
            return cls("infected", tuple(v.strip() for v in text[6:].split(",") if v.strip()))
        raise CaseError(f'{where}: a scanner answers "clean", "found NAME", "fails" or "real"')


@dataclass(frozen=True)
class Case:
    file: Path
    name: str
    message: bytes
    sender: str | None
    recipient: str | None
    scanners: dict[str, ScannerAnswer]
    copies: int
    expect: dict[str, Any]


def load_cases(path: Path) -> list[Case]:
    """Every case of one test file; raises CaseError naming the file (and the case)."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CaseError(f"{path}: {exc}") from None
    _no_unknown_keys(document, {"scanners", "case"}, str(path))
    shared = _answers(document.get("scanners", {}), f"{path}: [scanners]")
    cases = document.get("case", [])
    if not isinstance(cases, list) or not cases:
        raise CaseError(f"{path}: no [[case]] in the file")
    return [_case(path, index, raw, shared) for index, raw in enumerate(cases, 1)]


def _case(path: Path, index: int, raw: dict[str, Any], shared: dict[str, ScannerAnswer]) -> Case:
    name = str(raw.get("name", f"case {index}"))
    where = f"{path}: case {name!r}"
    _no_unknown_keys(raw, CASE_KEYS, where)
    expect = {key: raw[key] for key in EXPECTATIONS if key in raw}
    if not expect:
        raise CaseError(f"{where}: expects nothing (give outcome, profile, exit_code, …)")
    if "message" not in raw:
        raise CaseError(f"{where}: no message (a file name, or a table with headers and body)")
    copies = raw.get("copies", 1)
    if not isinstance(copies, int) or copies < 1:
        raise CaseError(f"{where}: copies must be a whole number, at least 1")
    return Case(
        path,
        name,
        _message(raw["message"], path.parent, raw.get("sender"), where),
        raw.get("sender"),
        raw.get("recipient"),
        {**shared, **_answers(raw.get("scanners", {}), where)},
        copies,
        expect,
    )


def _answers(table: Any, where: str) -> dict[str, ScannerAnswer]:
    if not isinstance(table, dict):
        raise CaseError(f'{where}: scanners is a table, as in scanners = {{ clamav = "clean" }}')
    return {
        name: ScannerAnswer.parse(str(text), f"{where}: {name}") for name, text in table.items()
    }


def _message(given: Any, base: Path, sender: str | None, where: str) -> bytes:
    """A message file (relative to the test file) or one built from an inline table."""
    if isinstance(given, str):
        return _read(base / given, where)
    if not isinstance(given, dict):
        raise CaseError(f"{where}: message is a file name or a table")
    _no_unknown_keys(given, MESSAGE_KEYS, f"{where}: message")
    message = EmailMessage()
    headers = {
        "From": sender or "sender@example.org",
        "Subject": "test",
        **given.get("headers", {}),
    }
    for header, value in headers.items():
        for one in value if isinstance(value, list) else [value]:
            _add_header(message, str(header), str(one), where)
    message.set_content(str(given.get("body", "")))
    for attachment in given.get("attachments", []):
        _no_unknown_keys(attachment, ATTACHMENT_KEYS, f"{where}: attachment")
        filename = str(attachment.get("name", ""))
        content_type = attachment.get("type") or (
            mimetypes.guess_type(filename)[0] or "application/octet-stream"
        )
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(
            _content(attachment, base, where), maintype, subtype, filename=filename or None
        )
    return bytes(message)


def _add_header(message: EmailMessage, name: str, value: str, where: str) -> None:
    """One header line; several of a name come from a list (`Received = ["…", "…"]`). A
    line break cannot be written inline: the email package refuses it, and a raw,
    folded or hostile header belongs in a message file."""
    if "\r" in value or "\n" in value:
        raise CaseError(
            f"{where}: header {name}: a value with CR or LF; for several {name} lines give a "
            "list of values, for a folded or raw header use a message file"
        )
    try:
        message[name] = value
    except (ValueError, TypeError) as exc:
        raise CaseError(f"{where}: header {name!r}: {exc}") from None


def _content(attachment: dict[str, Any], base: Path, where: str) -> bytes:
    if "file" in attachment:
        return _read(base / attachment["file"], where)
    if "base64" in attachment:
        return base64.b64decode(attachment["base64"])
    return str(attachment.get("content", "")).encode("utf-8")


def _read(path: Path, where: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CaseError(f"{where}: cannot read {path}: {exc.strerror or exc}") from None


def _no_unknown_keys(table: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise CaseError(
            f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
