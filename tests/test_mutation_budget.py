"""The test budget of mutation runs (tests/mutation/launch.py): which tests a mutant still runs.

The cut may only remove tests (a score measured with it is never higher than with every test),
prefers the module's own test files, then the fastest, and keeps at least one test.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from tests.mutation.launch import apply_budget, is_own_test, kept_tests, module_words

PACKAGES = {"engine", "message", "actions"}


def test_a_module_is_known_by_its_name_and_a_mutated_package_by_its_own_too() -> None:
    assert module_words("qmvc.logs.line.x_format_line", PACKAGES) == {"line"}
    assert module_words("qmvc.policy.cache.x__restamp", PACKAGES) == {"cache"}
    assert module_words("qmvc.deliver.x_main", PACKAGES) == {"deliver"}
    assert module_words("qmvc.engine.tree.xǁDecisionTreeǁprofile_for", PACKAGES) == {
        "tree",
        "engine",
    }


def test_own_tests_are_those_of_a_file_named_after_the_module() -> None:
    assert is_own_test("tests/test_log_line.py::test_x", {"line"})
    assert is_own_test("tests/test_policy_cache_restamp.py::test_x[a]", {"cache"})
    assert is_own_test("tests/test_message_names.py::test_x", {"names", "message"})
    assert not is_own_test("tests/test_policy_compile.py::test_x", {"cache"})
    assert not is_own_test("tests/test_deliver_truth.py::test_cache_x", {"cache"})


def test_own_tests_come_first_then_the_fastest_within_the_budget() -> None:
    durations = {
        "tests/test_log_line.py::slow_own": 7.0,
        "tests/test_log_line.py::fast_own": 0.1,
        "tests/test_deliver_truth.py::a": 0.5,
        "tests/test_deliver_truth.py::b": 4.0,
        "tests/test_bombers.py::huge": 120.0,
        "tests/test_report_quick.py::c": 3.0,
    }
    kept = kept_tests({"line"}, durations, durations, budget_s=11.0)
    assert kept == [
        "tests/test_log_line.py::fast_own",
        "tests/test_log_line.py::slow_own",
        "tests/test_deliver_truth.py::a",
        "tests/test_report_quick.py::c",
    ]  # 10.6 s: b (4 s) no longer fits, nor the huge one
    assert sum(durations[t] for t in kept) <= 11.0


def test_one_test_is_kept_even_over_the_budget_and_nothing_is_added() -> None:
    durations = {"tests/test_bombers.py::huge": 120.0, "tests/test_bombers.py::other": 90.0}
    assert kept_tests({"bombers"}, durations, durations, budget_s=20.0) == [
        "tests/test_bombers.py::other"
    ]
    assert kept_tests({"line"}, [], durations, budget_s=20.0) == []


def test_an_own_test_over_the_budget_gives_way_to_other_tests_that_fit() -> None:
    durations = {
        "tests/test_bombers.py::slow_bomb": 45.0,
        "tests/test_deliver_in_process.py::bomb": 1.0,
        "tests/test_state_stores.py::counts": 0.2,
    }
    assert kept_tests({"bombers", "engine"}, durations, durations, budget_s=15.0) == [
        "tests/test_state_stores.py::counts",
        "tests/test_deliver_in_process.py::bomb",
    ]


def test_the_budget_only_ever_removes_tests_and_counts_what_it_kept() -> None:
    durations = {f"tests/test_deliver_hostile.py::t{i}": 1.0 for i in range(30)}
    state = SimpleNamespace(
        tests_by_mangled_function_name={
            "qmvc.deliver.x_main": set(durations),
            "qmvc.deliver.x_bounce_text": {"tests/test_deliver_hostile.py::t3"},
        },
        duration_by_test=durations,
    )
    before = {k: set(v) for k, v in state.tests_by_mangled_function_name.items()}
    counts = apply_budget(state, budget_s=5.0)
    assert counts == {"qmvc.deliver.x_main": [5, 30], "qmvc.deliver.x_bounce_text": [1, 1]}
    for key, tests in state.tests_by_mangled_function_name.items():
        assert tests <= before[key]
    assert len(state.tests_by_mangled_function_name["qmvc.deliver.x_main"]) == 5


def test_a_test_is_charged_with_the_shared_fixtures_an_earlier_test_set_up() -> None:
    """bridge.py's stats-pass charge: a test costs what its shared fixtures cost to set up,
    except those set up in its own set-up phase (already in that phase's time); the definition
    in force is the last one, an override."""
    from tests.mutation import bridge

    corpus, clamd, overridden = object(), object(), object()
    bridge._shared_setup_s.update({id(corpus): 40.0, id(clamd): 3.0, id(overridden): 100.0})
    item = SimpleNamespace(
        _fixtureinfo=SimpleNamespace(
            name2fixturedefs={"corpus": [corpus], "clamd": [clamd], "tmp": [overridden, object()]}
        )
    )
    try:
        assert bridge._shared_fixtures_cost(item) == 43.0  # type: ignore[arg-type]
        bridge._set_up_for_this_test.add(id(corpus))
        assert bridge._shared_fixtures_cost(item) == 3.0  # type: ignore[arg-type]
        assert bridge._shared_fixtures_cost(SimpleNamespace()) == 0.0  # type: ignore[arg-type]
    finally:
        bridge._shared_setup_s.clear()
        bridge._set_up_for_this_test.clear()


def test_recheck_marks_survivors_and_timeouts_unchecked_and_keeps_the_rest(tmp_path: Path) -> None:
    """tests/mutation/recheck.py, the second pass: doubtful results run again, others stay."""
    from tests.mutation.recheck import recheck

    results = {"m_1": 1, "m_2": 0, "m_3": -24, "m_4": 37, "m_5": None, "m_6": 33, "m_7": 152}
    meta = tmp_path / "qmvc" / "engine" / "evaluate.py.meta"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"exit_code_by_key": results, "other": "kept"}), "utf-8")
    untouched = tmp_path / "qmvc" / "deliver.py.meta"
    untouched.write_text(json.dumps({"exit_code_by_key": {"d_1": 1}}), "utf-8")
    before = untouched.stat().st_mtime_ns

    reset = recheck(tmp_path)

    assert reset == {"survived": 1, "timeout": 2, "no tests": 1}
    data = json.loads(meta.read_text("utf-8"))
    assert data["other"] == "kept"
    assert data["exit_code_by_key"] == {
        "m_1": 1, "m_2": None, "m_3": None, "m_4": 37, "m_5": None, "m_6": None, "m_7": None,
    }  # fmt: skip
    assert untouched.stat().st_mtime_ns == before
    assert recheck(tmp_path) == {}
