"""HTML reduced to the text a reader sees; its own module so plain text never loads it."""

from __future__ import annotations

import re
from html import unescape

_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    ]
)
_HIDDEN_TAGS = frozenset(("script", "style", "head", "title", "template"))
_RAW_TEXT_TAGS = frozenset(("script", "style"))  # their content is never markup

_MARKUP = re.compile(
    r"<!--.*?(?:-->|\Z)"  # a comment, perhaps unterminated
    r"|<(/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*>?"  # a start or end tag, perhaps cut off
    r"|<[!?][^>]*>?",  # a declaration or processing instruction
    re.DOTALL,
)


def reduce_html(html: str) -> str:
    """Visible text, whitespace collapsed per line; malformed HTML yields whatever text it holds.

    One linear regex scan instead of html.parser: this runs for every HTML mail on the
    delivery path, and html.parser's per-tag Python callbacks cost five times as much.
    """
    lowered = html.lower()
    pieces: list[str] = []
    hidden = 0
    position = 0
    while True:
        match = _MARKUP.search(html, position)
        end = match.start() if match else len(html)
        if not hidden and end > position:
            pieces.append(unescape(html[position:end]))
        if match is None:
            break
        position = match.end()
        closing, tag = match.group(1), (match.group(2) or "").lower()
        if tag in _HIDDEN_TAGS:
            hidden = max(0, hidden - 1) if closing else hidden + 1
            if tag in _RAW_TEXT_TAGS and not closing:
                close = lowered.find(f"</{tag}", position)
                position = len(html) if close < 0 else close
        elif tag in _BLOCK_TAGS:
            pieces.append("\n")
    lines = "".join(pieces).splitlines()
    return "\n".join(" ".join(line.split()) for line in lines if line.strip())
