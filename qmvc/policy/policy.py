"""The one object a caller touches: load a policy, check it, compile it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qmvc.engine.tree import DecisionTree
from qmvc.policy import ast
from qmvc.policy.check import check_policy
from qmvc.policy.compile import compile_policy
from qmvc.policy.diagnostics import Diagnostic, PolicyError
from qmvc.policy.model import PolicyModel
from qmvc.policy.source import load_policy
from qmvc.policy.stamp import FileStamp


@dataclass
class Policy:
    path: Path
    syntax: ast.PolicySet
    sources: dict[str, str]
    stamps: dict[str, FileStamp]

    @classmethod
    def load(cls, path: Path) -> Policy:
        """Read and parse the file and its includes; raises PolicyError."""
        loaded = load_policy(path)
        return cls(path, loaded.policy, loaded.sources, loaded.stamps)

    @property
    def model(self) -> PolicyModel:
        return PolicyModel.build(self.syntax)

    def check(self) -> list[Diagnostic]:
        return check_policy(self.model)

    def compile(self) -> DecisionTree:
        """The decision tree; raises PolicyError when the checks find an error."""
        model = self.model
        errors = [d for d in check_policy(model) if d.severity == "error"]
        if errors:
            raise PolicyError(errors, self.sources)
        return compile_policy(model, self.syntax.dependencies)
