"""Findings about a policy: one type from the first stage to the last, always with a Span.

Rendered as rustc-style text (file:line:col, the source line, a caret, a hint) or as
JSON for editors and CI.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from qmvc.span import Span

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    code: str
    message: str
    span: Span
    hint: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "file": self.span.file,
            "line": self.span.line,
            "column": self.span.column,
            "end_line": self.span.end_line,
            "end_column": self.span.end_column,
            "hint": self.hint,
        }


class PolicyError(Exception):
    """The one error a policy stage raises: the diagnostics that stopped it."""

    def __init__(
        self, diagnostics: Sequence[Diagnostic], sources: Mapping[str, str] | None = None
    ) -> None:
        self.diagnostics = list(diagnostics)
        self.sources = dict(sources or {})
        first = self.diagnostics[0] if self.diagnostics else None
        super().__init__(f"{first.span}: {first.message}" if first else "invalid policy")


def error(code: str, message: str, span: Span, hint: str = "") -> Diagnostic:
    return Diagnostic("error", code, message, span, hint)


def warning(code: str, message: str, span: Span, hint: str = "") -> Diagnostic:
    return Diagnostic("warning", code, message, span, hint)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A hint naming the closest candidate, or '' when nothing is close."""
    close = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def render_text(diagnostic: Diagnostic, sources: Mapping[str, str]) -> str:
    """file:line:col: severity[code]: message, then the source line, a caret and the hint."""
    span = diagnostic.span
    head = f"{span}: {diagnostic.severity}[{diagnostic.code}]: {diagnostic.message}"
    lines = [head]
    text = sources.get(span.file)
    if text is not None and span.line > 0:
        source_lines = text.splitlines()
        if span.line <= len(source_lines):
            lines.extend(_excerpt(source_lines[span.line - 1], span))
    if diagnostic.hint:
        lines.append(f"     = hint: {diagnostic.hint}")
    return "\n".join(lines)


def _excerpt(source_line: str, span: Span, window: int = 100) -> list[str]:
    """The source line (a window of it around the fault when long) and a caret line under it."""
    start = max(0, span.column - 1 - window // 2) if len(source_line) > window else 0
    shown = source_line[start : start + window]
    prefix, suffix = ("..." if start else ""), ("..." if start + window < len(source_line) else "")
    shown = "".join(ch if ch.isprintable() else " " for ch in shown)
    caret_at = span.column - 1 - start
    width = span.end_column - span.column if span.end_line == span.line else 1
    width = max(1, min(width, len(shown) - caret_at + 1))
    gutter = f"{span.line:>4} | "
    return [
        gutter + prefix + shown + suffix,
        " " * (len(gutter) - 2) + "| " + " " * (len(prefix) + caret_at) + "^" * width,
    ]


def summary_counts(diagnostics: Sequence[Diagnostic]) -> tuple[int, int]:
    errors = sum(1 for d in diagnostics if d.severity == "error")
    return errors, len(diagnostics) - errors
