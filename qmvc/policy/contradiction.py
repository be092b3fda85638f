"""Conditions that can never be true, and conditions that are always true.

A badmail rule whose condition is never true never matches; one whose condition is always
true makes every message a badmail. Both are found structurally, from two parts of the
condition that exclude each other (`A and not A`, `sender is empty and sender is "a@b"`,
`message.size > 10MB and message.size < 1MB`) or that cover every message between them
(`A or not A`). Like shadowing, it is sound but not complete: a finding is never wrong,
but some go unseen.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from qmvc.policy import ast
from qmvc.policy.shadow import Lists, implies, shape

Clash = tuple[ast.Condition, ast.Condition]
"""Two parts of a condition: ones that cannot both be true, or cannot both be false."""

SINGLE_VALUED_FIELDS = frozenset(
    ("sender", "recipient", "subject", "body", "sender.domain", "recipient.local", "client.ip")
)
"""Fields a message has exactly one value of (a header may appear several times)."""


def never_true(condition: ast.Condition, lists: Lists) -> Clash | None:
    """Two parts that cannot both be true, when the condition needs both; else None."""
    match condition:
        case ast.And():
            parts = _flattened(condition)
            for part in parts:
                clash = never_true(part, lists)
                if clash:
                    return clash
            return next(
                ((a, b) for a, b in itertools.combinations(parts, 2) if _exclusive(a, b, lists)),
                None,
            )
        case ast.Or():
            return _in_every(never_true(o, lists) for o in condition.operands)
        case ast.Not():
            return always_true(condition.operand, lists)
    return None


def always_true(condition: ast.Condition, lists: Lists) -> Clash | None:
    """Two parts that cannot both be false, when either suffices; else None."""
    match condition:
        case ast.Or():
            parts = _flattened(condition)
            for part in parts:
                clash = always_true(part, lists)
                if clash:
                    return clash
            return next(
                ((a, b) for a, b in itertools.combinations(parts, 2) if _exhaustive(a, b, lists)),
                None,
            )
        case ast.And():
            return _in_every(always_true(o, lists) for o in condition.operands)
        case ast.Not():
            return never_true(condition.operand, lists)
    return None


def is_negation(a: ast.Condition, b: ast.Condition) -> bool:
    """Whether one of the two is `not` the other, as written."""
    return (isinstance(b, ast.Not) and shape(b.operand) == shape(a)) or (
        isinstance(a, ast.Not) and shape(a.operand) == shape(b)
    )


def _flattened(condition: ast.And | ast.Or) -> list[ast.Condition]:
    """The operands of nested ands (or ors) as one list: (a and b) and c → a, b, c."""
    kind = type(condition)
    parts: list[ast.Condition] = []
    for operand in condition.operands:
        parts.extend(_flattened(operand) if isinstance(operand, kind) else [operand])
    return parts


def _in_every(clashes: Iterable[Clash | None]) -> Clash | None:
    """The first clash, when every operand has one."""
    found = list(clashes)
    return found[0] if found and all(found) else None


def _exclusive(a: ast.Condition, b: ast.Condition, lists: Lists) -> bool:
    """Whether no message makes both true."""
    return (
        (isinstance(b, ast.Not) and implies(a, b.operand, lists))
        or (isinstance(a, ast.Not) and implies(b, a.operand, lists))
        or _different_values(a, b)
        or _different_values(b, a)
        or _disjoint_sizes(a, b)
    )


def _exhaustive(a: ast.Condition, b: ast.Condition, lists: Lists) -> bool:
    """Whether every message makes one of them true: `a or not b` where b implies a."""
    return (isinstance(b, ast.Not) and implies(b.operand, a, lists)) or (
        isinstance(a, ast.Not) and implies(a.operand, b, lists)
    )


def _different_values(a: ast.Condition, b: ast.Condition) -> bool:
    """`F is empty` against `F is|contains "text"`, or `F is "x"` against `F is "y"`, for a
    field with one value. Texts must differ ignoring case, since some fields ignore it."""
    if not isinstance(b, ast.TextTest) or not isinstance(b.value, ast.Text):
        return False
    if not isinstance(a, ast.EmptyTest | ast.TextTest) or a.field.name != b.field.name:
        return False
    if a.field.name not in SINGLE_VALUED_FIELDS:
        return False
    if isinstance(a, ast.EmptyTest):
        return b.operator in ("is", "contains") and bool(b.value.text.strip())
    if not isinstance(a.value, ast.Text) or (a.operator, b.operator) != ("is", "is"):
        return False
    first, second = a.value.text, b.value.text
    return first.isascii() and second.isascii() and first.lower() != second.lower()


def _disjoint_sizes(a: ast.Condition, b: ast.Condition) -> bool:
    """Two comparisons of the message's size no size meets: > 10MB and < 1MB."""
    if not (isinstance(a, ast.SizeTest) and isinstance(b, ast.SizeTest)):
        return False
    if a.field.name != "message.size" or b.field.name != "message.size":
        return False
    low = max(_lowest(a), _lowest(b))
    high = min(_highest(a), _highest(b))
    return low > high


def _lowest(test: ast.SizeTest) -> float:
    return {">": test.size_bytes + 1, ">=": test.size_bytes}.get(test.comparator, 0)


def _highest(test: ast.SizeTest) -> float:
    return {"<": test.size_bytes - 1, "<=": test.size_bytes}.get(test.comparator, float("inf"))
