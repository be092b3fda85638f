"""Semantic checks on in-memory policies: each check registered, sound shadows, clean passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from qmvc.policy.check import CHECKS
from qmvc.policy.diagnostics import Diagnostic
from qmvc.policy.policy import Policy

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
