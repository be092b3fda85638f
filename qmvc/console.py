"""Terminal output: rich with colour on a terminal, plain text when piped."""

from __future__ import annotations

import sys
from typing import TextIO

STYLES = {"error": "bold red", "warning": "yellow", "ok": "green", "dim": "dim"}


def emit(text: str, style: str = "", stream: TextIO | None = None) -> None:
    """Print text; styled through rich only when the stream is a terminal."""
    stream = stream or sys.stdout
    if stream.isatty() and style:
        from rich.console import Console
        from rich.text import Text

        Console(file=stream, highlight=False).print(Text(text, style=STYLES.get(style, style)))
    else:
        print(text, file=stream)
