"""One canonical layout for a policy file (`qmvc fmt`): indentation and spacing, never order.

The layout is computed from Lark's parse tree with every token kept, and the source text
between tokens, which holds only white space and comments, so every comment stays where it
was. What the formatter decides:

- each statement, profile item and (in a block written over several lines) each action
  starts a line; profile items are indented by 2, a block's actions by 2 more;
- tokens are separated by one space, with none before `,` `;` `)` and none after `(`;
- a line break the author made inside a statement is kept, and the continued line is
  aligned under the statement's first argument (the first pattern of a list, the condition
  of a badmail rule, the first action of an `on` block) or indented by 4 when the break
  comes before it;
- an `on` or `bomber` block written on one line stays on one line, `{ a; b }`; written over
  several lines (or holding a comment) it becomes one action per line, without `;`;
- at most one blank line in a row, none after `{` or before `}`; a comment that followed a
  token on its line stays there, two spaces after it.

`format_policy` lexes its own output again and refuses (FormatError) unless it reads as
the same tokens, an optional `;` aside: the meaning of a policy cannot change.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedInput

from qmvc.paths import GRAMMAR_DIR
from qmvc.policy.diagnostics import PolicyError, error
from qmvc.policy.syntax_errors import syntax_diagnostic
from qmvc.span import Span

INDENT = 2
CONTINUATION_INDENT = 4
BLOCKS = ("on_block", "bomber")
ANCHOR_CHILD = {
    "list_inline": 3,
    "guard": 2,
    "language_for": 3,
    "domain": 1,
    "scanner": 3,
    "criterion": 3,
    "scan": 1,
    "bomber": 3,
    "forward": 1,
    "notify": 1,
    "on_block": 3,
}
"""Per statement: the child (counting keywords) that continued lines are aligned under."""
_NO_SPACE_BEFORE = {",", ";", ")"}
_COMMENT = re.compile(r"#[^\n]*")
_INNER_BLANKS = re.compile(r"[ \t]+")


class FormatError(Exception):
    """The formatter's output would not read as the input did: a bug, never written out."""


@functools.cache
def layout_parser() -> Lark:
    """The grammar with every token kept, keywords and punctuation too: the layout is made
    of them."""
    grammar = (GRAMMAR_DIR / "qmvc.lark").read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=False,
        keep_all_tokens=True,
    )


def _parse(text: str, filename: str) -> Tree[Token]:
    try:
        return layout_parser().parse(text)
    except UnexpectedInput as exc:
        raise PolicyError([syntax_diagnostic(exc, text, filename)], {filename: text}) from None
    except LarkError as exc:
        raise PolicyError([error("syntax-error", str(exc), Span(filename, 1, 1, 1, 2))]) from None


def format_policy(text: str, filename: str = "<policy>") -> str:
    """The canonical layout of one policy file's text; raises PolicyError when it does not
    parse (includes are not followed: each file is formatted on its own)."""
    tree = _parse(text, filename)
    formatted = _Printer(text).file(tree)
    if _meaning(_parse(formatted, filename), formatted) != _meaning(tree, text):
        raise FormatError(f"{filename}: formatting would change the policy's tokens or comments")
    return formatted


def _tokens(node: Tree[Token] | Token) -> Iterator[Token]:
    if isinstance(node, Token):
        yield node
    else:
        yield from node.scan_values(lambda value: isinstance(value, Token))


