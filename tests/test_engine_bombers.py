"""The bomber rules (qmvc/engine/bombers.py) on their own, with a real SQLite store: which
source a rate counts, the phrase the guards' summaries show, and the end summary's variables.

End to end, with deliveries, Maildirs and the summaries sent: tests/test_bombers.py (a minute
a test) and tests/test_deliver_in_process.py. These run in milliseconds, so the mutation
run's time budget (tests/mutation/launch.py) reaches them."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from qmvc.engine.bombers import check_bombers, ended_bombings
from qmvc.engine.tree import ProfileTree
from qmvc.engine.verdict import TraceStep
from qmvc.message import Envelope, MessageFacts
from qmvc.policy.policy import Policy
from qmvc.state.base import StateStore
from qmvc.state.factory import open_store

OUR_HOST = "mx.example.com"
CLIENT_RECEIVED = (
    "Received: (qmail 4711 invoked from network); 26 Nov 2026 02:00:01 -0000\n"
    "Received: from unknown (HELO client.example)\n  (203.0.113.9)\n"
    f"  by {OUR_HOST} with SMTP; 26 Nov 2026 02:00:01 -0000\n"
)
SENDER = '"Anna|Home@Away"@Mail.Example.ORG'
"""Mixed case, and a quoted local part with `|` (the episode key's separator) and `@`."""
RECIPIENT = "Bob@Example.COM"
VIRUS = "Eicar-Test-Signature"


def profile_of(tmp_path: Path, bombers: str) -> ProfileTree:
    policy = tmp_path / "policy.qmvc"
    policy.write_text(
        "profile only default {\n"
        f"{bombers}\n"
        '  on virus { keep "quarantine/virus" }\n'
        '  on badmail { keep "quarantine/badmail" }\n'
        "  on clean { deliver }\n  on failure { defer }\n  on too-large { defer }\n}\n",
        encoding="utf-8",
    )
    return Policy.load(policy).compile().profile_for("example.com")


def facts(sender: str = SENDER, recipient: str = RECIPIENT) -> MessageFacts:
    raw = f"{CLIENT_RECEIVED}From: a@example.org\nSubject: copy\n\nthe same again\n"
    return MessageFacts(raw.encode(), Envelope.from_addresses(sender, recipient))


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return open_store("sqlite", "", tmp_path)


@pytest.mark.parametrize(
    ("rate", "phrase"),
    [
        ("from same sender", 'sender "anna|home@away"@mail.example.org'),
        ("from same domain", "sender domain mail.example.org"),
        ("to same recipient", "recipient bob@example.com"),
        ("from same client", "client 203.0.113.9"),
    ],
)
def test_each_source_is_counted_case_blind_and_named_for_the_guards(
    tmp_path: Path, store: StateStore, rate: str, phrase: str
) -> None:
    """The second copy makes a bombing even when its sender and recipient are written in
    other letters (qmail keeps the case the client sent); the summary names the source in
    lower case, the domain as the one after the last `@`."""
    profile = profile_of(
        tmp_path, f'  bomber bomb when infected {rate} > 1 per 10m {{ keep "quarantine/bombs" }}'
    )
    first, _ = check_bombers(profile, "virus", facts(), store, True, our_host=OUR_HOST)
    assert first is None
    again = facts(SENDER.upper(), RECIPIENT.lower())
    bombing, trace = check_bombers(profile, "virus", again, store, True, our_host=OUR_HOST)
    assert bombing is not None
    assert (bombing.rule, bombing.kind, bombing.source) == ("bomb", "infected", phrase)
    assert [(step.result, step.detail) for step in trace] == [("true", "2 within 600 s")]


def quiet_ago(hours: float) -> tuple[float, str]:
    """A stamp `hours` ago on a whole minute, and that minute as the summaries write it."""
    then = datetime.now().replace(second=0, microsecond=0) - timedelta(hours=hours)
    shown = f"{then.year:04d}-{then.month:02d}-{then.day:02d} {then.hour:02d}:{then.minute:02d}"
    return then.timestamp(), shown


TWO_RULES = (
    "  bomber by_sender when infected from same sender > 1 per 10m {\n"
    '    quiet 1h; keep "quarantine/bombs"; forward "av@guards.example"\n  }\n'
    "  bomber by_recipient when infected to same recipient > 5 per 10m { quiet 2h; drop }"
)


def test_an_ended_bombing_is_summarised_with_its_own_rule_source_times_and_viruses(
    tmp_path: Path, store: StateStore
) -> None:
    """Three copies three hours ago, then silence longer than the longest `quiet` (2h): the
    next delivery ends the bombing, once, with what the summary shows."""
    profile = profile_of(tmp_path, TWO_RULES)
    start, start_shown = quiet_ago(3)
    last, last_shown = quiet_ago(2.9)
    for stamp in (start, start + 60, last):
        check_bombers(profile, "virus", facts(), store, True, (VIRUS, VIRUS), stamp, OUR_HOST)
    assert ended_bombings(profile.bombers, store) == [
        {
            "rule": "by_sender",
            "kind": "infected",
            "source": 'sender "anna|home@away"@mail.example.org',
            "count": 2,  # the first copy is under the threshold: not part of the bombing
            "started": quiet_ago(3 - 1 / 60)[1],
            "last": last_shown,
            "viruses": (VIRUS,),
            "actions": ("keep quarantine/bombs", "forward av@guards.example"),
            "quiet": "1h",  # the rule's own quiet, not the longest of the policy
        }
    ]
    assert start_shown != last_shown
    assert ended_bombings(profile.bombers, store) == []  # claimed by one delivery only


def test_a_bombing_still_within_the_longest_quiet_is_not_ended(
    tmp_path: Path, store: StateStore
) -> None:
    """by_sender's own quiet (1h) has passed, but the policy's longest (2h) has not."""
    profile = profile_of(tmp_path, TWO_RULES)
    stamp, _ = quiet_ago(1.5)
    for copy in range(2):
        check_bombers(profile, "virus", facts(), store, True, (), stamp + copy, OUR_HOST)
    assert ended_bombings(profile.bombers, store) == []


def test_an_episode_whose_details_are_gone_is_still_summarised(
    tmp_path: Path, store: StateStore
) -> None:
    """The details (viruses, actions, quiet) are a separate entry that can expire or fail to
    be written; the end summary then has none, and the policy's longest quiet."""
    profile = profile_of(tmp_path, TWO_RULES)
    stamp, shown = quiet_ago(3)
    store.episode_event("by_sender|infected|sender x@example.org", stamp, 3600)
    assert ended_bombings(profile.bombers, store) == [
        {
            "rule": "by_sender",
            "kind": "infected",
            "source": "sender x@example.org",
            "count": 1,
            "started": shown,
            "last": shown,
            "viruses": (),
            "actions": (),
            "quiet": "2h",
        }
    ]


def test_an_episode_of_one_word_is_summarised_under_that_rule_with_no_source(
    tmp_path: Path, store: StateStore
) -> None:
    """An episode key without the `rule|kind|source` separators (a store shared with an
    older or damaged writer) still ends, named by what it has; nothing is made up."""
    profile = profile_of(tmp_path, TWO_RULES)
    stamp, _ = quiet_ago(3)
    store.episode_event("by_sender", stamp, 3600)
    [summary] = ended_bombings(profile.bombers, store)
    assert (summary["rule"], summary["kind"], summary["source"]) == ("by_sender", "", "")


# ---- the trace of the rates, as explain shows it ----


def no_client_facts(sender: str = SENDER, recipient: str = RECIPIENT) -> MessageFacts:
    """A message without our qmail-smtpd's Received line: it has no client to count."""
    raw = b"From: a@example.org\nSubject: copy\n\nthe same again\n"
    return MessageFacts(raw, Envelope.from_addresses(sender, recipient))


def rate_steps(trace: list[TraceStep]) -> list[tuple[str, int | None, str, str]]:
    return [(s.node, None if s.span is None else s.span.line, s.result, s.detail) for s in trace]


def test_without_a_state_store_the_bomber_rules_are_skipped_and_say_why(tmp_path: Path) -> None:
    profile = profile_of(tmp_path, TWO_RULES)
    assert check_bombers(profile, "virus", facts(), None, True, our_host=OUR_HOST) == (
        None,
        [TraceStep("bombers", None, "skipped", "no state store", 0)],
    )


def test_each_rate_of_the_outcomes_kind_is_a_step_at_its_line(
    tmp_path: Path, store: StateStore
) -> None:
    """Rates of another kind are passed over; a source with no value says so; explain
    (record=False) counts this message without recording it."""
    profile = profile_of(
        tmp_path,
        "  bomber b when badmail from same sender > 5 per 10m\n"
        "    or infected from same client > 1 per 10m\n"
        '    or infected from same sender > 1 per 10m { quiet 1h; keep "quarantine/bombs" }',
    )
    bombing, trace = check_bombers(profile, "virus", no_client_facts(), store, False)
    assert bombing is None
    assert rate_steps(trace) == [
        ("bomber b: infected from same client > 1 per 10m", 3, "false", "no client to count"),
        ("bomber b: infected from same sender > 1 per 10m", 4, "false", "1 within 600 s"),
    ]


def test_explain_counts_this_message_on_top_of_those_recorded_in_every_window(
    tmp_path: Path, store: StateStore
) -> None:
    profile = profile_of(
        tmp_path,
        "  bomber b when infected from same sender > 5 per 10m\n"
        "    or infected from same sender > 9 per 1h\n"
        "    or infected to same recipient > 5 per 10m { quiet 1h; drop }",
    )
    now = 1_800_000_000.0
    for copy in range(2):
        check_bombers(profile, "virus", facts(), store, True, (), now + copy, OUR_HOST)
    _, recorded = check_bombers(profile, "virus", facts(), store, True, (), now + 2, OUR_HOST)
    _, explained = check_bombers(profile, "virus", facts(), store, False, (), now + 3, OUR_HOST)
    assert [s.detail for s in recorded] == ["3 within 600 s", "3 within 3600 s", "3 within 600 s"]
    assert [s.detail for s in explained] == ["4 within 600 s", "4 within 3600 s", "4 within 600 s"]


def test_a_bombing_goes_on_under_the_threshold_while_its_quiet_lasts(
    tmp_path: Path, store: StateStore
) -> None:
    profile = profile_of(
        tmp_path, '  bomber b when infected from same sender > 2 per 10m { quiet 1h; keep "q/b" }'
    )
    now = 1_800_000_000.0
    results = [
        check_bombers(profile, "virus", facts(), store, True, (), now + copy, OUR_HOST)
        for copy in range(3)
    ]
    assert [bombing is not None for bombing, _ in results] == [False, False, True]
    assert results[0][1][0].detail == "1 within 600 s"
    assert results[2][0] is not None and results[2][0].started
    later, trace = check_bombers(profile, "virus", facts(), store, True, (), now + 700, OUR_HOST)
    assert later is not None and not later.started
    assert rate_steps(trace) == [
        (
            "bomber b: infected from same sender > 2 per 10m",
            2,
            "true",
            "1 within 600 s; a bombing from this source is under way",
        )
    ]
    _, explained = check_bombers(profile, "virus", facts(), store, False, (), now + 701, OUR_HOST)
    assert explained[0].result == "true"


def test_a_rate_under_its_threshold_does_not_stop_the_next_rate_of_the_rule(
    tmp_path: Path, store: StateStore
) -> None:
    profile = profile_of(
        tmp_path,
        "  bomber b when infected from same sender > 5 per 10m\n"
        '    or infected to same recipient > 1 per 10m { quiet 1h; keep "q/b" }',
    )
    now = 1_800_000_000.0
    check_bombers(profile, "virus", facts("one@example.org"), store, True, (), now, OUR_HOST)
    bombing, trace = check_bombers(
        profile, "virus", facts("two@example.org"), store, False, (), now + 1, OUR_HOST
    )
    assert bombing is not None
    assert (bombing.source, bombing.started) == ("recipient bob@example.com", False)
    assert [s.result for s in trace] == ["false", "true"]


def test_without_our_host_name_no_received_line_counts_as_the_client(
    tmp_path: Path, store: StateStore
) -> None:
    profile = profile_of(
        tmp_path, '  bomber b when infected from same client > 5 per 10m { keep "q/b" }'
    )
    by_placeholder = CLIENT_RECEIVED.replace(OUR_HOST, "XXXX")
    raw = f"{by_placeholder}Subject: copy\n\nagain\n".encode()
    _, trace = check_bombers(
        profile,
        "virus",
        MessageFacts(raw, Envelope.from_addresses(SENDER, RECIPIENT)),
        store,
        False,
    )
    assert [s.detail for s in trace] == ["no client to count"]
