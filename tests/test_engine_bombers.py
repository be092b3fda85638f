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
