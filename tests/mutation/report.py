"""Print the mutation scores mutmut left in mutants/: one row per configured module, then survivors.

Run from the project root, as tests/mutation/run does:
`python3 tests/mutation/report.py [--diffs] [MODULE...]`.
A module is one entry of [tool.mutmut] only_mutate in pyproject.toml ("qmvc/engine/*" is the
module qmvc/engine/).

Score = caught / (checked - equivalent): a mutant is caught when a test failed on it (killed), made
the tests run past mutmut's time limit (timeout: a hang, or a test much slower than the stats
pass measured it; they are listed to be checked) or was rejected by the strict type check the
suite runs (tests/test_types.py; mutmut's `type_check_command`). "no tests" counts as not
caught (no test reaches that function). An *equivalent* mutant changes nothing anyone can
observe; those are listed, each with its reason, in tests/mutation/equivalent.toml and left out
of the score. The tests-only score leaves the type check out:
(killed + timeout) / (checked - type check - equivalent).
"""

from __future__ import annotations

import fnmatch
import json
import sys
import tomllib
from collections import Counter
from pathlib import Path

STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped",
          36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout",
          -9: "timeout", 37: "type check", None: "unchecked"}  # fmt: skip
"""mutmut's exit codes (mutmut/stats.py); -9 is its SIGKILL one second past the CPU limit."""
DETECTED = {"killed", "timeout", "type check"}
EQUIVALENT_FILE = Path("tests/mutation/equivalent.toml")


def equivalents() -> dict[str, str]:
    """Mutant name -> why it is equivalent (tests/mutation/equivalent.toml)."""
    try:
        return dict(tomllib.loads(EQUIVALENT_FILE.read_text("utf-8")))
    except FileNotFoundError:
        return {}


def modules() -> dict[str, str]:
    """Module label ("qmvc/engine/") -> its only_mutate pattern."""
    config = tomllib.loads(Path("pyproject.toml").read_text("utf-8"))["tool"]["mutmut"]
    return {pattern.removesuffix("*"): pattern for pattern in config["only_mutate"]}


def normalise(name: str) -> str:
    """A module as named on the command line or configured, without qmvc/ and .py, with slashes."""
    name = name.strip().removesuffix(".py").strip("/")
    for prefix in ("qmvc/", "qmvc."):
        name = name.removeprefix(prefix)
    return name.replace(".", "/")


def select(wanted: list[str]) -> dict[str, str]:
    """The configured modules named in `wanted` (all when empty); exits 2 on an unknown name."""
    every = modules()
    if not wanted:
        return every
    chosen: dict[str, str] = {}
    for name in wanted:
        found = [label for label in every if normalise(label) == normalise(name)]
        if not found:
            print(f"mutation: {name!r} is not a configured module; one of: {', '.join(every)}",
                  file=sys.stderr)  # fmt: skip
            sys.exit(2)
        chosen[found[0]] = every[found[0]]
    return chosen


def mutant_glob(label: str) -> str:
    """mutmut's name pattern for every mutant of a module: qmvc/engine/ -> qmvc.engine.*"""
    return "qmvc." + normalise(label).replace("/", ".") + ".*"


def results(pattern: str) -> dict[str, tuple[Path, str]]:
    """mutant name -> (source file, status) for the files under `pattern`, from mutants/*.meta."""
    found: dict[str, tuple[Path, str]] = {}
    for meta in sorted(Path("mutants/qmvc").rglob("*.py.meta")):
        source = meta.relative_to("mutants").with_suffix("")
        if not fnmatch.fnmatch(str(source), pattern):
            continue
        data = json.loads(meta.read_text("utf-8"))
        for name, code in data["exit_code_by_key"].items():
            found[name] = (source, STATUS.get(code, "suspicious"))
    return found


def budget() -> tuple[float | None, dict[str, list[int]]]:
    """The test budget of the last run (launch.py) and, per function, [tests kept, tests]."""
    try:
        data = json.loads(Path("mutants/test-budget.json").read_text("utf-8"))
    except FileNotFoundError:
        return None, {}
    return data["budget_s"], data["functions"]


