"""The `mutmut` command as tests/mutation/run runs it: each function's tests cut to a time budget.

mutmut runs a mutant against every test that reached its function in the stats pass, fastest
first, stopping at the first failure. A killed mutant is cheap; a surviving one runs them all,
and the functions on the delivery path are reached by 150 to 290 tests (the subprocess delivery
tests, and a few bomber tests of a minute or two each): 500 to 800 s a survivor, days for the
whole set on two cores. So, after mutmut has loaded or collected its stats and before it runs a
mutant, each function keeps only

1. its own tests first: those in a test file named after the function's module (a word of
   `tests/test_log_line.py` is `line`, of `tests/test_policy_cache_restamp.py` is `cache`, of
   `tests/test_deliver_faults.py` is `deliver`; a package's modules also match its name:
   `qmvc/message/*` and `tests/test_message_*.py`), fastest first;
2. then the others, fastest first;

as long as their durations measured in the stats pass add up to at most QMVC_MUTATION_BUDGET
seconds (default 20; 0 or less: no cut, mutmut's own behaviour). A test that alone is over the
budget is left out, own or not (the bomber tests of `test_bombers.py`, 45 s each, would otherwise
be the only test of every `engine.bombers` mutant); only when no test fits is the fastest kept.

The cut only ever removes tests, so a mutant counted killed was made to fail by a test that
really ran: the score can only be lower than with every test (conservative), never higher. A
survivor may be one that a test left out would have killed; mutants/test-budget.json says, for
each function, how many of its tests were kept, and report.py shows it beside each survivor.
mutmut's own timeouts follow the kept tests (15x their measured time, wall clock).

The cut is applied in memory only: mutants/mutmut-stats.json keeps every test, so another
budget (or none) needs no new stats pass. Usage is mutmut's: `python3 tests/mutation/launch.py
run [--max-children N] [NAME...]` (tests/mutation/run does this, from the project root).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

BUDGET_VARIABLE = "QMVC_MUTATION_BUDGET"
DEFAULT_BUDGET_S = 20.0
BUDGET_FILE = Path("mutants/test-budget.json")


def budget_seconds() -> float:
    return float(os.environ.get(BUDGET_VARIABLE, DEFAULT_BUDGET_S))


def package_words() -> set[str]:
    """The packages mutated as a whole (`qmvc/engine/*` in only_mutate): {"engine", ...}."""
    import tomllib

    config = tomllib.loads(Path("pyproject.toml").read_text("utf-8"))["tool"]["mutmut"]
    return {p.split("/")[-2] for p in config["only_mutate"] if p.endswith("/*")}


def module_words(function_key: str, packages: set[str]) -> set[str]:
    """`qmvc.engine.bombers.x__counts` -> {"bombers", "engine"}: names its own test files have.

    The module's own name; for a module of a package mutated as a whole, the package's too.
    """
    parts = function_key.split(".")[1:-1]  # the module without "qmvc" and the function
    words = {parts[-1]}
    if len(parts) > 1 and parts[0] in packages:
        words.add(parts[0])
    return words


def is_own_test(test: str, words: set[str]) -> bool:
    """Whether the test's file is named after the module: `line` in test_log_line.py."""
    stem = Path(test.split("::", 1)[0]).stem
    return bool(words & set(re.split(r"[_\W]+", stem.removeprefix("test_"))))


def kept_tests(words: set[str], tests: Iterable[str], durations: dict[str, float],
               budget_s: float) -> list[str]:  # fmt: skip
    """The tests a mutant runs: own tests (`words`) first, each group fastest first."""
    ordered = sorted(tests, key=lambda t: (not is_own_test(t, words), durations.get(t, 0.0), t))
    kept: list[str] = []
    spent = 0.0
    for test in ordered:
        cost = durations.get(test, 0.0)
        if spent + cost > budget_s:
            continue  # a cheaper test further on may still fit
        kept.append(test)
        spent += cost
    if not kept and ordered:  # every test alone is over the budget: the fastest of them
        kept.append(min(ordered, key=lambda t: (durations.get(t, 0.0), t)))
    return kept


def apply_budget(state: Any, budget_s: float) -> dict[str, list[int]]:
    """Cut state.tests_by_mangled_function_name in place; returns {function: [kept, of]}."""
    counts: dict[str, list[int]] = {}
    packages = package_words()
    for key, tests in list(state.tests_by_mangled_function_name.items()):
        words = module_words(key, packages)
        kept = kept_tests(words, tests, state.duration_by_test, budget_s)
        counts[key] = [len(kept), len(tests)]
        state.tests_by_mangled_function_name[key] = set(kept)
    return counts


def main() -> None:
    import mutmut.__main__ as mutmut_main
    from mutmut.state import state

    collect_or_load_stats = mutmut_main.collect_or_load_stats

    def collect_or_load_stats_then_cut(*args: Any, **kwargs: Any) -> None:
        collect_or_load_stats(*args, **kwargs)  # saves the full map in mutmut-stats.json
        budget_s = budget_seconds()
        if budget_s <= 0:
            BUDGET_FILE.unlink(missing_ok=True)
            return
        counts = apply_budget(state(), budget_s)
        BUDGET_FILE.write_text(json.dumps({"budget_s": budget_s, "functions": counts}), "utf-8")
        cut = sum(1 for kept, total in counts.values() if kept < total)
        print(f"    test budget {budget_s:g} s: {cut} of {len(counts)} functions' tests cut")

    mutmut_main.collect_or_load_stats = collect_or_load_stats_then_cut  # type: ignore[assignment]
    sys.argv[0] = "mutmut"
    mutmut_main.cli()


if __name__ == "__main__":
    main()
