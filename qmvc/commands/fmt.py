"""`qmvc fmt [--check|--diff|-w] FILE…`: policies in one canonical layout (policy/format.py).

Without an option the canonical text is printed. `-w` rewrites a file only when its layout
changes, atomically: a temporary file in the same directory, flushed to disk, then renamed
over the original (through a symlink, the file it points at), with the original's mode, so
a delivery reading the policy at that moment sees the old file or the new one, never half.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a file is not in the canonical layout"
    )
    parser.add_argument("--diff", action="store_true", help="show what would change")
    parser.add_argument(
        "-w", "--write", action="store_true", help="rewrite the files in place (atomically)"
    )


@dataclass
class _Result:
    """One file: its text as read, its canonical text ("" when it does not parse), and its
    syntax errors."""

    path: Path
    text: str
    formatted: str
    errors: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return not self.errors and self.formatted != self.text

    def diff(self) -> str:
        if not self.changed:
            return ""
        return "".join(
            difflib.unified_diff(
                self.text.splitlines(keepends=True),
                self.formatted.splitlines(keepends=True),
                f"{self.path} (original)",
                f"{self.path} (formatted)",
            )
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "changed": self.changed,
            "formatted": self.formatted,
            "diff": self.diff(),
            "diagnostics": [d.to_json() for d in self.errors],
        }


def run(args: argparse.Namespace, policy_path: Path) -> int:
    if args.write and (args.check or args.diff):
        print("qmvc fmt: -w cannot be combined with --check or --diff", file=sys.stderr)
        return 2
    results = []
    for path in args.files or [policy_path]:
        try:
            results.append(_format_file(path, args.write))
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            print(f"qmvc fmt: cannot read or write {path}: {reason}", file=sys.stderr)
            return 2
    if args.format == "json":
        print(json.dumps([result.to_json() for result in results], indent=2, ensure_ascii=False))
    else:
        _print_text(results, args)
    broken = any(result.errors for result in results)
    unformatted = args.check and any(result.changed for result in results)
    return 1 if broken or unformatted else 0


def _format_file(path: Path, write: bool) -> _Result:
    from qmvc.policy.diagnostics import PolicyError
    from qmvc.policy.format import format_policy

    text = path.read_text(encoding="utf-8")
    try:
        result = _Result(path, text, format_policy(text, str(path)))
    except PolicyError as exc:
        return _Result(path, text, "", exc.diagnostics, exc.sources or {str(path): text})
    if result.changed and write:
        _replace_atomically(path, result.formatted)
    return result


def _replace_atomically(path: Path, text: str) -> None:
    target = path.resolve()
    mode = target.stat().st_mode & 0o7777
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)


def _print_text(results: list[_Result], args: argparse.Namespace) -> None:
    from qmvc.policy.diagnostics import render_text

    for result in results:
        for diagnostic in result.errors:
            emit(render_text(diagnostic, result.sources), "error", sys.stderr)
        if result.errors:
            continue
        if args.diff:
            sys.stdout.write(result.diff())
        elif args.write:
            if result.changed:
                emit(f"{result.path}: reformatted")
        elif args.check:
            if result.changed:
                emit(f"{result.path}: not formatted (qmvc fmt -w {result.path})", "error")
        else:
            sys.stdout.write(result.formatted)
    if args.check:
        unformatted = sum(1 for result in results if result.changed)
        emit(
            f"{unformatted} of {len(results)} file(s) not formatted"
            if unformatted
            else f"{len(results)} file(s) formatted",
            "error" if unformatted else "ok",
        )
