"""Reading policy files: size and encoding guards, includes with cycle detection, list files.

Everything read is recorded, so the compiled-tree cache knows which files to watch.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from qmvc.policy import ast
from qmvc.policy.diagnostics import Diagnostic, PolicyError, error
from qmvc.policy.parse import parse_text
from qmvc.policy.stamp import FileStamp
from qmvc.span import Span

MAX_POLICY_BYTES = 4 * 1024 * 1024


@dataclass
class LoadedPolicy:
    policy: ast.PolicySet
    sources: dict[str, str]
    stamps: dict[str, FileStamp]


@dataclass
class _Loader:
    sources: dict[str, str] = field(default_factory=dict)
    files: list[ast.PolicyFile] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    stamps: dict[str, FileStamp] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def load(self, path: Path, chain: tuple[str, ...], included_at: Span | None) -> None:
        path = Path(os.path.normpath(path))  # "bad/../support/b" names "support/b"
        name = str(path)
        identity = os.path.realpath(path)
        chain_identities = [os.path.realpath(link) for link in chain]
        if identity in chain_identities:
            cycle = " → ".join((*chain[chain_identities.index(identity) :], name))
            span = included_at or Span(name, 1, 1, 1, 2)
            self.diagnostics.append(
                error(
                    "include-cycle",
                    f"include cycle: {cycle}",
                    span,
                    "remove one of these include lines",
                )
            )
            return
        if any(os.path.realpath(f.path) == identity for f in self.files):
            return  # included twice without a cycle (a diamond): read once
        text = self.read(path, included_at)
        if text is None:
            return
        try:
            parsed = parse_text(text, name)
        except PolicyError as exc:
            self.diagnostics.extend(exc.diagnostics)
            return
        statements: list[ast.Statement] = []
        for statement in parsed.statements:
            if isinstance(statement, ast.Include):
                self.load(path.parent / statement.path, (*chain, name), statement.span)
            elif isinstance(statement, ast.ListDecl) and statement.from_file:
                statements.append(self.read_list(path.parent / statement.from_file, statement))
            else:
                statements.append(statement)
        self.files.append(ast.PolicyFile(name, tuple(statements)))

    def read(self, path: Path, included_at: Span | None) -> str | None:
        """A file's text, or None after recording why it cannot be read as a policy."""
        where = included_at or Span(str(path), 1, 1, 1, 2)
        try:
            with path.open("rb") as handle:
                status = os.fstat(handle.fileno())  # before the read: a later edit shows
                data = handle.read(MAX_POLICY_BYTES + 1)
        except OSError as exc:
            code = "include-missing" if included_at else "unreadable-file"
            self.diagnostics.append(
                error(
                    code,
                    f"cannot read {path}: {exc.strerror or exc}",
                    where,
                    "check the path and its permissions",
                )
            )
            return None
        self.dependencies.append(str(path))
        self.stamps[str(path)] = FileStamp(
            str(path),
            status.st_size,
            status.st_mtime_ns,
            hashlib.sha256(data).hexdigest(),
            status.st_ino,
        )
        name = str(path)
        if len(data) > MAX_POLICY_BYTES:
            self.diagnostics.append(
                error(
                    "file-too-large",
                    f"{path} is larger than {MAX_POLICY_BYTES // 1048576} MiB",
                    Span(name, 1, 1, 1, 2),
                    "a policy is text written by a person; is this the right file?",
                )
            )
            return None
        if b"\x00" in data:
            line, column = _position(data, data.index(b"\x00"))
            self.diagnostics.append(
                error(
                    "binary-file",
                    f"{path} holds a NUL byte: it is not text",
                    Span(name, line, column, line, column + 1),
                    "a policy is UTF-8 text",
                )
            )
            return None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line, column = _position(data, exc.start)
            self.diagnostics.append(
                error(
                    "invalid-encoding",
                    "this byte is not valid UTF-8",
                    Span(name, line, column, line, column + 1),
                    "save the file as UTF-8",
                )
            )
            return None
        self.sources[name] = text
        return text

    def read_list(self, path: Path, declaration: ast.ListDecl) -> ast.ListDecl:
        """`list NAME from "file"`: one pattern a line, '#' comments, /re/ lines are regexes."""
        path = Path(os.path.normpath(path))
        text = self.read(path, declaration.span)
        if text is None:
            return declaration
        patterns: list[ast.Text | ast.Regex] = []
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            column = raw.index(line[0]) + 1
            span = Span(str(path), number, column, number, column + len(line))
            closing = line.rfind("/")
            if line.startswith("/") and closing > 0:
                patterns.append(ast.Regex(line[1:closing], line[closing + 1 :], span))
            else:
                patterns.append(ast.Text(line, span))
        return replace(declaration, patterns=tuple(patterns))


def _position(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return line, column


def load_policy(path: Path) -> LoadedPolicy:
    """Read a policy and its includes; raises PolicyError (with the sources) on any problem."""
    loader = _Loader()
    loader.load(path, (), None)
    if loader.diagnostics:
        raise PolicyError(loader.diagnostics, loader.sources)
    policy = ast.PolicySet(tuple(loader.files), tuple(dict.fromkeys(loader.dependencies)))
    return LoadedPolicy(policy, loader.sources, loader.stamps)
