"""HTML reduced to the text a reader sees; its own module so plain text never loads html.parser."""

from __future__ import annotations

from html.parser import HTMLParser

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


class _Reducer(HTMLParser):
    """Collects visible character data, one line per block element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._pieces: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden += 1
        elif tag in _BLOCK_TAGS:
            self._pieces.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCK_TAGS:
            self._pieces.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self._pieces.append(data)

    def text(self) -> str:
        lines = "".join(self._pieces).splitlines()
        return "\n".join(" ".join(line.split()) for line in lines if line.strip())


def reduce_html(html: str) -> str:
    """Visible text, whitespace collapsed per line; malformed HTML yields whatever text it holds."""
    reducer = _Reducer()
    reducer.feed(html)
    reducer.close()
    return reducer.text()
