"""pytest plugin for mutation runs only: the mutant under test reaches qmvc's subprocesses too.

mutmut 3 compiles every mutant of a function into the copied module (mutants/qmvc/...) and a
trampoline picks one at call time from the environment variable MUTANT_UNDER_TEST. Many tests
run `python -m qmvc.cli ...` as qmail would, with an environment of their own
(deliver_support.qmail_environ builds one from nothing), so without help their child would
run the original code although it imports the copy (PYTHONPATH is the project root, which
inside mutants/ is the copy): the mutants only such tests can kill would survive. Here every
subprocess gets MUTANT_UNDER_TEST.

In mutmut's first pass ("stats") the trampolines record which functions each test reaches; a
child's record dies with it. So in that pass the child also gets child/ on its PYTHONPATH,
whose sitecustomize appends each function the child reaches to a file, and the functions in
the file are credited to the test that was running.

Two more things mutmut needs from this suite:
- INCOMPATIBLE tests are deselected: two assert that a delivery imports no `hashlib` or
  `email`, and every mutated module imports mutmut's trampoline, which imports both;
  tests/test_install.py installs the (mutated) package into a venv without mutmut;
  tests/test_types.py would type-check mutmut's copy (mutmut type-checks the mutants itself).
- Hypothesis does not shrink a failing example: under mutmut a failure is a kill, and
  shrinking it (minutes for a test of the MIME parser, on a mutant that fails every example)
  only finds a smaller example nobody reads.
- In the stats pass mutmut times only a test's call, not its set-up: a test module whose
  fixture runs the whole corpus through `qmvc explain` once (40 s) looked like 63 tests of
  0.06 s, so the budget kept them all and the time-out, a multiple of that estimate, cut every
  such mutant short, survivors included, and counted them killed. Here a test's duration is also
  charged with its own set-up and with every shared (module, package or session) fixture it
  uses, whoever set that fixture up first: what the test costs when a mutant runs it alone.
- In the stats pass, which only maps tests to the functions they reach, a failing test is
  reported as passed (and listed in mutants/stats-failures.txt): mutmut stops at the first
  failure there, and the wall-clock budgets of a few tests (a second or two) are missed by a
  run under `nice` on a busy machine. Whether a test passes is judged by mutmut's clean run
  of the selected tests, which comes next and must pass, and by each mutant's run.

Loaded by `-p tests.mutation.bridge` from pyproject.toml's [tool.mutmut] pytest_add_cli_args;
does nothing outside mutmut (no MUTANT_UNDER_TEST in the environment).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

CHILD_SITE = Path(__file__).resolve().parent / "child"
HITS_VARIABLE = "QMVC_MUTMUT_HITS"
UNDER_MUTMUT = "MUTANT_UNDER_TEST" in os.environ

INCOMPATIBLE = {
    "tests/test_deliver_outcomes.py::test_policy_saved_just_before_a_delivery_is_not_hashed_for_ever":
        "asserts that a delivery imports no hashlib; mutmut's trampoline imports it",
    "tests/test_notices.py::test_hot_path_modules_do_not_import_jinja2":
        "asserts that the hot path imports no email; mutmut's trampoline imports it",
    "tests/test_install.py":
        "installs qmvc into a fresh venv, where mutmut's trampoline cannot be imported",
    "tests/test_types.py":
        "type-checks the package, which under mutmut is the trampolined copy (mutmut runs the "
        "same check on it by itself: type_check_command)",
}  # fmt: skip
"""Test ids, or whole test files, deselected under mutmut."""
STATS_FAILURES = Path("stats-failures.txt")
"""Relative to the working directory of mutmut's pytest runs, mutants/."""

_hits_file: Path | None = None
_shared_setup_s: dict[int, float] = {}
"""Stats pass: seconds each shared fixture definition took to set up (by id)."""
_set_up_for_this_test: set[int] = set()
"""Stats pass: the shared fixtures set up in the current test's set-up phase (already timed)."""
_original_popen_init = subprocess.Popen.__init__


