"""Text → AST: the Lark grammar in grammar/qmvc.lark, one Transformer method per rule.

Parser errors become qmvc Diagnostics pointing at the offending token, saying what was
expected in words an admin reads, with a did-you-mean for misspelled keywords.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any

from lark import Lark, Token, Transformer_NonRecursive, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from qmvc.paths import GRAMMAR_DIR
from qmvc.policy import ast
from qmvc.policy.diagnostics import Diagnostic, PolicyError, did_you_mean, error
from qmvc.span import Span

MAX_CONDITION_DEPTH = 64

CHARACTER_HINTS = {
    "&": "combine conditions with 'and'",
    "|": "combine conditions with 'or'",
    "!": "negate a condition with 'not'",
    "'": 'quote strings with double quotes: "..."',
}

TERMINAL_WORDS = {
    "NAME": "a name",
    "STRING": 'a quoted string ("...")',
    "REGEX": "a regular expression (/.../)",
    "DURATION": "a duration such as 30s",
    "SIZE": "a size such as 10MB",
    "INT": "a number",
    "SUFFIX": "a domain suffix such as .de",
    "ATTACHMENT_ATTRIBUTE": "an attachment attribute such as attachment.type",
    "$END": "the end of the file",
}


@functools.cache
def _parser() -> Lark:
    grammar = (GRAMMAR_DIR / "qmvc.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def parse_text(text: str, filename: str) -> ast.PolicyFile:
    """Parse one file's text; raises PolicyError with the first syntax error."""
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise PolicyError([_syntax_diagnostic(exc, text, filename)]) from None
    except LarkError as exc:  # anything else Lark may say is still a syntax problem
        raise PolicyError([error("syntax-error", str(exc), Span(filename, 1, 1, 1, 2))]) from None
    builder = _AstBuilder(filename)
    statements = builder.transform(tree)
    for problem in (builder.too_deep, builder.misplaced):
        if problem is not None:
            raise PolicyError([problem])
    return ast.PolicyFile(filename, tuple(statements))


def _describe_expected(names: set[str]) -> str:
    words: list[str] = []
    for name in sorted(names):
        keywords = _terminal_keywords(name)
        if name in TERMINAL_WORDS:
            words.append(TERMINAL_WORDS[name])
        elif keywords:
            words.extend(f"'{k}'" for k in keywords)
        else:
            words.append(name.lower().replace("_", " "))
    unique = sorted(set(words))
    if len(unique) > 12:
        unique = unique[:12] + ["..."]
    return ", ".join(unique)


def _terminal_keywords(name: str) -> tuple[str, ...]:
    """The words a keyword terminal stands for: 'profile', or each of sender|subject|...."""
    try:
        pattern = _parser().get_terminal(name).pattern
    except KeyError:
        return ()
    if pattern.type == "str":
        return (pattern.value,)
    alternation = re.fullmatch(r"\(\?:(.*)\)", pattern.value)
    if not alternation:
        return ()
    words = [
        re.sub(r"\[[^]]*\]\+", " ", a).replace("\\-", "-")  # unless[ \t]+badmail
        for a in alternation.group(1).split("|")
    ]
    return tuple(w for w in words if re.fullmatch(r"[a-z][a-z -]*", w))


def _hint_for_word(word: str, expected: set[str]) -> str:
    """Did-you-mean among the keywords allowed here, else what is allowed here."""
    allowed = {
        part for name in expected for k in _terminal_keywords(name) for part in (k, *k.split())
    }
    return did_you_mean(word, allowed - {word}) or f"expected {_describe_expected(expected)}"


