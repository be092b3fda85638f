"""The evaluator and the state store, in process with a real SQLite store: the verdict
cache through evaluate (sequential and parallel scans), when the store is opened at all,
and the bomber rules as evaluate applies them (our host name, the viruses an episode keeps,
explain counting without recording).

Scanners are `Scanner` protocol objects as in tests/test_evaluate.py; this one also has the
`signature_version` that makes clamd's verdicts cacheable."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from qmvc.engine.evaluate import evaluate
from qmvc.engine.tree import DecisionTree
from qmvc.engine.verdict import Verdict
from qmvc.message import Envelope, MessageFacts
from qmvc.policy.policy import Policy
from qmvc.scanners.base import AttachmentParts, ScanPart, ScanResult, no_attachments
from qmvc.state.base import StateStore
from qmvc.state.factory import open_store

OUR_HOST = "mx.example.com"
RECEIVED = (
    "Received: (qmail 4711 invoked from network); 26 Nov 2026 02:00:01 -0000\n"
    "Received: from unknown (HELO client.example)\n  (203.0.113.9)\n"
    "  by {host} with SMTP; 26 Nov 2026 02:00:01 -0000\n"
)
INFECTED = ScanResult("infected", ("Eicar",), 0.01, locations=(("Eicar", "run.exe"),))


def message(host: str = OUR_HOST, subject: str = "files") -> MessageFacts:
    raw = (
        RECEIVED.format(host=host)
        + f"Subject: {subject}\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n"
        "--B\nContent-Type: text/plain\n\nhello\n"
        '--B\nContent-Type: application/octet-stream; name="run.exe"\n'
        "Content-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(b"MZ" + bytes(100)).decode()
        + "--B--\n"
    ).encode()
    return MessageFacts(raw, Envelope.from_addresses("anna@example.org", "bob@example.com"))


@dataclass
class VersionedScanner:
    """Answers as told and counts its scans; its signature version makes it cacheable."""

    answer: ScanResult
    versioned: bool = True
    wants_parts: bool = False
    scans: int = 0
    parts_seen: list[list[str]] = field(default_factory=list)

    def scan(
        self,
        message: bytes,
        parts: Sequence[ScanPart],
        attachments: AttachmentParts = no_attachments,
    ) -> ScanResult:
        self.scans += 1
        self.parts_seen.append([part.name for part in parts])
        return self.answer

    def __getattr__(self, name: str) -> object:
        if name == "signature_version" and self.versioned:
            return lambda: "27000"
        raise AttributeError(name)


@dataclass
class Opener:
    """The state opener evaluate is given; counts how often the store was asked for."""

    store: StateStore
    calls: int = 0

    def __call__(self) -> StateStore:
        self.calls += 1
        return self.store


@pytest.fixture
def opener(tmp_path: Path) -> Opener:
    return Opener(open_store("sqlite", "", tmp_path))


def tree_of(tmp_path: Path, settings: str, rules: str) -> DecisionTree:
    policy = tmp_path / "policy.qmvc"
    policy.write_text(
        'scanner one clamd socket "/nonexistent/one.ctl"\n'
        'scanner two clamd socket "/nonexistent/two.ctl"\n'
        f"{settings}\nprofile only default {{\n{rules}\n"
        '  on virus { keep "quarantine/virus" }\n'
        '  on badmail { keep "quarantine/badmail" }\n}\n',
        encoding="utf-8",
    )
    return Policy.load(policy).compile()


def run(
    decision_tree: DecisionTree, engine: VersionedScanner, opener: Opener, record: bool = True
) -> Verdict:
    return evaluate(
        decision_tree, message(), {"one": engine, "two": engine}.__getitem__, opener, record
    )


def scan_step(verdict: Verdict) -> tuple[str, str]:
    step = next(s for s in verdict.trace if s.node == "scan one")
    return step.result, step.detail


# ---- the verdict cache ----


@pytest.mark.parametrize("mode", ["", "parallel"])
def test_a_part_found_infected_is_not_scanned_again(
    tmp_path: Path, opener: Opener, mode: str
) -> None:
    decision_tree = tree_of(tmp_path, "state sqlite\nverdict cache 1h", f"  scan one {mode}")
    engine = VersionedScanner(INFECTED)
    first, again = run(decision_tree, engine, opener), run(decision_tree, engine, opener)
    assert (first.outcome, again.outcome) == ("virus", "virus")
    assert engine.scans == 1
    assert scan_step(again) == (
        "ran",
        "found Eicar (verdict cache (signatures 27000), not scanned again)",
    )
    assert again.scanners[0].status == "cached"


def test_a_cache_of_one_second_is_a_cache(tmp_path: Path, opener: Opener) -> None:
    decision_tree = tree_of(tmp_path, "state sqlite\nverdict cache 1s", "  scan one")
    engine = VersionedScanner(INFECTED)
    run(decision_tree, engine, opener)
    run(decision_tree, engine, opener)
    assert engine.scans == 1


def test_an_engine_without_a_signature_version_is_scanned_every_time(
    tmp_path: Path, opener: Opener
) -> None:
    decision_tree = tree_of(tmp_path, "state sqlite\nverdict cache 1h", "  scan one")
    engine = VersionedScanner(INFECTED, versioned=False)
    run(decision_tree, engine, opener)
    again = run(decision_tree, engine, opener)
    assert engine.scans == 2
    assert scan_step(again) == ("ran", "found Eicar in 0.010s")
    assert opener.calls == 0  # nothing to look up: the store is not even opened


def test_with_the_verdict_cache_off_scanning_never_opens_the_store(
    tmp_path: Path, opener: Opener
) -> None:
    decision_tree = tree_of(tmp_path, "state sqlite\nverdict cache off", "  scan one")
    run(decision_tree, VersionedScanner(INFECTED), opener)
    assert opener.calls == 0


def test_an_engine_that_does_not_want_parts_gets_only_the_hidden_ones(
    tmp_path: Path, opener: Opener
) -> None:
    """The whole message goes to every engine; the parts a client shows are in it already."""
    decision_tree = tree_of(tmp_path, "", "  scan one")
    engine = VersionedScanner(ScanResult("clean"))
    run(decision_tree, engine, opener)
    wanting = VersionedScanner(ScanResult("clean"), wants_parts=True)
    run(decision_tree, wanting, opener)
    assert engine.parts_seen == [[]]
    assert wanting.parts_seen == [["", "run.exe"]]


# ---- bomber rules through evaluate ----

BOMBERS = (
    '  badmail subject when subject is "spam"\n'
    "  scan one\n"
    "  bomber by_client when infected from same client > 1 per 10m\n"
    '    or badmail from same client > 1 per 10m { quiet 1h; keep "quarantine/bombs" }'
)


def test_a_bombing_is_found_by_the_client_our_host_name_finds(
    tmp_path: Path, opener: Opener
) -> None:
    decision_tree = tree_of(tmp_path, f'state sqlite\nhostname "{OUR_HOST}"', BOMBERS)
    engine = VersionedScanner(INFECTED)
    first = run(decision_tree, engine, opener)
    second = run(decision_tree, engine, opener)
    assert first.bombing is None
    assert second.bombing is not None
    assert (second.bombing.rule, second.bombing.source) == ("by_client", "client 203.0.113.9")
    assert second.exit_code == 99
    steps = [
        (s.node, s.result, s.detail) for s in second.trace if s.node.startswith("bomber by_client:")
    ]
    assert steps == [
        ("bomber by_client: infected from same client > 1 per 10m", "true", "2 within 600 s")
    ]
    episode = opener.store.get("episode:by_client|infected|client 203.0.113.9", time.time())
    assert episode is not None and json.loads(episode)["viruses"] == ["Eicar"]


def test_badmail_is_counted_by_its_own_rates(tmp_path: Path, opener: Opener) -> None:
    decision_tree = tree_of(tmp_path, f'state sqlite\nhostname "{OUR_HOST}"', BOMBERS)
    engine = VersionedScanner(ScanResult("clean"))
    facts = message(subject="spam")
    evaluate(decision_tree, facts, {"one": engine}.__getitem__, opener, True)
    verdict = evaluate(
        decision_tree, message(subject="spam"), {"one": engine}.__getitem__, opener, True
    )
    assert verdict.outcome == "badmail"
    assert verdict.bombing is not None and verdict.bombing.kind == "badmail"


def test_a_clean_message_opens_no_store_for_the_bomber_rules(
    tmp_path: Path, opener: Opener
) -> None:
    settings = f'state sqlite\nverdict cache off\nhostname "{OUR_HOST}"'
    verdict = run(
        tree_of(tmp_path, settings, BOMBERS), VersionedScanner(ScanResult("clean")), opener
    )
    assert verdict.outcome == "clean"
    assert opener.calls == 0


def test_explain_counts_without_recording_by_default(tmp_path: Path, opener: Opener) -> None:
    decision_tree = tree_of(tmp_path, f'state sqlite\nhostname "{OUR_HOST}"', BOMBERS)
    engine = VersionedScanner(INFECTED)
    for _ in range(3):
        verdict = evaluate(decision_tree, message(), {"one": engine}.__getitem__, opener)
        assert verdict.bombing is None


def test_without_a_hostname_only_qmails_own_name_is_trusted(tmp_path: Path, opener: Opener) -> None:
    """No `hostname` and no /var/qmail/control/me here: no Received line names our host, not
    even one written `by XXXX`."""
    decision_tree = tree_of(tmp_path, "", "  badmail near when client.ip in 203.0.113.0/24")
    facts = message(host="XXXX")
    verdict = evaluate(decision_tree, facts, None)
    assert verdict.outcome == "clean"


def test_a_bombing_whose_rule_drops_the_copies_answers_qmail_handled(
    tmp_path: Path, opener: Opener
) -> None:
    rules = "  scan one\n  bomber b when infected from same sender > 1 per 10m { quiet 1h; drop }"
    decision_tree = tree_of(tmp_path, "state sqlite", rules)
    engine = VersionedScanner(INFECTED)
    run(decision_tree, engine, opener)
    verdict = run(decision_tree, engine, opener)
    assert verdict.bombing is not None
    assert [a.kind for a in verdict.actions] == ["drop"]
    assert verdict.exit_code == 99