def _mutant_under_test() -> str:
    from mutmut.mutation.trampoline import get_mutant_under_test

    return get_mutant_under_test()


def _child_environment(env: Mapping[Any, Any] | None) -> Mapping[Any, Any] | None:
    """`env` (None: this process's) plus what the child needs to run the same mutant."""
    source = os.environ if env is None else env
    if any(not isinstance(key, str) for key in source):
        return env  # a bytes environment: leave it alone
    child = dict(source)
    mutant = _mutant_under_test()
    child["MUTANT_UNDER_TEST"] = mutant
    if mutant == "stats" and _hits_file is not None:
        child[HITS_VARIABLE] = str(_hits_file)
        paths = [str(CHILD_SITE)] + [p for p in child.get("PYTHONPATH", "").split(os.pathsep) if p]
        child["PYTHONPATH"] = os.pathsep.join(paths)
    return child


def _popen_init(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
    if len(args) < 10:  # env is Popen's 10th parameter; nobody passes it by position
        kwargs["env"] = _child_environment(kwargs.get("env"))
    _original_popen_init(self, *args, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    global _hits_file
    if not UNDER_MUTMUT:
        return
    subprocess.Popen.__init__ = _popen_init  # type: ignore[method-assign]
    _no_shrinking()
    if _mutant_under_test() == "stats":
        descriptor, name = tempfile.mkstemp(prefix="qmvc-mutmut-hits-")
        os.close(descriptor)
        _hits_file = Path(name)


def _no_shrinking() -> None:
    from hypothesis import Phase, settings

    settings.register_profile(
        "mutation", phases=[Phase.explicit, Phase.reuse, Phase.generate], print_blob=False
    )
    settings.load_profile("mutation")


def pytest_unconfigure(config: pytest.Config) -> None:
    global _hits_file
    if not UNDER_MUTMUT:
        return
    subprocess.Popen.__init__ = _original_popen_init  # type: ignore[method-assign]
    if _hits_file is not None:
        _hits_file.unlink(missing_ok=True)
        _hits_file = None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Before mutmut's own teardown hook files this test's hits, add its children's."""
    if _hits_file is None or _mutant_under_test() != "stats":
        return
    try:
        names = _hits_file.read_text(encoding="utf-8").split()
    except FileNotFoundError:
        return
    _hits_file.write_text("", encoding="utf-8")
    from mutmut.state import state

    state()._stats.update(names)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not UNDER_MUTMUT:
        return
    dropped = [item for item in items if _incompatible(item.nodeid)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not _incompatible(item.nodeid)]


def _incompatible(nodeid: str) -> bool:
    return nodeid in INCOMPATIBLE or nodeid.split("::", 1)[0] in INCOMPATIBLE


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: Any) -> Any:
    """In the stats pass, time each shared fixture's set-up (its cost to any test that uses it)."""
    if _hits_file is None or fixturedef.scope == "function":
        yield
        return
    started = time.perf_counter()
    yield
    _shared_setup_s[id(fixturedef)] = time.perf_counter() - started
    _set_up_for_this_test.add(id(fixturedef))


def _shared_fixtures_cost(item: pytest.Item) -> float:
    """The set-up time of the shared fixtures `item` uses that an earlier test set up."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return 0.0
    cost = 0.0
    for definitions in info.name2fixturedefs.values():
        key = id(definitions[-1])  # the definition in force for this test
        if key not in _set_up_for_this_test:
            cost += _shared_setup_s.get(key, 0.0)
    return cost


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if _hits_file is not None and call.when == "setup":
        from mutmut.state import state

        durations = state().duration_by_test
        durations[item.nodeid] = durations.get(item.nodeid, 0.0) + call.duration
        durations[item.nodeid] += _shared_fixtures_cost(item)
        _set_up_for_this_test.clear()
    if _hits_file is not None and report.failed:
        with STATS_FAILURES.open("a", encoding="utf-8") as failures:
            failures.write(f"{item.nodeid} ({report.when})\n")
        report.outcome = "passed"