def _meaning(tree: Tree[Token], text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """What formatting must keep: the tokens (`;` is optional, blanks inside `unless
    badmail` or `2.5 MB` are not significant) and the comments, in order."""
    tokens = [(token.type, _canonical(token)) for token in _tokens(tree) if str(token) != ";"]
    return tokens, [comment.rstrip() for comment in _COMMENT.findall(_gaps(tree, text))]


def _gaps(tree: Tree[Token], text: str) -> str:
    """The text between tokens: only white space and comments."""
    pieces, end = [], 0
    for token in _tokens(tree):
        pieces.append(text[end : token.start_pos])
        end = token.end_pos or 0
    pieces.append(text[end:])
    return "\n".join(pieces)


def _canonical(token: Token) -> str:
    if token.type in ("STRING", "REGEX"):
        return str(token)
    return _INNER_BLANKS.sub(" ", str(token)).strip()  # a unitless SIZE takes a blank after it


class _Printer:
    """Lays out one file: lines so far, the line being built, and where the source was read."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: list[str] = []
        self.line = ""
        self.read_to = 0  # source offset after the last token placed
        self.continuation = 0  # column of a continued line in the current statement
        self.anchor: Token | None = None

    # -- the file and its statements --

    def file(self, tree: Tree[Token]) -> str:
        for statement in tree.children:
            if isinstance(statement, Tree) and statement.data == "guard_language":
                self._inline(statement)  # `guard av "…" language de`: one statement to a reader
            else:
                self._statement(statement, 0)
        self._comments_before(len(self.source), 0, closing=True)
        self._end_line()
        while self.lines and not self.lines[-1]:
            self.lines.pop()
        return "\n".join(self.lines) + "\n" if self.lines else ""

    def _statement(self, node: Tree[Token] | Token, indent: int) -> None:
        first = next(_tokens(node))
        self._comments_before(first.start_pos or 0, indent)
        self._end_line()
        self.line = " " * indent
        self.continuation = indent + CONTINUATION_INDENT
        self.anchor = _anchor(node)
        if isinstance(node, Tree) and node.data == "profile":
            self._profile(node, indent)
        elif isinstance(node, Tree) and node.data in BLOCKS:
            self._block(node, indent)
        else:
            self._inline(node)

    def _profile(self, node: Tree[Token], indent: int) -> None:
        opening = _brace(node.children, "{")
        for child in node.children[: opening + 1]:
            self._inline(child)
        for item in node.children[opening + 1 : -1]:
            self._statement(item, indent + INDENT)
        self._close(node.children[-1], indent)

    def _block(self, node: Tree[Token], indent: int) -> None:
        """`on …` and `bomber …`: on one line when written on one line, else one action a line."""
        opening = _brace(node.children, "{")
        for child in node.children[: opening + 1]:
            self._inline(child)
        actions = [c for c in node.children[opening + 1 : -1] if str(c) != ";"]
        closing = node.children[-1]
        assert isinstance(closing, Token)
        inside = self.source[_token_at(node.children[opening]).end_pos : closing.start_pos]
        if "\n" in inside:  # a comment runs to the end of its line, so this sees those too
            for action in actions:
                self._statement(action, indent + INDENT)
            self._close(closing, indent)
            return
        for position, action in enumerate(actions):
            if position:
                self.line += ";"
            self._inline(action)
        self._place(closing)

    def _close(self, closing: Tree[Token] | Token, indent: int) -> None:
        token = _token_at(closing)
        self._comments_before(token.start_pos or 0, indent + INDENT, closing=True)
        self._end_line()
        self.line = " " * indent + str(token)
        self.read_to = token.end_pos or 0

    # -- tokens and what lies between them --

    def _inline(self, node: Tree[Token] | Token) -> None:
        for token in _tokens(node):
            self._place(token)

    def _place(self, token: Token) -> None:
        gap = self.source[self.read_to : token.start_pos]
        if self._comments_in(gap, self.continuation) or "\n" in gap:
            self._end_line()
            self.line = " " * self.continuation
        elif not (token in _NO_SPACE_BEFORE or self.line.endswith("(") or not self.line.strip()):
            self.line += " "
        if token is self.anchor:
            self.continuation = len(self.line)
        self.line += _canonical(token)
        self.read_to = token.end_pos or 0

    def _comments_before(self, position: int, indent: int, closing: bool = False) -> None:
        """Comments (and a blank line) between the last token and a new line's first token;
        no blank line before a closing `}` or the end of the file."""
        gap = self.source[self.read_to : position]
        last_end = self._comments_in(gap, indent)
        self._end_line()
        if not closing and gap[last_end:].count("\n") > 1 and self._blank_allowed():
            self._end_line()
            self.lines.append("")
        self.read_to = position

    def _comments_in(self, gap: str, indent: int) -> int:
        """Writes the gap's comments, a comment on the line of the token before it staying
        there; returns where the last one ends in the gap (0: there was none)."""
        last_end = 0
        for match in _COMMENT.finditer(gap):
            between = gap[last_end : match.start()]
            comment = match.group().rstrip()
            if not last_end and "\n" not in between and self.line.strip():
                self.line += "  " + comment
            else:
                self._end_line()
                if between.count("\n") > 1 and self._blank_allowed():
                    self.lines.append("")
                self.line = " " * indent + comment
            last_end = match.end()
        return last_end

    def _blank_allowed(self) -> bool:
        previous = self.lines[-1] if self.lines else ""
        return bool(self.lines) and previous != "" and not previous.endswith("{")

    def _end_line(self) -> None:
        if self.line.strip():
            self.lines.append(self.line.rstrip())
        self.line = ""


def _anchor(node: Tree[Token] | Token) -> Token | None:
    if isinstance(node, Tree) and node.data == "bypass":  # its condition, after one or two targets
        index = next(i for i, c in enumerate(node.children) if c == "when") + 1
        return next(_tokens(node.children[index]))
    if isinstance(node, Token) or node.data not in ANCHOR_CHILD:
        return None
    index = ANCHOR_CHILD[node.data]
    return next(_tokens(node.children[index])) if index < len(node.children) else None


def _brace(children: list[Tree[Token] | Token], brace: str) -> int:
    return next(i for i, c in enumerate(children) if isinstance(c, Token) and c == brace)


def _token_at(node: Tree[Token] | Token) -> Token:
    return next(_tokens(node))
