"""Property tests: policies built from the grammar's pieces parse, check and compile;
any other text or bytes is refused with PolicyError and nothing else."""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmvc.policy.diagnostics import PolicyError
from qmvc.policy.policy import Policy

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).map(lambda s: f"n_{s}")
plain_text = st.text(alphabet="abcXYZ019 .-_@*?[]!", min_size=1, max_size=12)
quoted = plain_text.map(lambda s: f'"{s}"')
regexes = st.sampled_from(
    [r"/ab+c/", r"/^x\d+$/i", r"/(foo|bar)/", r"/C:\/Win/", r"/[a-z]{2,4}$/ism"]
)
text_fields = st.sampled_from(
    [
        "sender",
        "recipient",
        "subject",
        "body",
        'header "X-Mailer"',
        "any attachment.name",
        "every attachment.name",
        "any attachment.type",
        "attachment.declared_type",
    ]
)
empty_fields = st.sampled_from(["sender", "recipient", "subject", "body", 'header "Reply-To"'])
size_fields = st.sampled_from(["message.size", "any attachment.size", "every attachment.size"])
sizes = st.sampled_from(["10MB", "1K", "512B", "2.5 MB", "1G", "100"])


def conditions(list_names: list[str]) -> st.SearchStrategy[str]:
    values = [quoted, regexes]
    if list_names:
        values.append(st.sampled_from(list_names).map(lambda n: f"list {n}"))
    text_test = st.builds(
        lambda f, op, v, nocase: f"{f} {op} {v}{' nocase' if nocase else ''}",
        text_fields,
        st.sampled_from(["is", "contains", "matches"]),
        st.one_of(values),
        st.booleans(),
    )
    leaves = st.one_of(
        text_test,
        empty_fields.map(lambda f: f"{f} is empty"),
        st.builds(
            lambda f, c, s: f"{f} {c} {s}",
            size_fields,
            st.sampled_from([">", ">=", "<", "<="]),
            sizes,
        ),
        st.just("any attachment"),
        st.just("message has defects"),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            inner.map(lambda c: f"not {c}"),
            inner.map(lambda c: f"({c})"),
            st.builds(
                lambda a, b, op: f"({a} {op} {b})", inner, inner, st.sampled_from(["and", "or"])
            ),
        ),
        max_leaves=8,
    )


scanner_bodies = st.sampled_from(
    [
        'clamd socket "/run/clamav/clamd.ctl"',
        'clamd tcp "127.0.0.1:3310" "clamd2:3310" timeout 30s + 5s per MB',
        "command engine clamscan timeout 2m",
        'command run "/opt/av/scan {dir}" clean 0 infected 1 2 pattern /FOUND (?P<name>\\S+)/',
        'command run "avscan {dir}" infected 3 pattern "Virus: (?P<name>\\S+)"'
        ' update "avupdate -q"',
    ]
)
keepers = st.sampled_from(
    [
        'keep "quarantine/x"',
        'forward "sec@example.org" "b@example.org"',
        "deliver",
        "bounce",
        'keep "q"; forward "a@example.org"',
        "defer",
    ]
)
notices = st.sampled_from(["", "; notify g_team", "; notify recipient", "; notify g_team, sender"])


@st.composite
def valid_policies(draw: st.DrawFn) -> str:
    lines = [
        'guard g_team "team@example.org" "backup@example.org"',
        "language de for .de .at .ch",
        "language en default",
        "budget 10m",
    ]
    list_names = draw(st.lists(names, max_size=3, unique=True))
    for name in list_names:
        patterns = draw(st.lists(st.one_of(quoted, regexes), min_size=1, max_size=4))
        lines.append(f"list {name} = {' '.join(patterns)}")
    scanner_names = draw(
        st.lists(names, max_size=3, unique=True).map(
            lambda ns: [n.replace("n_", "s_", 1) for n in ns]
        )
    )
    for name in scanner_names:
        lines.append(f"scanner {name} {draw(scanner_bodies)}")
    profile_names = draw(
        st.lists(names, min_size=1, max_size=3, unique=True).map(
            lambda ns: [n.replace("n_", "p_", 1) for n in ns]
        )
    )
    domain_number = 0
    for index, profile in enumerate(profile_names):
        lines.append(f"profile {profile}{' default' if index == 0 else ''} {{")
        rules = draw(st.lists(names, max_size=4, unique=True))
        for rule in rules:
            lines.append(f"  badmail {rule} when {draw(conditions(list_names))}")
        if scanner_names:
            engines = draw(st.lists(st.sampled_from(scanner_names), min_size=1, unique=True))
            modifiers = draw(
                st.sampled_from(
                    ["", " first", " all", " parallel", " unless badmail", " unless badmail all"]
                )
            )
            lines.append(f"  scan {', '.join(engines)}{modifiers}")
            lines.append(f"  on virus {{ {draw(keepers)}{draw(notices)} }}")
        if rules:
            lines.append(f"  on badmail {{ {draw(keepers)}{draw(notices)} }}")
        lines.append(f"  on failure {{ {draw(st.sampled_from(['defer', 'deliver']))} }}")
        lines.append("}")
        if index:
            domain_number += 1
            lines.append(
                f'domain "d{domain_number}.example.org" "*.d{domain_number}.example.org" '
                f"uses {profile}"
            )
    return "\n".join(lines) + "\n"


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
