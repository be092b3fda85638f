"""Where qmvc finds its policy and keeps its files (see DESIGN.md: command-line conventions)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SYSTEM_POLICY = Path("/etc/qmvc/policy.qmvc")


def _resource_dir(name: str) -> Path:
    """A shipped folder: beside the package in a checkout, inside it in a wheel."""
    for candidate in (PROJECT_ROOT / name, Path(__file__).resolve().parent / "data" / name):
        if candidate.is_dir():
            return candidate
    return PROJECT_ROOT / name


GRAMMAR_DIR = _resource_dir("grammar")
POLICIES_DIR = _resource_dir("policies")
TEMPLATES_DIR = _resource_dir("templates")
SHIPPED_POLICY = POLICIES_DIR / "default.qmvc"


def qmvc_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """QMVC_DIR, else $HOME/.qmvc: holds qmvc.log, qmvc.rep, the cache and the state."""
    explicit = environ.get("QMVC_DIR")
    if explicit:
        return Path(explicit)
    return Path(environ.get("HOME") or Path.home()) / ".qmvc"


def policy_path(option: str | None, environ: Mapping[str, str] = os.environ) -> Path:
    """--policy, else QMVC_POLICY, else /etc/qmvc/policy.qmvc, else the shipped default."""
    if option:
        return Path(option)
    if environ.get("QMVC_POLICY"):
        return Path(environ["QMVC_POLICY"])
    if SYSTEM_POLICY.exists():
        return SYSTEM_POLICY
    return SHIPPED_POLICY


def resolve_under(base: Path, path: str) -> Path:
    """A path from the policy: absolute as written, relative ones under QMVC_DIR."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else base / candidate
