"""What each test costs: the order in which the compiled tree asks the message for facts."""

from __future__ import annotations

from qmvc.engine.tree import Cost
from qmvc.policy import ast

FIELD_COSTS = {
    "sender": Cost.ENVELOPE,
    "recipient": Cost.ENVELOPE,
    "sender.domain": Cost.ENVELOPE,
    "recipient.local": Cost.ENVELOPE,
    "client.ip": Cost.HEADER,
    "message.size": Cost.ENVELOPE,
    "subject": Cost.HEADER,
    "header": Cost.HEADER,
    "attachment.name": Cost.STRUCTURE,
    "attachment.declared_type": Cost.STRUCTURE,
    "attachment.size": Cost.STRUCTURE,
    "body": Cost.BODY,
    "attachment.type": Cost.CONTENT,
}


def condition_cost(condition: ast.Condition) -> int:
    match condition:
        case ast.TextTest() | ast.EmptyTest() | ast.SizeTest() | ast.NetworkTest():
            return FIELD_COSTS.get(condition.field.name, Cost.CONTENT)
        case ast.HeaderExists():
            return Cost.HEADER
        case ast.AnyAttachment() | ast.HasDefects() | ast.ExceedsLimits():
            return Cost.STRUCTURE
        case ast.Not():
            return condition_cost(condition.operand)
        case ast.And() | ast.Or():
            return max(condition_cost(o) for o in condition.operands)


def evaluation_order(criteria: tuple[ast.Criterion, ...]) -> list[ast.Criterion]:
    """Cheap first; equal costs keep the order the admin wrote them in."""
    return sorted(criteria, key=lambda c: condition_cost(c.condition))
