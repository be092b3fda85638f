"""Finding badmail rules that can never decide.

Rules are tested cheap-first and the first match decides, so a rule never decides when
another rule tested before it matches every message it matches. Implication is decided
structurally (equal tests, and/or containment, `any attachment` under attachment tests):
sound but not complete, so a warning is never wrong but some shadows go unseen.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from qmvc.policy import ast
from qmvc.policy.cost import evaluation_order


def shape(condition: ast.Condition) -> Any:
    """The condition without positions, so two spellings of one test compare equal."""
    match condition:
        case ast.TextTest():
            value = condition.value
            value_key = (
                type(value).__name__,
                getattr(value, "text", ""),
                getattr(value, "pattern", ""),
                getattr(value, "flags", ""),
                getattr(value, "name", ""),
            )
            return (
                "text",
                _field(condition.field),
                condition.operator,
                value_key,
                condition.nocase,
            )
        case ast.EmptyTest():
            return ("empty", _field(condition.field))
        case ast.SizeTest():
            return ("size", _field(condition.field), condition.comparator, condition.size_bytes)
        case ast.NetworkTest():
            written = tuple(text.text for text in condition.networks)
            listed = condition.list_ref.name if condition.list_ref else ""
            return ("network", _field(condition.field), written, listed)
        case ast.HeaderExists():
            return ("exists", condition.header.lower())
        case ast.AnyAttachment():
            return ("any-attachment",)
        case ast.HasDefects():
            return ("defects",)
        case ast.ExceedsLimits():
            return ("limits",)
        case ast.Not():
            return ("not", shape(condition.operand))
        case ast.And():
            return ("and", frozenset(shape(o) for o in condition.operands))
        case ast.Or():
            return ("or", frozenset(shape(o) for o in condition.operands))


def _field(field: ast.Field) -> tuple[str, str, str]:
    return (field.name, field.header.lower(), field.quantifier)


Lists = Mapping[str, ast.ListDecl]


def implies(a: ast.Condition, b: ast.Condition, lists: Lists) -> bool:
    """True when every message matching `a` surely matches `b`."""
    if shape(a) == shape(b):
        return True
    if isinstance(b, ast.Or) and any(implies(a, o, lists) for o in b.operands):
        return True
    if isinstance(b, ast.And) and all(implies(a, o, lists) for o in b.operands):
        return True
    if isinstance(a, ast.And) and any(implies(o, b, lists) for o in a.operands):
        return True
    if isinstance(a, ast.Or) and all(implies(o, b, lists) for o in a.operands):
        return True
    if isinstance(b, ast.AnyAttachment) and _needs_an_attachment(a):
        return True
    return _within_list(a, b, lists)


def _within_list(a: ast.Condition, b: ast.Condition, lists: Lists) -> bool:
    """`x matches "*.exe"` implies `x matches list L` when L holds "*.exe"."""
    if not (isinstance(a, ast.TextTest) and isinstance(b, ast.TextTest)):
        return False
    if not isinstance(b.value, ast.ListRef) or isinstance(a.value, ast.ListRef):
        return False
    same_test = (_field(a.field), a.operator, a.nocase) == (_field(b.field), b.operator, b.nocase)
    declared = lists.get(b.value.name)
    return (
        same_test
        and declared is not None
        and any(
            shape(ast.TextTest(a.field, a.operator, p, a.nocase, a.span)) == shape(a)
            for p in declared.patterns
        )
    )


def _needs_an_attachment(condition: ast.Condition) -> bool:
    return (
        isinstance(condition, ast.TextTest | ast.SizeTest)
        and condition.field.name.startswith("attachment.")
        and condition.field.quantifier == "any"
    )


def shadowed_criteria(
    criteria: tuple[ast.Criterion, ...], lists: Lists
) -> Iterator[tuple[ast.Criterion, ast.Criterion]]:
    """(shadowed rule, the earlier-tested rule that shadows it)."""
    ordered = evaluation_order(criteria)
    for index, later in enumerate(ordered):
        for earlier in ordered[:index]:
            if implies(later.condition, earlier.condition, lists):
                yield later, earlier
                break