def _syntax_diagnostic(exc: UnexpectedInput, text: str, filename: str) -> Diagnostic:
    line, column = max(exc.line, 1), max(exc.column, 1)
    if isinstance(exc, UnexpectedEOF):
        expected = _describe_expected(set(exc.expected))
        last_line = text.count("\n") + 1
        last_col = len(text.rsplit("\n", 1)[-1]) + 1
        span = Span(filename, last_line, last_col, last_line, last_col + 1)
        return error("unexpected-end", "the file ends too early", span, f"expected {expected}")
    if isinstance(exc, UnexpectedCharacters):
        position = exc.pos_in_stream or 0
        char = text[position] if position < len(text) else ""
        span = Span(filename, line, column, line, column + 1)
        if char == '"':
            return error(
                "unterminated-string",
                "this string has no closing quote",
                span,
                'close it with " on the same line',
            )
        if char == "/":
            return error(
                "unterminated-regex",
                "this regular expression has no closing /",
                span,
                "write /pattern/ on one line, with / inside escaped as \\/",
            )
        word = _word_at(text, position)
        if word:
            span = Span(filename, line, column, line, column + len(word))
            return error(
                "unexpected-word",
                f"'{word}' is not expected here",
                span,
                _hint_for_word(word, set(exc.allowed or ())),
            )
        shown = repr(char) if char else "end of input"
        return error(
            "unexpected-character",
            f"unexpected character {shown}",
            span,
            CHARACTER_HINTS.get(char) or f"expected {_describe_expected(exc.allowed or set())}",
        )
    token: Token = exc.token  # type: ignore[attr-defined]
    value = str(token)
    expected_names = set(exc.expected)  # type: ignore[attr-defined]
    expected = _describe_expected(expected_names)
    if token.type == "$END":  # Lark places it on the last token: point just past that
        end_line, end_column = token.end_line or line, token.end_column or column
        span = Span(filename, end_line, end_column, end_line, end_column + 1)
        return error("unexpected-end", "the file ends too early", span, f"expected {expected}")
    span = Span(filename, line, column, line, column + max(len(value), 1))
    if "DURATION" in expected_names and re.fullmatch(r"\d+(\.\d+)?", value):
        written = re.compile(r"[\w.]+").match(text, token.start_pos or 0)
        shown = written.group(0) if written else value
        span = Span(filename, line, column, line, column + len(shown))
        return error(
            "bad-duration",
            f"'{shown}' is not a duration",
            span,
            "write a number and a unit: ms, s, m or h, such as 30s or 2m",
        )
    hint = (
        _hint_for_word(value, expected_names)
        if re.fullmatch(r"[A-Za-z_-]+", value)
        else f"expected {expected}"
    )
    return error("unexpected-token", f"'{_clip(value)}' is not expected here", span, hint)


def _word_at(text: str, position: int) -> str:
    match = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*").match(text, position)
    return match.group(0) if match else ""


def _clip(value: str) -> str:
    return value if len(value) <= 40 else value[:37] + "..."


def _unquote(token: Token | str) -> str:
    """A STRING token's text: only \\" and \\\\ are escapes, so globs and paths read as written."""
    return re.sub(r'\\(["\\])', r"\1", str(token)[1:-1])


DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
}


def parse_duration(text: str) -> float:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text).groups()  # type: ignore[union-attr]
    return float(number) * DURATION_UNITS[unit]


