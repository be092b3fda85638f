"""Property tests: policies built from the grammar's pieces parse, check and compile;
any other text or bytes is refused with PolicyError and nothing else."""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from qmvc.policy.diagnostics import PolicyError
from qmvc.policy.policy import Policy
from tests.policy_strategies import SETTINGS, valid_policies


def load_from(data: bytes) -> Policy:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "policy.qmvc"
        path.write_bytes(data)
        return Policy.load(path)


@SETTINGS
@given(valid_policies())
def test_valid_policies_parse_check_and_compile(text: str) -> None:
    policy = load_from(text.encode())
    errors = [d for d in policy.check() if d.severity == "error"]
    assert errors == [], (text, errors)
    decision_tree = policy.compile()
    assert pickle.loads(pickle.dumps(decision_tree)) == decision_tree


def refuse_only_with_policy_error(data: bytes) -> None:
    try:
        policy = load_from(data)
        policy.check()
        policy.compile()
    except PolicyError as exc:
        assert exc.diagnostics
        assert all(d.span.line >= 1 and d.code for d in exc.diagnostics)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_raise_nothing_but_policy_error(data: bytes) -> None:
    refuse_only_with_policy_error(data)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=1000))
def test_random_text_raises_nothing_but_policy_error(text: str) -> None:
    refuse_only_with_policy_error(text.encode("utf-8", "surrogatepass"))


TOKENS = [
    "bypass",
    "scan",
    ",",
    "client.ip",
    "sender.domain",
    "in",
    "10.0.0.0/8",
    "::1",
    "exists",
    "header",
    "for",
    "profile",
    "p",
    "default",
    "{",
    "}",
    "badmail",
    "r",
    "when",
    "not",
    "and",
    "or",
    "(",
    ")",
    "subject",
    "is",
    "contains",
    "matches",
    '"x"',
    "/y/i",
    "list",
    "l",
    "=",
    "from",
    "any",
    "attachment",
    "attachment.name",
    "message.size",
    ">",
    "10MB",
    "scan",
    "s",
    ",",
    "on",
    "virus",
    "badmail",
    "keep",
    "deliver",
    "defer",
    ";",
    "scanner",
    "clamd",
    "socket",
    "timeout",
    "30s",
    "+",
    "per",
    "MB",
    "domain",
    "uses",
    "include",
    "guard",
    "language",
    "de",
    ".de",
    "nocase",
    "empty",
    "header",
    "\n",
    "#",
    "message",
    "has",
    "defects",
]


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=60))
def test_token_soup_raises_nothing_but_policy_error(tokens: list[str]) -> None:
    refuse_only_with_policy_error(" ".join(tokens).encode())


@SETTINGS
@given(valid_policies(), st.integers(min_value=0))
def test_truncated_valid_policies_raise_nothing_but_policy_error(text: str, cut: int) -> None:
    refuse_only_with_policy_error(text.encode()[: cut % (len(text) + 1)])
