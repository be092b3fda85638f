"""`qmvc test [PATH…]`: run a policy's test cases; exit 1 when one fails.

Without PATH the cases are the policy's own, `NAME.tests.toml` beside `NAME.qmvc`. A PATH
is a test file or a directory of `*.tests.toml`; without `--policy`, a test file
`NAME.tests.toml` with a `NAME.qmvc` beside it tests that policy, as a reader of the two
files would expect, and any other one the usual policy (QMVC_POLICY, /etc/qmvc/…).
`--coverage` lists the rules no case exercised; it is a report and never fails the run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qmvc.console import emit

if TYPE_CHECKING:
    from qmvc.engine.tree import DecisionTree
    from qmvc.testing.run import CaseResult, Rule

SUFFIX = ".tests.toml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help=f"test files or directories of *{SUFFIX} (default: the policy's own, "
        f"NAME{SUFFIX} beside NAME.qmvc)",
    )
    parser.add_argument(
        "--coverage", action="store_true", help="list the rules that no case exercised"
    )


def run(args: argparse.Namespace, policy_path: Path) -> int:
    from qmvc.commands.explain import load_decision_tree
    from qmvc.testing.cases import CaseError, load_cases
    from qmvc.testing.run import run_case, uncovered

    try:
        plan = _plan(args, policy_path)
        cases = {
            policy: [c for f in files for c in load_cases(f)] for policy, files in plan.items()
        }
    except CaseError as exc:
        print(f"qmvc test: {exc}", file=sys.stderr)
        return 2
    runs: list[tuple[Path, DecisionTree, list[CaseResult]]] = []
    for policy, policy_cases in cases.items():
        decision_tree = load_decision_tree(policy)
        if decision_tree is None:
            return 1
        runs.append((policy, decision_tree, [run_case(decision_tree, c) for c in policy_cases]))
    missing = {policy: uncovered(tree, results) for policy, tree, results in runs}
    if args.format == "json":
        print(json.dumps(_as_json(runs, missing, args.coverage), indent=2, ensure_ascii=False))
    else:
        _print_text(runs, missing, args.coverage)
    return 1 if any(result.failures for _, _, results in runs for result in results) else 0


def _plan(args: argparse.Namespace, policy_path: Path) -> dict[Path, list[Path]]:
    """Which test files run against which policy."""
    from qmvc.testing.cases import CaseError

    if not args.paths:
        own = policy_path.with_name(policy_path.name.removesuffix(".qmvc") + SUFFIX)
        if not own.is_file():
            raise CaseError(f"{policy_path} has no test file: write {own}")
        return {policy_path: [own]}
    plan: dict[Path, list[Path]] = {}
    for path in args.paths:
        files = sorted(path.glob(f"*{SUFFIX}")) if path.is_dir() else [path]
        if not files:
            raise CaseError(f"{path}: no *{SUFFIX} file")
        for file in files:
            beside = file.with_name(file.name.removesuffix(SUFFIX) + ".qmvc")
            policy = policy_path if args.policy or not beside.is_file() else beside
            plan.setdefault(policy, []).append(file)
    return plan


def _as_json(
    runs: list[tuple[Path, DecisionTree, list[CaseResult]]],
    missing: dict[Path, list[Rule]],
    coverage: bool,
) -> list[dict[str, Any]]:
    return [
        {
            "policy": str(policy),
            "passed": sum(1 for r in results if not r.failures),
            "failed": sum(1 for r in results if r.failures),
            "cases": [
                {
                    "file": str(r.case.file),
                    "name": r.case.name,
                    "ok": not r.failures,
                    "failures": r.failures,
                    "verdict": r.verdict.to_json(),
                    "deciding": [step.as_dict() for step in r.deciding],
                }
                for r in results
            ],
            "uncovered": [rule.as_dict() for rule in missing[policy]] if coverage else None,
        }
        for policy, _, results in runs
    ]


def _print_text(
    runs: list[tuple[Path, DecisionTree, list[CaseResult]]],
    missing: dict[Path, list[Rule]],
    coverage: bool,
) -> None:
    from qmvc.commands.explain import trace_line

    for policy, decision_tree, results in runs:
        sources = _sources(decision_tree)
        for result in results:
            if not result.failures:
                emit(f"ok    {result.case.name}", "ok")
                continue
            emit(f"FAIL  {result.case.name}  ({result.case.file})", "error")
            for failure in result.failures:
                emit(f"      {failure}", "error")
            emit("      trace:")
            for step in result.deciding:
                emit("        " + "  " * step.depth + trace_line(step))
                if step.depth == 0 and step.node.startswith("badmail ") and step.span:
                    emit(f"          {step.span.line:>4} | {_line(sources, step.span)}", "dim")
        failed = sum(1 for r in results if r.failures)
        summary = f"{policy}: {len(results) - failed} passed, {failed} failed"
        emit(summary, "error" if failed else "ok")
        if coverage:
            rules = missing[policy]
            emit(f"coverage: {len(rules)} rule(s) no case exercised" + (":" if rules else ""))
            for rule in rules:
                emit(f"  {rule.span}: {rule}", "warning")


def _sources(decision_tree: DecisionTree) -> dict[str, list[str]]:
    found = {}
    for name in decision_tree.sources:
        try:
            found[name] = Path(name).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            found[name] = []
    return found


def _line(sources: dict[str, list[str]], span: Any) -> str:
    lines = sources.get(span.file, [])
    return lines[span.line - 1].strip() if 0 < span.line <= len(lines) else ""
