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
_HIDDEN_ELEMENTS = re.compile(
    r"<(script|style|head|title|template)\b.*?(?:</\1\s*>|\Z)"  # hidden to its end tag, if any
    r"|<!--.*?(?:-->|\Z)",  # a comment, perhaps unterminated
    re.DOTALL | re.IGNORECASE,
)
_BLOCK_MARKUP = re.compile(r"</?(?:" + "|".join(sorted(_BLOCK_TAGS)) + r")\b[^>]*>?", re.IGNORECASE)
_OTHER_MARKUP = re.compile(r"</?[a-zA-Z][^>]*>?|<[!?][^>]*>?")


def reduce_html(html: str) -> str:
    """Visible text, whitespace collapsed per line; malformed HTML yields whatever text it holds.

    A few whole-text regex passes instead of html.parser: this runs for every HTML mail on
    the delivery path, and html.parser's per-tag Python callbacks cost several times more.
    """
    text = _HIDDEN_ELEMENTS.sub("", html)
    text = _BLOCK_MARKUP.sub("\n", text)
    text = unescape(_OTHER_MARKUP.sub("", text))
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)
