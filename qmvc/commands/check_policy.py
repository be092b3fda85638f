"""`qmvc check-policy FILE…`: what admins run before they save a policy."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from qmvc.console import emit

if TYPE_CHECKING:
    from qmvc.policy.diagnostics import Diagnostic


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="*",
        type=Path,
        help="policy files (default: --policy, QMVC_POLICY, /etc/qmvc/policy.qmvc, "
        "or the shipped default)",
    )
    parser.add_argument("--strict", action="store_true", help="warnings fail the check too")


def run(args: argparse.Namespace, policy_path: Path) -> int:
    from qmvc.policy.diagnostics import render_text

    files = args.files or [policy_path]
    results = [_check_file(path) for path in files]
    failed = any(_fails(diags, args.strict) for _, diags, _, _ in results)
    if args.format == "json":
        print(
            json.dumps(
                [
                    {
                        "file": str(path),
                        "ok": not _fails(diags, args.strict),
                        "summary": summary,
                        "diagnostics": [d.to_json() for d in diags],
                    }
                    for path, diags, _, summary in results
                ],
                indent=2,
            )
        )
        return 1 if failed else 0
    for path, diagnostics, sources, summary in results:
        for diagnostic in diagnostics:
            emit(render_text(diagnostic, sources), diagnostic.severity)
        emit(*_last_line(path, diagnostics, summary, args.strict))
    return 1 if failed else 0


def _last_line(
    path: Path, diagnostics: list[Diagnostic], summary: dict[str, int], strict: bool
) -> tuple[str, str]:
    """The file's verdict and its style; it says `ok` exactly when the exit code is 0."""
    from qmvc.policy.diagnostics import summary_counts

    errors, warnings = summary_counts(diagnostics)
    if errors:
        return f"{path}: {errors} error(s), {warnings} warning(s)", "error"
    if _fails(diagnostics, strict):
        return f"{path}: failed (--strict): 0 error(s), {warnings} warning(s)", "error"
    counts = ", ".join(f"{n} {k}" for k, n in summary.items())
    return f"{path}: ok: {counts}; {warnings} warning(s)", "ok"


def _fails(diagnostics: list[Diagnostic], strict: bool) -> bool:
    return any(d.severity == "error" or strict for d in diagnostics)


def _check_file(path: Path) -> tuple[Path, list[Diagnostic], dict[str, str], dict[str, int]]:
    from qmvc.policy.diagnostics import PolicyError
    from qmvc.policy.policy import Policy

    try:
        policy = Policy.load(path)
    except PolicyError as exc:
        return path, exc.diagnostics, exc.sources, {}
    from qmvc.policy.template_check import check_templates

    diagnostics = policy.check()
    model = policy.model
    sources = dict(policy.sources)
    if not any(d.severity == "error" for d in diagnostics):
        template_problems, template_sources = check_templates(model)
        diagnostics += template_problems
        sources.update(template_sources)
    summary = {
        "profiles": len(model.profiles),
        "rules": sum(len(p.criteria) for p in model.profiles.values()),
        "scanners": len(model.scanners),
        "domains": sum(len(d.patterns) for d in model.domains),
    }
    return path, diagnostics, sources, summary
