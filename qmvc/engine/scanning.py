"""Scanner engines for one run, built from the tree's specs on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qmvc.engine.evaluate import ScannerProvider
from qmvc.engine.tree import DecisionTree

if TYPE_CHECKING:
    from qmvc.scanners.base import Scanner


def scanner_provider(decision_tree: DecisionTree) -> ScannerProvider:
    """Engines are built only when a message reaches the scan step (bypass costs nothing)."""
    built: dict[str, Scanner | None] = {}

    def provide(name: str) -> Scanner | None:
        if name not in built:
            spec = decision_tree.scanners.get(name)
            if spec is None:
                built[name] = None
            else:
                from qmvc.scanners.factory import build_scanner

                built[name] = build_scanner(spec)
        return built[name]

    return provide
