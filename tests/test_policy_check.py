"""Semantic checks on in-memory policies: each check registered, sound shadows and
contradictions, domain patterns, regex hints, clean passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from qmvc.policy.check import CHECKS
from qmvc.policy.diagnostics import Diagnostic
from qmvc.policy.domains import domain_problem
from qmvc.policy.policy import Policy
from qmvc.policy.regex_hints import GENERIC_HINT, regex_hint

REPO_ROOT = Path(__file__).resolve().parent.parent
SKELETON = """profile p default {{
{rules}
  on badmail {{ keep "quarantine/badmail" }}
}}
"""


def diagnose(text: str, tmp_path: Path) -> list[Diagnostic]:
    path = tmp_path / "policy.qmvc"
    path.write_text(text)
    return Policy.load(path).check()


def codes(text: str, tmp_path: Path) -> list[str]:
    return [d.code for d in diagnose(text, tmp_path)]


def rules(*lines: str) -> str:
    return SKELETON.format(rules="\n".join(f"  {line}" for line in lines))


@pytest.mark.parametrize(
    "path", sorted((REPO_ROOT / "policies").glob("*.qmvc")), ids=lambda p: p.name
)
def test_shipped_policies_have_no_diagnostics(path: Path) -> None:
    assert Policy.load(path).check() == []


def test_checks_are_registered_under_their_codes() -> None:
    assert {
        "undefined-list",
        "duplicate-name",
        "invalid-regex",
        "shadowed-rule",
        "sender-notice",
        "missing-template-language",
        "bad-address",
        "invalid-notices-limit",
        "bad-domain",
        "never-true",
        "always-true",
    } <= set(CHECKS)


def test_an_equal_rule_tested_later_is_shadowed(tmp_path: Path) -> None:
    found = codes(
        rules('badmail a when subject contains "x"', 'badmail b when subject contains "x"'),
        tmp_path,
    )
    assert found == ["shadowed-rule"]


def test_a_narrower_rule_after_a_wider_one_is_shadowed(tmp_path: Path) -> None:
    found = diagnose(
        rules(
            'badmail wide when subject contains "x"',
            'badmail narrow when subject contains "x" and body contains "y"',
        ),
        tmp_path,
    )
    assert [(d.code, "'narrow'" in d.message) for d in found] == [("shadowed-rule", True)]


def test_a_wider_rule_after_a_narrower_one_is_not_shadowed(tmp_path: Path) -> None:
    assert (
        codes(
            rules(
                'badmail narrow when subject contains "x" and sender is empty',
                'badmail wide when subject contains "x"',
            ),
            tmp_path,
        )
        == []
    )


def test_a_cheap_rule_written_last_shadows_a_dear_one_written_first(tmp_path: Path) -> None:
    """Rules run cheap-first, so the written order does not decide who shadows whom."""
    found = diagnose(
        rules(
            'badmail dear when body contains "x" and sender is empty',
            "badmail cheap when sender is empty",
        ),
        tmp_path,
    )
    assert [(d.code, "'dear'" in d.message) for d in found] == [("shadowed-rule", True)]


def test_different_case_options_do_not_shadow(tmp_path: Path) -> None:
    assert (
        codes(
            rules(
                'badmail a when subject contains "x"', 'badmail b when subject contains "x" nocase'
            ),
            tmp_path,
        )
        == []
    )


def test_a_null_sender_rule_silences_the_backscatter_warning(tmp_path: Path) -> None:
    text = SKELETON.format(rules="  badmail nullsender when sender is empty").replace(
        'keep "quarantine/badmail"', 'keep "q"; notify sender'
    )
    assert codes(text, tmp_path) == []


def test_policy_wide_on_blocks_serve_every_profile(tmp_path: Path) -> None:
    text = (
        'on badmail { keep "quarantine/badmail" }\n'
        'profile p default {\n  badmail a when subject contains "x"\n}\n'
    )
    assert codes(text, tmp_path) == []


def test_diagnostics_come_in_source_order(tmp_path: Path) -> None:
    text = 'list unused = "a"\nguard g "g@example.org"\n' + rules(
        "badmail a when subject matches list missing", "badmail b when body matches /(/"
    )
    found = diagnose(text, tmp_path)
    assert [d.code for d in found] == ["unused-list", "undefined-list", "invalid-regex"]
    assert [d.span.line for d in found] == sorted(d.span.line for d in found)


def test_a_wildcard_and_an_exact_domain_may_name_different_profiles(tmp_path: Path) -> None:
    text = (
        rules('badmail a when subject contains "x"')
        + "profile q {\n  on clean { deliver }\n}\n"
        + 'domain "*.example.org" uses p\ndomain "shop.example.org" uses q\n'
    )
    assert codes(text, tmp_path) == []


@pytest.mark.parametrize(
    "condition",
    [
        'subject contains "x" and not subject contains "x"',
        '(sender is empty or body contains "y") and not (body contains "y" or sender is empty)',
        'body contains "z" and (subject is "a" and not subject is "a")',
        'sender is empty and sender is "a@example.org"',
        'subject is "a" and subject is "b"',
        "message.size > 10MB and message.size <= 10MB",
        'any attachment.name matches "*.exe" and not any attachment',
        'not (subject is "q" or not subject is "q")',
        '(subject is "a" and not subject is "a") or (body is "b" and not body is "b")',
    ],
)
def test_a_condition_that_can_never_be_true_is_a_warning(condition: str, tmp_path: Path) -> None:
    [found] = diagnose(rules(f"badmail r when {condition}"), tmp_path)
    assert (found.code, found.severity) == ("never-true", "warning")
    assert found.hint.startswith("this rule can never match: ")


@pytest.mark.parametrize(
    "condition",
    [
        'sender is "Anna@example.org" and sender is "anna@EXAMPLE.org"',
        'header "X-Tag" is "a" and header "X-Tag" is "b"',
        "message.size >= 10MB and message.size <= 10MB",
        "any attachment.size > 10MB and any attachment.size < 1MB",
        'subject is "a" and not (subject is "a" and body is "b")',
        'sender is empty and sender is " "',
        '(subject is "a" and not subject is "a") or body is "b"',
    ],
)
def test_a_condition_that_can_be_true_is_not_reported(condition: str, tmp_path: Path) -> None:
    assert codes(rules(f"badmail r when {condition}"), tmp_path) == []


@pytest.mark.parametrize(
    "condition",
    [
        'subject contains "x" or not subject contains "x"',
        'any attachment or not any attachment.name matches "*.exe"',
    ],
)
def test_a_condition_that_is_always_true_is_a_warning(condition: str, tmp_path: Path) -> None:
    assert codes(rules(f"badmail r when {condition}"), tmp_path) == ["always-true"]


def domain_policy(*patterns: str) -> str:
    quoted = " ".join(f'"{p}"' for p in patterns)
    return rules('badmail a when subject contains "x"') + f"domain {quoted} uses p\n"


@pytest.mark.parametrize(
    "pattern",
    [
        "anna@example.de",
        "example de",
        "..de",
        "",
        ".example.de",
        "example.de.",
        "example..de",
        "a" * 64 + ".de",
        "exa_mple.de",
        "ex*ample.de",
        "example.*",
        "*example.de",
        "*",
        "münchen.de",
    ],
)
def test_a_domain_pattern_no_recipient_domain_can_match_is_an_error(
    pattern: str, tmp_path: Path
) -> None:
    assert codes(domain_policy(pattern), tmp_path) == ["bad-domain"]


@pytest.mark.parametrize(
    ("pattern", "hint"),
    [
        ("anna@example.de", 'write the domain alone: "example.de"'),
        ("example de", 'did you mean "example.de"?'),
        (
            "example.org, example.de",
            'write each domain as its own string: "example.org" "example.de"',
        ),
        ("example.de.", 'write "example.de"'),
        ("example..de", 'write "example.de"'),
        (
            ".example.de",
            'for the subdomains of example.de write "*.example.de"; '
            'for example.de itself, "example.de"',
        ),
        ("münchen.de", 'write "xn--mnchen-3ya.de"'),
    ],
)
def test_a_bad_domain_pattern_is_shown_fixed_when_the_fix_is_plain(pattern: str, hint: str) -> None:
    problem = domain_problem(pattern)
    assert problem is not None and problem.hint == hint


def test_domain_patterns_a_recipient_can_match_pass(tmp_path: Path) -> None:
    patterns = (
        "example.org",
        "*.example.org",
        "localhost",
        "xn--mnchen-3ya.de",
        "Mail-1.Example.NET",
    )
    assert codes(domain_policy(*patterns), tmp_path) == []


@pytest.mark.parametrize(
    ("regex", "hint_start"),
    [
        ("/(a/", "close the group with ')'"),
        ("/a)/", "escape a literal ')' as \\)"),
        ("/*.exe/", "escape the quantifier '*' as \\*"),
        ("/a**/", "'*' cannot repeat a repetition"),
        ("/[a-/", "close the set with ']'"),
        ("/\\q/", "'\\q' is no escape"),
        ("/[z-a]/", "a range runs from low to high"),
        ("/(?<n>a)/", "name a group as (?P<name>...)"),
        ("/(?i)a/", "put the flag after the closing slash"),
        ("/a{3,2}/", "write {min,max}"),
        ("/(?<=a+)b/", "inside (?<=...)"),
        ("/a{99999999999}/", "use a smaller count"),
    ],
)
def test_an_invalid_regex_hint_names_the_fix_for_its_error(
    regex: str, hint_start: str, tmp_path: Path
) -> None:
    [found] = diagnose(rules(f"badmail r when subject matches {regex}"), tmp_path)
    assert found.code == "invalid-regex" and found.hint.startswith(hint_start), found.hint


def test_a_regex_error_the_table_does_not_know_gets_the_general_hint() -> None:
    assert regex_hint("some message a later Python adds", "x", 0) == GENERIC_HINT
