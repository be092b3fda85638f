"""The strict type check is part of the suite: `mypy` with pyproject's [tool.mypy] over qmvc/.

Why a test and not only a developer's habit: a change that passes None where a path goes, or
str where bytes go, is a bug the type checker finds before a message does. The mutation run
(tests/mutation/README.md) counts the mutants mypy rejects as caught; that is true only
because this test runs mypy on every CI run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_qmvc_passes_the_strict_type_check() -> None:
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_type_check_is_strict_and_covers_the_package() -> None:
    """A config that lost `strict` or `files` would make the test above pass on anything."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["mypy"]
    assert config["strict"] is True and config["files"] == ["qmvc"]
