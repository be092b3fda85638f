"""The compiled tree's own helpers: durations written back as a policy writes them, and the
profile a recipient domain gets (exact name, then the longest wildcard, then the default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qmvc.engine.tree import duration_text
from qmvc.policy.policy import Policy


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(7200.0, "2h"), (3600.0, "1h"), (600.0, "10m"), (90.0, "90s"), (44.0, "44s"),
     (45.0, "45s"), (1.5, "1.5s"), (0.0, "0s")],
)  # fmt: skip
def test_a_duration_is_written_in_its_largest_whole_unit(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


@pytest.fixture
def profiles(tmp_path: Path) -> Policy:
    policy = tmp_path / "policy.qmvc"
    actions = '  on virus { keep "q/v" }\n  on badmail { keep "q/b" }\n'
    policy.write_text(
        'domain "a.example.com" uses exact\n'
        'domain "*.example.com" uses wide\n'
        'domain "*.b.example.com" uses narrow\n'
        + "".join(
            f"profile {name}{' default' if name == 'fallback' else ''} {{\n{actions}}}\n"
            for name in ("fallback", "exact", "wide", "narrow")
        ),
        encoding="utf-8",
    )
    return Policy.load(policy)


@pytest.mark.parametrize(
    ("domain", "profile"),
    [
        ("a.example.com", "exact"),
        ("A.Example.COM.", "exact"),
        ("c.example.com", "wide"),
        ("x.b.example.com", "narrow"),
        ("x.b.example.com.", "narrow"),
        ("example.org", "fallback"),
    ],
)
def test_a_domain_gets_its_exact_profile_then_the_longest_wildcard(
    profiles: Policy, domain: str, profile: str
) -> None:
    assert profiles.compile().profile_for(domain).name == profile
