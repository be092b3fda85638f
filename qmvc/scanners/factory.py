"""From the compiled policy's plain data to a working engine, only when a message needs one."""

from __future__ import annotations

from qmvc.scanners.base import Scanner
from qmvc.scanners.spec import ClamdSpec, CommandSpec, ScannerSpec


def build_scanner(spec: ScannerSpec) -> Scanner:
    """The Scanner for a spec; imports the command engine's modules only when one is used."""
    if isinstance(spec, ClamdSpec):
        from qmvc.scanners.clamd import ClamdScanner

        return ClamdScanner(spec)
    if isinstance(spec, CommandSpec):
        from qmvc.scanners.command import CommandScanner

        return CommandScanner(spec)
    raise TypeError(f"not a scanner spec: {spec!r}")
