"""Source positions shared by every stage, so any finding can point back at the policy."""

from __future__ import annotations

from typing import NamedTuple


class Span(NamedTuple):
    """A region of a policy file: 1-based lines and columns; `end_column` is one past the end.

    A tuple rather than a Record: every node of a compiled tree carries one, and tuples
    are the cheapest objects to unpickle on the delivery hot path."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"
