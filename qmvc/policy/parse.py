"""Text → AST: the Lark grammar in grammar/qmvc.lark, one Transformer method per rule.

Parser errors become qmvc Diagnostics (see syntax_errors.py) pointing at the fault.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from lark import Token, Transformer_NonRecursive, v_args
from lark.exceptions import LarkError, UnexpectedInput

from qmvc.policy import ast
from qmvc.policy.diagnostics import Diagnostic, PolicyError, error
from qmvc.policy.grammar import parser
from qmvc.policy.syntax_errors import syntax_diagnostic
from qmvc.span import Span

MAX_CONDITION_DEPTH = 64
DEFAULT_QUIET_SECONDS = 3600.0
"""A bomber rule without `quiet`: notices about that source stay off for an hour."""


def parse_text(text: str, filename: str) -> ast.PolicyFile:
    """Parse one file's text; raises PolicyError with the first syntax error."""
    try:
        tree = parser().parse(text)
    except UnexpectedInput as exc:
        raise PolicyError([syntax_diagnostic(exc, text, filename)]) from None
    except LarkError as exc:  # anything else Lark may say is still a syntax problem
        raise PolicyError([error("syntax-error", str(exc), Span(filename, 1, 1, 1, 2))]) from None
    builder = _AstBuilder(filename)
    statements = builder.transform(tree)
    for problem in (builder.too_deep, builder.misplaced):
        if problem is not None:
            raise PolicyError([problem])
    return ast.PolicyFile(filename, tuple(statements))


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


@dataclasses.dataclass(frozen=True, slots=True)
class _Networks:
    """`in NETWORK...` or `in list NAME`, until a field test or a selector takes it."""

    values: tuple[ast.Text, ...]
    list_ref: ast.ListRef | None


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
            tuple(i for i in items if isinstance(i, ast.BomberDecl)),
            tuple(i for i in items if isinstance(i, ast.Selector)),
            tuple(i for i in items if isinstance(i, ast.Bypass)),
        )

    def selector(self, meta: Any, children: list[Any]) -> ast.Selector:
        field, *values = children
        if values and isinstance(values[0], _Networks):
            networks = values[0]
            return ast.Selector(
                str(field),
                networks.values,
                self._span(meta),
                self._token_span(field),
                networks=True,
                list_ref=networks.list_ref,
            )
        texts = tuple(ast.Text(_unquote(v), self._token_span(v)) for v in values)
        return ast.Selector(str(field), texts, self._span(meta), self._token_span(field))

    def bypass(self, meta: Any, children: list[Any]) -> ast.Bypass:
        *targets, condition = children
        return ast.Bypass(tuple(dict.fromkeys(targets)), condition, self._span(meta))

    def bypass_target(self, meta: Any, children: list[Any]) -> str:
        return str(children[0])

    def bomber(self, meta: Any, children: list[Any]) -> ast.BomberDecl:
        name, *rest = children
        tests = tuple(c for c in rest if isinstance(c, ast.RateTest))
        quiet = [c for c in rest if isinstance(c, float)]
        actions = tuple(
            ast.ActionDecl(str(c), (), self._token_span(c))  # type: ignore[arg-type]
            if isinstance(c, Token)
            else c
            for c in rest
            if isinstance(c, Token | ast.ActionDecl)
        )
        quiet_seconds = quiet[-1] if quiet else DEFAULT_QUIET_SECONDS
        return ast.BomberDecl(str(name), tests, actions, quiet_seconds, self._span(meta))

    def rate_test(self, meta: Any, children: list[Any]) -> ast.RateTest:
        kind, way, source, threshold, window = children
        return ast.RateTest(
            str(kind),  # type: ignore[arg-type]
            str(way),  # type: ignore[arg-type]
            str(source),  # type: ignore[arg-type]
            int(threshold),
            parse_duration(str(window)),
            self._span(meta),
        )

    def quiet(self, meta: Any, children: list[Any]) -> float:
        return parse_duration(str(children[0]))

    def state_store(self, meta: Any, children: list[Any]) -> ast.StateDecl:
        target = _unquote(children[1]) if len(children) > 1 else ""
        return ast.StateDecl(str(children[0]), target, self._span(meta))  # type: ignore[arg-type]

    def verdict_cache(self, meta: Any, children: list[Any]) -> ast.VerdictCacheDecl:
        value = str(children[0])
        ttl = 0.0 if value == "off" else parse_duration(value)
        return ast.VerdictCacheDecl(ttl, self._span(meta))

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
        field, operation_node = children
        span = self._span(meta)
        if isinstance(operation_node, _Networks):
            return ast.NetworkTest(field, operation_node.values, span, operation_node.list_ref)
        operation, *arguments = operation_node
        if operation == "empty":
            return ast.EmptyTest(field, span)
        if operation == "size":
            comparator, size_bytes = arguments
            return ast.SizeTest(field, comparator, size_bytes, span)
        operator, value, nocase = arguments
        return ast.TextTest(field, operator, value, nocase, span)

    def header_exists(self, meta: Any, children: list[Any]) -> ast.HeaderExists:
        return ast.HeaderExists(_unquote(children[0]), self._span(meta))

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

    def network_values(self, meta: Any, children: list[Any]) -> _Networks:
        if children and isinstance(children[0], ast.ListRef):
            return _Networks((), children[0])
        return _Networks(tuple(ast.Text(str(t), self._token_span(t)) for t in children), None)

    def network(self, meta: Any, children: list[Any]) -> ast.Text:
        """A network written unquoted in a list is one more text entry of it."""
        return ast.Text(str(children[0]), self._span(meta))

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