def parse_size(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([A-Za-z]*)", text).groups()  # type: ignore[union-attr]
    return int(float(number) * SIZE_UNITS[unit.lower()])


@dataclasses.dataclass(frozen=True, slots=True)
class _GuardLanguage:
    """A bare `language NAME`, until `start` folds it into the guard before it."""

    code: str
    code_span: Span
    span: Span


@v_args(meta=True)
class _AstBuilder(Transformer_NonRecursive[Token, list[ast.Statement]]):
    """Builds frozen AST nodes. Non-recursive, so 1,000 nested `not`s cannot blow the stack."""

    def __init__(self, filename: str) -> None:
        super().__init__()
        self.filename = filename
        self.too_deep: Diagnostic | None = None
        self.misplaced: Diagnostic | None = None
        self.grouped_depth: dict[int, int] = {}  # id(condition) → depth with its parentheses

    # -- positions --
    def _span(self, meta: Any) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.filename, 1, 1, 1, 1)
        return Span(self.filename, meta.line, meta.column, meta.end_line, meta.end_column)

    def _token_span(self, token: Token) -> Span:
        return Span(
            self.filename,
            token.line or 1,
            token.column or 1,
            token.end_line or token.line or 1,
            token.end_column or (token.column or 1) + len(token),
        )

    def _depth_checked(self, node: Any) -> Any:
        self._check_nesting(node.depth, node.span)
        return node

    def _check_nesting(self, depth: int, span: Span) -> None:
        if depth > MAX_CONDITION_DEPTH:  # bottom-up: the last one set is the outermost
            self.too_deep = error(
                "too-deep",
                f"this condition nests {depth} levels deep",
                span,
                f"at most {MAX_CONDITION_DEPTH} levels of not/and/or/parentheses are allowed; "
                "split it into several badmail rules",
            )

    def _nesting(self, condition: Any) -> int:
        """How deep a condition nests, counting the parentheses written around it."""
        return max(_depth(condition), self.grouped_depth.get(id(condition), 0))

    # -- file --
    def start(self, meta: Any, children: list[Any]) -> list[Any]:
        """Fold each `language NAME` into the guard statement just before it."""
        statements: list[Any] = []
        for child in children:
            if not isinstance(child, _GuardLanguage):
                statements.append(child)
            elif statements and isinstance(statements[-1], ast.GuardDecl):
                guard = statements.pop()
                statements.append(
                    dataclasses.replace(guard, language=child.code, language_span=child.code_span)
                )
            elif self.misplaced is None:
                self.misplaced = error(
                    "unexpected-token",
                    f"'language {child.code}' needs 'for' and domain suffixes, or 'default'",
                    child.span,
                    f"for example: language {child.code} for .{child.code}   (or, after a guard: "
                    f'guard av "av@example.org" language {child.code})',
                )
        return statements

    def include(self, meta: Any, children: list[Any]) -> ast.Include:
        return ast.Include(_unquote(children[0]), self._span(meta))

    def list_inline(self, meta: Any, children: list[Any]) -> ast.ListDecl:
        return ast.ListDecl(str(children[0]), tuple(children[1:]), self._span(meta))

    def list_file(self, meta: Any, children: list[Any]) -> ast.ListDecl:
        return ast.ListDecl(str(children[0]), (), self._span(meta), from_file=_unquote(children[1]))

    def language_for(self, meta: Any, children: list[Any]) -> ast.LanguageDecl:
        suffixes = tuple(str(s).lower() for s in children[1:])
        return ast.LanguageDecl(str(children[0]), suffixes, False, self._span(meta))

    def language_default(self, meta: Any, children: list[Any]) -> ast.LanguageDecl:
        return ast.LanguageDecl(str(children[0]), (), True, self._span(meta))

    def guard(self, meta: Any, children: list[Any]) -> ast.GuardDecl:
        addresses = tuple(_unquote(c) for c in children[1:])
        return ast.GuardDecl(str(children[0]), addresses, self._span(meta))

    def guard_language(self, meta: Any, children: list[Any]) -> _GuardLanguage:
        return _GuardLanguage(str(children[0]), self._token_span(children[0]), self._span(meta))

    def notices_from(self, meta: Any, children: list[Any]) -> ast.NoticesFrom:
        return ast.NoticesFrom(_unquote(children[0]), self._span(meta))

    def notices_limit(self, meta: Any, children: list[Any]) -> ast.NoticesLimit:
        count, window = children
        return ast.NoticesLimit(int(count), parse_duration(str(window)), self._span(meta))

    def setting(self, meta: Any, children: list[Any]) -> ast.Setting:
        key, value = children
        text = _unquote(value) if value.type == "STRING" else str(value)
        return ast.Setting(str(key), text, self._span(meta))

    # -- scanners --
    def scanner(self, meta: Any, children: list[Any]) -> ast.ScannerDecl:
        name, kind, *options = children
        fields: dict[str, Any] = {}
        addresses: list[ast.Address] = []
        for option_name, option_value in options:
            if option_name == "address":
                addresses.extend(option_value)
            else:
                fields[option_name] = option_value
        if "engine" in fields:
            fields["engine"], fields["engine_span"] = fields["engine"]
        return ast.ScannerDecl(
            str(name),
            str(kind),  # type: ignore[arg-type]
            self._span(meta),
            addresses=tuple(addresses),
            **fields,
        )

    def address(self, meta: Any, children: list[Any]) -> tuple[str, list[ast.Address]]:
        kind = str(children[0])
        return (
            "address",
            [
                ast.Address(kind, _unquote(t), self._token_span(t))  # type: ignore[arg-type]
                for t in children[1:]
            ],
        )

    def engine(self, meta: Any, children: list[Any]) -> tuple[str, tuple[str, Span]]:
        return "engine", (str(children[0]), self._token_span(children[0]))

    def run(self, meta: Any, children: list[Any]) -> tuple[str, str]:
        return "run", _unquote(children[0])

    def timeout(self, meta: Any, children: list[Any]) -> tuple[str, ast.Duration]:
        base = parse_duration(str(children[0]))
        per_mb = parse_duration(str(children[1])) if len(children) > 1 else 0.0
        return "timeout", ast.Duration(base, per_mb, self._span(meta))

    def codes(self, meta: Any, children: list[Any]) -> tuple[str, tuple[int, ...]]:
        return f"{children[0]}_codes", tuple(int(c) for c in children[1:])

    def virus_pattern(self, meta: Any, children: list[Any]) -> tuple[str, Any]:
        return "virus_pattern", children[0]

    def update(self, meta: Any, children: list[Any]) -> tuple[str, str]:
        return "update", _unquote(children[0])

    # -- profiles --
    def profile(self, meta: Any, children: list[Any]) -> ast.ProfileDecl:
        name, *items = children
        is_default = bool(items) and isinstance(items[0], Token) and items[0].type == "DEFAULT_MARK"
        if is_default:
            items = items[1:]
        return ast.ProfileDecl(
            str(name),
            is_default,
            tuple(i for i in items if isinstance(i, ast.Criterion)),
            tuple(i for i in items if isinstance(i, ast.ScanDecl)),
            tuple(i for i in items if isinstance(i, ast.OnBlock)),
            self._span(meta),
        )

    def criterion(self, meta: Any, children: list[Any]) -> ast.Criterion:
        return ast.Criterion(str(children[0]), children[1], self._span(meta))

    def scan(self, meta: Any, children: list[Any]) -> ast.ScanDecl:
        engines = tuple((str(t), self._token_span(t)) for t in children if t.type == "NAME")
        modifiers = [" ".join(str(t).split()) for t in children if t.type == "SCAN_MODIFIER"]
        mode = next((m for m in reversed(modifiers) if m in ("first", "all", "parallel")), "first")
        return ast.ScanDecl(
            engines,
            "unless badmail" in modifiers,
            mode,  # type: ignore[arg-type]
            self._span(meta),
        )

    def on_block(self, meta: Any, children: list[Any]) -> ast.OnBlock:
        outcome, *actions = children
        built = tuple(
            ast.ActionDecl(str(a), (), self._token_span(a))  # type: ignore[arg-type]
            if isinstance(a, Token)
            else a
            for a in actions
        )
        return ast.OnBlock(str(outcome), built, self._span(meta))  # type: ignore[arg-type]

    def keep(self, meta: Any, children: list[Any]) -> ast.ActionDecl:
        return self._action("keep", meta, children, _unquote)

    def forward(self, meta: Any, children: list[Any]) -> ast.ActionDecl:
        return self._action("forward", meta, children, _unquote)

    def notify(self, meta: Any, children: list[Any]) -> ast.ActionDecl:
        return self._action("notify", meta, children, str)

    def bounce(self, meta: Any, children: list[Any]) -> ast.ActionDecl:
        """`bounce` or `bounce "reason"`: qmail-local puts the reason into the bounce."""
        return self._action("bounce", meta, children, _unquote)

    def _action(self, kind: str, meta: Any, children: list[Any], convert: Any) -> ast.ActionDecl:
        return ast.ActionDecl(
            kind,  # type: ignore[arg-type]
            tuple(convert(c) for c in children),
            self._span(meta),
            tuple(self._token_span(c) for c in children),
        )

    def domain(self, meta: Any, children: list[Any]) -> ast.DomainDecl:
        *patterns, profile = children
        return ast.DomainDecl(
            tuple((_unquote(p).lower(), self._token_span(p)) for p in patterns),
            str(profile),
            self._token_span(profile),
            self._span(meta),
        )

    # -- conditions --
    def or_test(self, meta: Any, children: list[Any]) -> ast.Or:
        depth = 1 + max(self._nesting(c) for c in children)
        return self._depth_checked(ast.Or(tuple(children), self._span(meta), depth))  # type: ignore[no-any-return]

    def and_test(self, meta: Any, children: list[Any]) -> ast.And:
        depth = 1 + max(self._nesting(c) for c in children)
        return self._depth_checked(ast.And(tuple(children), self._span(meta), depth))  # type: ignore[no-any-return]

    def negation(self, meta: Any, children: list[Any]) -> ast.Not:
        operand = children[0]
        return self._depth_checked(ast.Not(operand, self._span(meta), 1 + self._nesting(operand)))  # type: ignore[no-any-return]

    def group(self, meta: Any, children: list[Any]) -> ast.Condition:
        """Parentheses add no node, but they count toward the nesting limit."""
        inner = children[0]
        depth = 1 + self._nesting(inner)
        self.grouped_depth[id(inner)] = depth
        self._check_nesting(depth, self._span(meta))
        return inner  # type: ignore[no-any-return]

    def field_test(self, meta: Any, children: list[Any]) -> ast.Condition:
        field, (operation, *arguments) = children
        span = self._span(meta)
        if operation == "empty":
            return ast.EmptyTest(field, span)
        if operation == "size":
            comparator, size_bytes = arguments
            return ast.SizeTest(field, comparator, size_bytes, span)
        operator, value, nocase = arguments
        return ast.TextTest(field, operator, value, nocase, span)

    def any_attachment(self, meta: Any, children: list[Any]) -> ast.AnyAttachment:
        return ast.AnyAttachment(self._span(meta))

    def has_defects(self, meta: Any, children: list[Any]) -> ast.HasDefects:
        return ast.HasDefects(self._span(meta))

    def exceeds_limits(self, meta: Any, children: list[Any]) -> ast.ExceedsLimits:
        return ast.ExceedsLimits(self._span(meta))

    def simple_field(self, meta: Any, children: list[Any]) -> ast.Field:
        return ast.Field(str(children[0]), self._span(meta))

    def header_field(self, meta: Any, children: list[Any]) -> ast.Field:
        return ast.Field("header", self._span(meta), header=_unquote(children[0]))

    def attachment_field(self, meta: Any, children: list[Any]) -> ast.Field:
        quantifier = str(children[0]) if len(children) == 2 else "any"
        return ast.Field(str(children[-1]), self._span(meta), quantifier=quantifier)  # type: ignore[arg-type]

    def quantifier(self, meta: Any, children: list[Any]) -> str:
        return str(children[0])

    def message_size(self, meta: Any, children: list[Any]) -> ast.Field:
        return ast.Field("message.size", self._span(meta))

    def is_empty(self, meta: Any, children: list[Any]) -> tuple[str]:
        return ("empty",)

    def text_operation(self, meta: Any, children: list[Any]) -> tuple[str, str, Any, bool]:
        nocase = len(children) == 3
        return ("text", str(children[0]), children[1], nocase)

    def size_comparison(self, meta: Any, children: list[Any]) -> tuple[str, str, int]:
        return ("size", str(children[0]), parse_size(str(children[1])))

    def list_ref(self, meta: Any, children: list[Any]) -> ast.ListRef:
        return ast.ListRef(str(children[0]), self._span(meta))

    def string(self, meta: Any, children: list[Any]) -> ast.Text:
        return ast.Text(_unquote(children[0]), self._span(meta))

    def regex(self, meta: Any, children: list[Any]) -> ast.Regex:
        raw = str(children[0])
        closing = raw.rfind("/")
        # `\/` stays as written: re reads it as "/", and error offsets stay source offsets
        return ast.Regex(raw[1:closing], raw[closing + 1 :], self._span(meta))


def _depth(node: Any) -> int:
    return getattr(node, "depth", 0)
