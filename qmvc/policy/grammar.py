"""The policy grammar, grammar/qmvc.lark, loaded once as an LALR parser that keeps positions.

Shared by the parser and by the code that explains its errors, which reads the same
terminals (strings, regular expressions, comments) to see the source as the lexer does.
"""

from __future__ import annotations

import functools

from lark import Lark

from qmvc.paths import GRAMMAR_DIR


@functools.cache
def parser() -> Lark:
    grammar = (GRAMMAR_DIR / "qmvc.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def terminal_regex(name: str) -> str:
    """The regular expression the lexer uses for terminal `name` (such as STRING)."""
    return parser().get_terminal(name).pattern.to_regexp()
