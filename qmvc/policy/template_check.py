"""Render every notice template a policy can reach, before any mail needs one.

For each (template, language) the policy can send (after the English fallback), every
outcome is rendered against sample verdicts, a full one and a sparse one (null sender, no
guard, a virus without a location), with the same StrictUndefined environment deliver
uses. A misspelt variable, a syntax error, a filter that fails or a first line that is
not `Subject:` is an error at the template's file and line.

Only `qmvc check-policy` runs this (it imports Jinja2 and renders); compiling a policy
for delivery never does, so a broken template can cost a notice, never a message.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import TracebackType

from qmvc.actions import notices
from qmvc.paths import TEMPLATES_DIR
from qmvc.policy.check import reached_notices, templates_of
from qmvc.policy.diagnostics import Diagnostic, error
from qmvc.policy.model import PolicyModel
from qmvc.span import Span


def sample_contexts(outcome: str) -> list[notices.NoticeContext]:
    """A context with every list filled, and one with every optional value empty."""
    full = notices.NoticeContext(
        outcome=outcome,
        profile="standard",
        sender="anna@example.org",
        recipient="bob@example.net",
        subject="Invoice 48213",
        message_id="<48213@example.org>",
        date="Tue, 2 Jan 2024 10:14:05 +0100",
        criteria=(("filename", 'attachment.name "invoice.pdf.exe" matched "*.exe"'),),
        scanners=(("clamav", "ran", ("Eicar-Test-Signature",)), ("fsav", "skipped", ())),
        findings=(("clamav", "Eicar-Test-Signature", "invoice.zip › invoice.exe"),),
        actions=("keep quarantine", "notify av"),
        guard="postmaster@example.net",
        hostname="mx.example.net",
    )
    sparse = notices.NoticeContext(
        outcome=outcome,
        profile="standard",
        sender="",
        recipient="bob@example.net",
        subject="",
        message_id="",
        date="",
        findings=(("clamav", "Eicar-Test-Signature", ""),),
        hostname="mx.example.net",
    )
    return [full, sparse]


def shown_path(path: Path) -> str:
    """`templates/en/sender.j2` for the shipped set, the full path for an admin's own."""
    try:
        return str(Path("templates") / path.relative_to(TEMPLATES_DIR))
    except ValueError:
        return str(path)


def check_templates(model: PolicyModel) -> tuple[list[Diagnostic], dict[str, str]]:
    """Diagnostics for broken templates, and the templates' text for the excerpts."""
    directory = templates_of(model)
    if not directory.is_dir():
        return [], {}
    found: dict[str, Diagnostic] = {}
    sources: dict[str, str] = {}
    used = {
        (template, notices.template_language(template, language, directory))
        for template, language in reached_notices(model)
    }
    for template, language in sorted(used):
        path = directory / language / f"{template}.j2"
        name = shown_path(path)
        for outcome in notices.OUTCOMES:
            for context in sample_contexts(outcome):
                try:
                    notices.render_text(template, language, context, directory)
                except notices.NoticeError as problem:
                    line = _template_line(problem.__cause__, str(path))
                    found.setdefault(
                        name,
                        error(
                            "template-error",
                            f"cannot render a {outcome} notice: {_reason(problem)}",
                            Span(name, line, 1, line, 2),
                            "the variables a template may use are listed in templates/README.md",
                        ),
                    )
                    with contextlib.suppress(OSError, UnicodeDecodeError):
                        sources[name] = path.read_text(encoding="utf-8")
    return list(found.values()), sources


def _reason(problem: notices.NoticeError) -> str:
    cause = problem.__cause__
    return f"{type(cause).__name__}: {cause}" if cause else str(problem)


def _template_line(cause: BaseException | None, filename: str) -> int:
    """The template line of a syntax error, or of the frame that raised while rendering."""
    if cause is None:
        return 1  # the first line is not `Subject: ...`
    line = getattr(cause, "lineno", None)
    if isinstance(line, int) and line > 0:
        return line
    traceback: TracebackType | None = cause.__traceback__
    found = 1
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == filename:
            found = traceback.tb_lineno
        traceback = traceback.tb_next
    return found
