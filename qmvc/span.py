"""Source positions shared by every stage, so any finding can point back at the policy."""

from __future__ import annotations

from qmvc.record import Record



class Span(Record):
    """A region of a policy file: 1-based lines and columns; `end_column` is one past the end."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


NO_SPAN = Span("<builtin>", 0, 0, 0, 0)