def function_key(name: str) -> str:
    """mutmut's mutant name -> the function's key in the stats: drop `__mutmut_N`."""
    return name.rsplit("__mutmut_", 1)[0]


def changed_lines(name: str, source: Path) -> list[str]:
    """The lines a mutant changes, as `-old` / `+new`."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    try:
        diff = get_diff_for_mutant(name, path=source)
    except Exception as error:  # a mutant of a function since edited: name it all the same
        return [f"(no diff: {error})"]
    return [line for line in diff.splitlines()
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]  # fmt: skip


def tally(found: dict[str, tuple[Path, str]], equivalent: dict[str, str]) -> dict[str, int]:
    """Counts by status for one module; a listed equivalent survivor counts as "equivalent"."""
    counts = Counter(
        "equivalent" if status == "survived" and name in equivalent else status
        for name, (_, status) in found.items()
    )
    counts["checked"] = sum(counts.values()) - counts["skipped"] - counts["unchecked"]
    return counts


def score(caught: int, of: int) -> str:
    return f"{100 * caught / of:5.1f}%" if of > 0 else "    -"


def main(argv: list[str]) -> int:
    diffs = "--diffs" in argv
    chosen = select([a for a in argv if a != "--diffs"])
    equivalent = equivalents()
    rows, survivors, timeouts = [], [], []
    for label, pattern in chosen.items():
        found = results(pattern)
        c = tally(found, equivalent)
        by_tests = c["killed"] + c["timeout"]
        rows.append((label, c["killed"], c["timeout"], c["type check"], c["checked"],
                     c["equivalent"],
                     score(by_tests + c["type check"], c["checked"] - c["equivalent"]),
                     score(by_tests, c["checked"] - c["type check"] - c["equivalent"]),
                     c["survived"], c["no tests"], c["suspicious"], c["unchecked"]))  # fmt: skip
        survivors += [(label, name, source, status) for name, (source, status) in found.items()
                      if status in {"survived", "no tests", "suspicious"}
                      and name not in equivalent]  # fmt: skip
        timeouts += [(label, name, source, status) for name, (source, status) in found.items()
                     if status == "timeout"]  # fmt: skip
    header = ("module", "killed", "timeout", "mypy", "checked", "equiv.", "score", "tests",
              "survived", "no tests", "suspicious", "unchecked")  # fmt: skip
    width = max(len(header[0]), *(len(r[0]) for r in rows))
    print(f"{header[0]:<{width}}  " + "  ".join(f"{h:>8}" for h in header[1:]))
    for row in rows:
        print(f"{row[0]:<{width}}  " + "  ".join(f"{str(v):>8}" for v in row[1:]))
    print("killed: a test failed; timeout: the tests ran past mutmut's limit (counted caught,"
          " listed below to check);\nmypy: rejected by the strict type check the suite runs;"
          " score = (killed + timeout + mypy) / (checked - equivalent),\nthe target is 90% a"
          " module; tests = (killed + timeout) / (checked - mypy - equivalent).")  # fmt: skip
    budget_s, kept = budget()
    if budget_s is not None:
        print(f"Each mutant ran its function's tests up to {budget_s:g} s (launch.py); [kept/all]"
              " below: tests run / tests that reach the function.")  # fmt: skip
    if survivors:
        print(f"\n{len(survivors)} not killed (mutmut show NAME for the whole diff):")
    listed = sorted(survivors)
    if timeouts:
        listed.append(("", f"\n{len(timeouts)} timed out (a hang, or a test slower than its"
                       " measured time x 4 + 40 s):", Path(), ""))  # fmt: skip
        listed += sorted(timeouts)
    for _, name, source, status in listed:
        if not status:
            print(name)
            continue
        counts = kept.get(function_key(name))
        cut = f" [{counts[0]}/{counts[1]}]" if counts else ""
        print(f"  [{status}] {name}{cut}")
        if diffs:
            for line in changed_lines(name, source):
                print(f"      {line.strip()[:150]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
