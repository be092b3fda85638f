"""Hypothesis strategies for policy text, shared by the parser's and the formatter's tests:
valid policies built from the grammar's pieces, which must parse, check and compile."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

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
        "sender.domain",
        "recipient.local",
        "client.ip",
    ]
)
networks = st.lists(
    st.sampled_from(["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::ffff:10.0.0.0/104", "::1"]),
    min_size=1,
    max_size=3,
).map(" ".join)
NETWORK_LIST = "v_nets"
"""Declared in every generated policy: networks, for `client.ip in list` and selectors."""
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
        networks.map(lambda n: f"client.ip in {n}"),
        st.just(f"client.ip in list {NETWORK_LIST}"),
        st.just('header "X-Spam-Flag" exists'),
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


bombers = st.sampled_from(
    [
        [],
        ['  bomber b_same when infected from same sender > 10 per 10m { quiet 1h; keep "q" }'],
        [
            "  bomber b_many when badmail to same recipient > 5 per 1m",
            "                 or infected from same client > 20 per 10m {",
            "    drop",
            "  }",
        ],
    ]
)


@st.composite
def valid_policies(draw: st.DrawFn) -> str:
    lines = [
        'guard g_team "team@example.org" "backup@example.org"',
        "language de for .de .at .ch",
        "language en default",
        "budget 10m",
        f'list {NETWORK_LIST} = 192.0.2.0/24 "198.51.100.0/24" 2001:db8:1::/48',
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
        selectors = draw(
            st.sampled_from(
                [
                    "",
                    f" for client.ip in 10.{index}.0.0/16",
                    f' for sender.domain "s{index}.example" for recipient "r{index}@example.org"',
                    f' for recipient.domain "*.r{index}.example" for sender "a{index}@example.org"',
                ]
            )
        )
        lines.append(f"profile {profile}{' default' if index == 0 else ''}{selectors} {{")
        for _ in range(draw(st.integers(0, 2))):
            targets = draw(st.sampled_from(["scan", "badmail", "scan, badmail", "badmail, scan"]))
            lines.append(f"  bypass {targets} when {draw(conditions(list_names))}")
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
        lines.extend(draw(bombers))
        lines.append("}")
        if index:
            domain_number += 1
            lines.append(
                f'domain "d{domain_number}.example.org" "*.d{domain_number}.example.org" '
                f"uses {profile}"
            )
    return "\n".join(lines) + "\n"
