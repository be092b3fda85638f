"""The compiled decision tree: plain picklable data, cheap tests first, shared tests, lists."""

from __future__ import annotations

import enum
import pickle
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from qmvc.engine import tree
from qmvc.policy.policy import Policy
from qmvc.record import Record

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((REPO_ROOT / "policies").glob("*.qmvc"))
GOOD = sorted((REPO_ROOT / "tests/policies/good").glob("*.qmvc"))
MATCHING = REPO_ROOT / "tests/policies/good/matching.qmvc"


def compiled(path: Path) -> tree.DecisionTree:
    return Policy.load(path).compile()


def objects_in(root: object) -> Iterator[object]:
    """Every object reachable through record fields, dicts, tuples, lists and sets."""
    seen: set[int] = set()
    pending = [root]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, str | bytes | int | float | bool | enum.Enum) or current is None:
            continue
        if isinstance(current, Record):
            pending += [getattr(current, name) for name in current._fields]
        elif isinstance(current, dict):
            pending += [*current.keys(), *current.values()]
        elif isinstance(current, tuple | list | set | frozenset):
            pending += list(current)
        else:
            pytest.fail(f"unexpected {type(current).__module__}.{type(current).__name__} in tree")


def compiled_tests(profile: tree.ProfileTree) -> Iterator[tree.Test]:
    return (o for o in objects_in(profile) if isinstance(o, tree.Test))  # type: ignore[arg-type]


def criterion(profile: tree.ProfileTree, name: str) -> tree.CriterionNode:
    return next(c for c in profile.criteria if c.name == name)


def matcher(test: tree.Test) -> re.Pattern[str]:
    assert isinstance(test, tree.TextMatch)
    return re.compile(test.regex, re.IGNORECASE if test.ignore_case else 0)


@pytest.mark.parametrize("path", SHIPPED + GOOD, ids=lambda p: p.name)
def test_compiled_tree_round_trips_through_pickle(path: Path) -> None:
    decision_tree = compiled(path)
    assert pickle.loads(pickle.dumps(decision_tree, pickle.HIGHEST_PROTOCOL)) == decision_tree


@pytest.mark.parametrize("path", SHIPPED + GOOD, ids=lambda p: p.name)
def test_compiled_tree_holds_no_lark_object(path: Path) -> None:
    unpickled = pickle.loads(pickle.dumps(compiled(path)))
    lark_objects = [o for o in objects_in(unpickled) if type(o).__module__.startswith("lark")]
    assert lark_objects == []


@pytest.mark.parametrize("path", SHIPPED + GOOD, ids=lambda p: p.name)
def test_criteria_are_ordered_cheap_first(path: Path) -> None:
    for profile in compiled(path).profiles.values():
        costs = [c.cost for c in profile.criteria]
        assert costs == sorted(costs)


def test_rules_written_expensive_first_are_tested_cheap_first() -> None:
    standard = compiled(MATCHING).profiles["standard"]
    assert (standard.criteria[0].name, standard.criteria[0].cost) == ("worm", tree.Cost.HEADER)
    assert [c.name for c in standard.criteria][-3:] == ["path", "filetype", "mixed"]


def test_equal_costs_keep_the_written_order() -> None:
    standard = compiled(MATCHING).profiles["standard"]
    header_rules = [c.name for c in standard.criteria if c.cost == tree.Cost.HEADER]
    assert header_rules == ["worm", "worm_exact", "invoice", "tracker"]


def test_and_operands_are_ordered_cheap_first() -> None:
    mixed = criterion(compiled(MATCHING).profiles["standard"], "mixed").test
    assert isinstance(mixed, tree.AllOf)
    assert [o.cost for o in mixed.operands] == [tree.Cost.ENVELOPE, tree.Cost.CONTENT]


def test_a_test_used_by_two_rules_is_one_shared_object() -> None:
    profiles = compiled(MATCHING).profiles
    standard, strict = profiles["standard"], profiles["strict"]
    assert criterion(standard, "names").test is criterion(strict, "names").test
    assert criterion(standard, "nullsender").test is criterion(strict, "nullsender").test


def test_sharing_survives_the_pickle_round_trip() -> None:
    profiles = pickle.loads(pickle.dumps(compiled(MATCHING))).profiles
    assert (
        criterion(profiles["standard"], "names").test is criterion(profiles["strict"], "names").test
    )


def test_different_case_rules_are_not_shared() -> None:
    standard = compiled(MATCHING).profiles["standard"]
    assert criterion(standard, "worm").test is not criterion(standard, "worm_exact").test


def test_name_globs_ignore_case() -> None:
    names = matcher(criterion(compiled(MATCHING).profiles["standard"], "names").test)
    assert names.search("SETUP.EXE") and names.search("screen.Scr")
    assert not names.search("setup.exe.txt") and not names.search("notes.txt")


def test_name_regex_from_a_list_matches_double_extensions() -> None:
    names = matcher(criterion(compiled(MATCHING).profiles["standard"], "names").test)
    assert names.search("Invoice.PDF.exe") and names.search("report.docx.js")
    assert not names.search("report.docx")


def test_subject_globs_with_nocase_ignore_case() -> None:
    worm = matcher(criterion(compiled(MATCHING).profiles["standard"], "worm").test)
    assert worm.search("iloveyou") and worm.search("Important message from Bob")
    assert not worm.search("ILOVEYOU too")


def test_subject_globs_without_nocase_keep_case() -> None:
    worm = matcher(criterion(compiled(MATCHING).profiles["standard"], "worm_exact").test)
    assert worm.search("ILOVEYOU") and not worm.search("iloveyou")


def test_regex_flag_i_ignores_case() -> None:
    invoice = matcher(criterion(compiled(MATCHING).profiles["standard"], "invoice").test)
    assert invoice.search("INVOICE 42") and not invoice.search("invoice 42 attached")


def test_escaped_slash_in_a_regex_matches_a_slash() -> None:
    path = matcher(criterion(compiled(MATCHING).profiles["standard"], "path").test)
    assert path.search("copy it to C:/Windows/system32") and not path.search("C:Windows")


def test_mime_type_wildcards_match_subtypes() -> None:
    filetype = matcher(criterion(compiled(MATCHING).profiles["standard"], "filetype").test)
    assert filetype.search("application/x-msdownload") and filetype.search("APPLICATION/X-MSI")
    assert not filetype.search("application/pdf")


def test_list_entries_stay_named_for_the_evidence() -> None:
    names = criterion(compiled(MATCHING).profiles["standard"], "names").test
    assert isinstance(names, tree.TextMatch)
    assert [item.label for item in names.items][:2] == ['"*.exe"', '"*.scr"']


def test_every_node_keeps_its_source_line() -> None:
    standard = compiled(MATCHING).profiles["standard"]
    source = MATCHING.read_text().splitlines()
    for rule in standard.criteria:
        assert source[rule.span.line - 1].strip().startswith(f"badmail {rule.name} when")
    for test in compiled_tests(standard):
        assert test.span.file == str(MATCHING) and test.span.line >= 1


def test_domains_map_to_profiles_with_the_default_for_the_rest() -> None:
    decision_tree = compiled(MATCHING)
    assert decision_tree.profile_for("Strict.Example.ORG").name == "strict"
    assert decision_tree.profile_for("other.example.org").name == "standard"
