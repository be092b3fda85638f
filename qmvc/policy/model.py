"""The policy's symbol tables: what is declared where, shared by the checker and the compiler."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from qmvc.policy import ast


@dataclass
class PolicyModel:
    """First declaration of each name wins; later ones are kept in `duplicates` for the checker."""

    lists: dict[str, ast.ListDecl] = field(default_factory=dict)
    scanners: dict[str, ast.ScannerDecl] = field(default_factory=dict)
    profiles: dict[str, ast.ProfileDecl] = field(default_factory=dict)
    guards: dict[str, ast.GuardDecl] = field(default_factory=dict)
    languages: list[ast.LanguageDecl] = field(default_factory=list)
    settings: dict[str, ast.Setting] = field(default_factory=dict)
    notices_from: dict[str, ast.NoticesFrom] = field(default_factory=dict)
    notices_limit: dict[str, ast.NoticesLimit] = field(default_factory=dict)
    state: dict[str, ast.StateDecl] = field(default_factory=dict)
    verdict_cache: dict[str, ast.VerdictCacheDecl] = field(default_factory=dict)
    domains: list[ast.DomainDecl] = field(default_factory=list)
    default_actions: dict[str, ast.OnBlock] = field(default_factory=dict)
    duplicates: list[tuple[str, str, Any, Any]] = field(default_factory=list)
    main_file: str = "<policy>"

    @classmethod
    def build(cls, policy: ast.PolicySet) -> PolicyModel:
        model = cls()
        if policy.files:  # includes are read first, so the main file comes last
            model.main_file = policy.files[-1].path
        for statement in policy.statements():
            model._add(statement)
        return model

    def _add(self, statement: ast.Statement) -> None:
        match statement:
            case ast.ListDecl():
                self._declare("list", self.lists, statement.name, statement)
            case ast.ScannerDecl():
                self._declare("scanner", self.scanners, statement.name, statement)
            case ast.ProfileDecl():
                self._declare("profile", self.profiles, statement.name, statement)
            case ast.GuardDecl():
                self._declare("guard", self.guards, statement.name, statement)
            case ast.NoticesFrom():
                self._declare("notices from", self.notices_from, "from", statement)
            case ast.NoticesLimit():
                self._declare("notices limit", self.notices_limit, "limit", statement)
            case ast.StateDecl():
                self._declare("state", self.state, "state", statement)
            case ast.VerdictCacheDecl():
                self._declare("verdict cache", self.verdict_cache, "cache", statement)
            case ast.Setting():
                self._declare("setting", self.settings, statement.key, statement)
            case ast.OnBlock():
                self._declare("on", self.default_actions, statement.outcome, statement)
            case ast.LanguageDecl():
                self.languages.append(statement)
            case ast.DomainDecl():
                self.domains.append(statement)

    def _declare(self, kind: str, table: dict, name: str, node: object) -> None:  # type: ignore[type-arg]
        if name in table:
            self.duplicates.append((kind, name, table[name], node))
        else:
            table[name] = node

    def default_profile(self) -> ast.ProfileDecl | None:
        marked = [p for p in self.profiles.values() if p.is_default]
        if marked:
            return marked[0]
        return next(iter(self.profiles.values()), None) if len(self.profiles) == 1 else None

    def actions_for(self, profile: ast.ProfileDecl, outcome: str) -> ast.OnBlock | None:
        """The profile's own `on` block, else the policy-wide one."""
        own = next((b for b in profile.on_blocks if b.outcome == outcome), None)
        return own or self.default_actions.get(outcome)

    def criteria(self) -> Iterator[tuple[ast.ProfileDecl, ast.Criterion]]:
        for profile in self.profiles.values():
            for criterion in profile.criteria:
                yield profile, criterion


def walk(condition: ast.Condition) -> Iterator[ast.Condition]:
    """Every node of a condition, depth first (depth is bounded by the parser)."""
    yield condition
    match condition:
        case ast.Not():
            yield from walk(condition.operand)
        case ast.And() | ast.Or():
            for operand in condition.operands:
                yield from walk(operand)
