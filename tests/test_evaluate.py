"""The evaluator, in process: what the shipped policy decides without a scanner, and how a
decision tree is walked (first match, cheap first, shared tests, scanning modes, failures).

Scanners here are small objects that implement the `Scanner` protocol of
`qmvc/scanners/base.py`: that protocol is the evaluator's whole view of an engine, by design,
so these tests need no clamd; real engines are tested in tests/test_scanner_*.py.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmvc.engine import evaluate as evaluate_module
from qmvc.engine.evaluate import evaluate
from qmvc.engine.tree import OUTCOMES, DecisionTree
from qmvc.engine.verdict import EXIT_DEFER, Verdict
from qmvc.message import Envelope, MessageFacts
from qmvc.policy.policy import Policy
from qmvc.scanners.base import (
    AttachmentParts,
    Scanner,
    ScanPart,
    ScanResult,
    no_attachments,
)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
DEFAULT_POLICY = ROOT / "policies" / "default.qmvc"
EXECUTABLE_TYPES = {"application/vnd.microsoft.portable-executable", "application/x-dosexec"}

SCANNERS = """
scanner first_engine clamd socket "/nonexistent/first.ctl"
scanner second_engine clamd socket "/nonexistent/second.ctl"
scanner third_engine clamd socket "/nonexistent/third.ctl"
"""
ACTIONS = """
  on virus { keep "quarantine/virus" }
  on badmail { keep "quarantine/badmail" }
"""


def compile_text(tmp_path: Path, text: str) -> DecisionTree:
    path = tmp_path / "policy.qmvc"
    path.write_text(text, encoding="utf-8")
    return Policy.load(path).compile()


def profile(body: str, scanners: str = "") -> str:
    """A one-profile policy with the actions every outcome needs."""
    return f"{scanners}\nprofile only default {{\n{body}\n{ACTIONS}}}\n"


def facts_of(
    raw: bytes, sender: str = "alice@example.org", recipient: str = "bob@example.com"
) -> MessageFacts:
    return MessageFacts(raw, Envelope.from_addresses(sender, recipient))


def corpus_facts(name: str) -> MessageFacts:
    """A corpus message with the envelope qmail recorded in its Return-Path and Delivered-To."""
    raw = (CORPUS / f"{name}.eml").read_bytes()
    sender = "<>" if raw.startswith(b"Return-Path: <>") else "alice@example.org"
    return facts_of(raw, sender)


PLAIN = b"Subject: Lunch\nFrom: alice@example.org\n\nAre we still on for Friday?\n"
WITH_EXE = (CORPUS / "exe-declared-as-pdf.eml").read_bytes()


@functools.cache
def shipped_tree() -> DecisionTree:
    return Policy.load(DEFAULT_POLICY).compile()


@pytest.fixture
def default_tree() -> DecisionTree:
    return shipped_tree()


@dataclass
class FakeScanner:
    """A scanner that answers as told and records the messages it was given."""

    name: str
    answer: ScanResult
    wants_parts: bool = False
    barrier: threading.Barrier | None = None
    scanned: list[bytes] = field(default_factory=list)

    def scan(
        self,
        message: bytes,
        parts: Sequence[ScanPart],
        attachments: AttachmentParts = no_attachments,
    ) -> ScanResult:
        self.scanned.append(message)
        if self.barrier is not None:
            try:
                self.barrier.wait()
            except threading.BrokenBarrierError:
                return ScanResult("failed", detail="the other engines did not run at the same time")
        return self.answer


CLEAN = ScanResult("clean", seconds=0.01)
INFECTED = ScanResult("infected", ("Eicar-Test-Signature",), seconds=0.02)
FAILED = ScanResult("failed", detail="engine crashed")


def provider(*engines: FakeScanner | None, names: Sequence[str] = ()):  # type: ignore[no-untyped-def]
    """Engines by name; `names` without an engine are declared but not available here."""
    by_name: dict[str, Scanner | None] = {e.name: e for e in engines if e is not None}
    by_name.update({name: None for name in names})
    asked: list[str] = []

    def provide(name: str) -> Scanner | None:
        asked.append(name)
        return by_name[name]

    provide.asked = asked  # type: ignore[attr-defined]
    return provide


def step_for(verdict: Verdict, node: str) -> list[tuple[str, str]]:
    return [(s.result, s.detail) for s in verdict.trace if s.node == node]


# ---- the "done when": the shipped default policy, no scanner ----------------------


@pytest.mark.parametrize(
    "name",
    [
        "exe-declared-as-pdf",
        "exe-declared-as-text",
        "exe-no-name-octet-stream",
        "sample-exe-attachment",
    ],
)
def test_default_policy_flags_an_executable_whatever_its_declared_name_and_type(
    default_tree: DecisionTree, name: str
) -> None:
    facts = corpus_facts(name)
    verdict = evaluate(default_tree, facts, None)
    assert verdict.outcome == "badmail"
    assert [c.name for c in verdict.criteria] == ["filetype"]
    assert {a.sniffed_type for a in facts.attachments} & EXECUTABLE_TYPES
    assert any(t in verdict.criteria[0].evidence for t in EXECUTABLE_TYPES)


@pytest.mark.parametrize(
    ("name", "decoded"),
    [
        ("double-ext-rfc2047-name", "invoice.pdf.exe"),
        ("double-ext-rfc2231-name", "invoice.pdf.exe"),
        ("rfc2047-split-name", "Überweisung.pdf.exe"),
        ("rfc2231-continuations", "Jahresübersicht 2023.pdf.exe"),
    ],
)
def test_default_policy_flags_a_double_extension_in_an_encoded_name(
    default_tree: DecisionTree, name: str, decoded: str
) -> None:
    verdict = evaluate(default_tree, corpus_facts(name), None)
    assert verdict.outcome == "badmail"
    assert [c.name for c in verdict.criteria] == ["filename"]
    evidence = verdict.criteria[0].evidence
    assert evidence.startswith(f'attachment.name "{decoded}" (part 2, Content-')
    assert " matched " in evidence


def test_default_list_catches_a_double_extension_even_without_its_exe_glob(tmp_path: Path) -> None:
    """The `*.exe` glob decides first in the default policy; the double-extension regex of the
    same list must catch the decoded name on its own too (.pdf.pif, say, is not all it sees)."""
    lines = (ROOT / "policies" / "lists" / "dangerous-names.txt").read_text().splitlines()
    (tmp_path / "double.txt").write_text(
        "\n".join(line for line in lines if line.startswith("/")) + "\n"
    )
    tree = compile_text(
        tmp_path,
        'list double from "double.txt"\n'
        + profile("  badmail double when any attachment.name matches list double"),
    )
    for name in (
        "double-ext-rfc2047-name",
        "double-ext-rfc2231-name",
        "rfc2047-split-name",
        "rfc2231-continuations",
    ):
        assert evaluate(tree, corpus_facts(name), None).outcome == "badmail", name


CLEAN_MESSAGES = sorted(path.stem for path in CORPUS.glob("clean-*.eml"))


@pytest.mark.parametrize("name", CLEAN_MESSAGES)
def test_default_policy_leaves_plain_mail_clean_in_any_charset(
    default_tree: DecisionTree, name: str
) -> None:
    verdict = evaluate(default_tree, corpus_facts(name), None)
    assert verdict.outcome == "clean"
    assert verdict.criteria == []
    assert verdict.exit_code == 0


def test_there_are_clean_messages_in_several_charsets() -> None:
    assert {
        "clean-koi8r",
        "clean-iso2022jp",
        "clean-latin1-qp",
        "clean-utf8-base64",
        "clean-windows1252-8bit",
        "clean-unknown-charset",
    } <= set(CLEAN_MESSAGES)


# ---- badmail: first match, cheap first, shared tests ----------------------------------------


def test_first_matching_rule_decides_and_later_rules_are_skipped_with_a_reason(
    tmp_path: Path,
) -> None:
    tree = compile_text(
        tmp_path,
        profile(
            '  badmail lunch when subject contains "Lunch"\n'
            '  badmail friday when subject contains "Lunch"  \n'
            '  badmail from_alice when header "From" contains "alice"'
        ),
    )
    verdict = evaluate(tree, facts_of(PLAIN), None)
    assert [c.name for c in verdict.criteria] == ["lunch"]
    assert step_for(verdict, "badmail friday") == [("skipped", "outcome known: 'lunch' matched")]
    assert step_for(verdict, "badmail from_alice") == [
        ("skipped", "outcome known: 'lunch' matched")
    ]


def test_a_sender_test_runs_before_an_attachment_type_test_written_before_it(
    tmp_path: Path,
) -> None:
    tree = compile_text(
        tmp_path,
        profile(
            '  badmail executable when any attachment.type matches "application/x-dosexec"\n'
            '  badmail blocked when sender is "alice@example.org"'
        ),
    )
    facts = facts_of(WITH_EXE)
    verdict = evaluate(tree, facts, None)
    assert [c.name for c in verdict.criteria] == ["blocked"]
    badmail_steps = [s.node for s in verdict.trace if s.node.startswith("badmail ")]
    assert badmail_steps == ["badmail blocked", "badmail executable"]
    assert step_for(verdict, "badmail executable")[0][0] == "skipped"
    assert "attachments" not in vars(facts), "the message was parsed for a sender rule"


def test_a_message_decided_by_its_sender_never_loads_libmagic(tmp_path: Path) -> None:
    policy = tmp_path / "policy.qmvc"
    policy.write_text(
        profile(
            '  badmail executable when any attachment.type matches "application/x-dosexec"\n'
            '  badmail blocked when sender is "alice@example.org"'
        )
    )
    program = (
        "import sys\n"
        "from pathlib import Path\n"
        "from qmvc.policy.policy import Policy\n"
        "from qmvc.engine.evaluate import evaluate\n"
        "from qmvc.message import Envelope, MessageFacts\n"
        f"tree = Policy.load(Path({str(policy)!r})).compile()\n"
        f"raw = Path({str(CORPUS / 'exe-declared-as-pdf.eml')!r}).read_bytes()\n"
        "envelope = Envelope.from_addresses('alice@example.org', 'bob@example.com')\n"
        "facts = MessageFacts(raw, envelope)\n"
        "print(evaluate(tree, facts, None).outcome, 'magic' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["badmail", "False"]


def test_the_same_test_in_two_rules_is_computed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = compile_text(
        tmp_path,
        profile(
            '  badmail from_bob when subject contains "Lunch" and header "From" contains "bob"\n'
            '  badmail from_carol when subject contains "Lunch" and header "From" contains "carol"'
        ),
    )
    reads: list[str] = []
    real_field_values = evaluate_module._field_values

    def counting(facts: MessageFacts, name: str, header: str) -> list[str]:
        reads.append(name)
        return real_field_values(facts, name, header)

    monkeypatch.setattr(evaluate_module, "_field_values", counting)
    verdict = evaluate(tree, facts_of(PLAIN), None)
    assert verdict.outcome == "clean"
    assert reads.count("subject") == 1
    subject_steps = step_for(verdict, 'subject contains "Lunch"')
    assert len(subject_steps) == 2
    assert subject_steps[1][1].startswith("(already tested)")
    first, again = [step for step in verdict.trace if step.node == 'subject contains "Lunch"']
    assert (again.result, again.depth, again.span) == ("true", first.depth, first.span)
    assert (first.result, first.depth) == ("true", 2) and first.span is not None


def test_a_test_found_false_is_false_again_where_it_is_used_again(tmp_path: Path) -> None:
    tree = compile_text(
        tmp_path,
        profile(
            '  badmail one when subject contains "Dinner" or header "From" contains "q"\n'
            '  badmail two when subject contains "Dinner" or header "From" contains "z"'
        ),
    )
    verdict = evaluate(tree, facts_of(PLAIN), None)
    assert [r for r, _ in step_for(verdict, 'subject contains "Dinner"')] == ["false", "false"]


def test_and_stops_at_the_first_false_operand(tmp_path: Path) -> None:
    tree = compile_text(
        tmp_path,
        profile(
            '  badmail both when any attachment.type matches "application/x-dosexec"'
            " and sender is empty"
        ),
    )
    facts = facts_of(WITH_EXE)
    verdict = evaluate(tree, facts, None)
    assert verdict.outcome == "clean"
    assert step_for(verdict, 'any attachment.type matches "application/x-dosexec"') == [
        ("skipped", "not needed: the result is known")
    ]
    assert "attachments" not in vars(facts)


def test_criterion_evidence_names_what_matched(tmp_path: Path) -> None:
    tree = compile_text(tmp_path, profile("  badmail lunch when subject matches /Lu.ch/"))
    verdict = evaluate(tree, facts_of(PLAIN), None)
    assert verdict.criteria[0].evidence == 'subject "Lunch" matched /Lu.ch/ at 0-5'
    assert verdict.criteria[0].span.line == 3


def test_evidence_shows_invisible_characters_by_their_code(tmp_path: Path) -> None:
    """An escape, a NEL (U+0085) and a line separator (U+2028) in a decoded subject: the
    evidence stays one readable line, each shown as \\x.. below 256 and \\u.... above."""
    tree = compile_text(tmp_path, profile("  badmail lunch when subject matches /Lu.ch/"))
    raw = b"Subject: =?utf-8?q?=1B=C2=85Lunch=E2=80=A8!?=\nFrom: alice@example.org\n\nhi\n"
    verdict = evaluate(tree, facts_of(raw), None)
    assert verdict.criteria[0].evidence == (
        'subject "\\x1b\\x85Lunch\\u2028!" matched /Lu.ch/ at 2-7'
    )


@pytest.mark.parametrize(
    ("actions", "exit_code"),
    [
        ('keep "quarantine/badmail"', 99),
        ('forward "security@example.net"', 99),
        ("deliver", 0),
        ('keep "quarantine/badmail"; deliver', 0),
        ("defer", 111),
        ('bounce "no lunch talk here"', 100),
        ('keep "quarantine/badmail"; bounce', 100),
    ],
)
def test_exit_code_is_what_the_outcomes_actions_tell_qmail(
    tmp_path: Path, actions: str, exit_code: int
) -> None:
    """99 handled (kept or forwarded, qmail stops), 0 delivered on, 111 deferred, 100 bounced;
    a keep beside a delivery or a bounce answers as that one does."""
    tree = compile_text(
        tmp_path,
        "profile only default {\n"
        '  badmail lunch when subject contains "Lunch"\n'
        f"  on badmail {{ {actions} }}\n"
        "}\n",
    )
    verdict = evaluate(tree, facts_of(PLAIN), None)
    assert verdict.outcome == "badmail"
    assert verdict.exit_code == exit_code


# ---- scanning --------------------------------------------------------------------------------


SCAN_POLICY = """  badmail blocked when sender is "spammer@example.net"
  scan first_engine, second_engine, third_engine {modifiers}"""


def scan_tree(tmp_path: Path, modifiers: str) -> DecisionTree:
    return compile_text(tmp_path, profile(SCAN_POLICY.format(modifiers=modifiers), SCANNERS))


def test_unless_badmail_skips_every_engine_naming_the_rule(tmp_path: Path) -> None:
    tree = scan_tree(tmp_path, "unless badmail")
    engines = provider(
        FakeScanner("first_engine", CLEAN),
        FakeScanner("second_engine", CLEAN),
        FakeScanner("third_engine", CLEAN),
    )
    verdict = evaluate(tree, facts_of(PLAIN, sender="spammer@example.net"), engines)
    assert verdict.outcome == "badmail"
    assert [(r.status, r.reason) for r in verdict.scanners] == [
        ("skipped", "unless badmail: 'blocked' matched")
    ] * 3
    assert engines.asked == []


def test_unless_badmail_scans_a_message_no_rule_matched(tmp_path: Path) -> None:
    tree = scan_tree(tmp_path, "unless badmail")
    engines = [FakeScanner(name, CLEAN) for name in ("first_engine", "second_engine")]
    verdict = evaluate(
        tree, facts_of(PLAIN), provider(*engines, FakeScanner("third_engine", INFECTED))
    )
    assert verdict.outcome == "virus"
    assert [(r.name, r.status, r.reason) for r in verdict.scanners] == [
        ("first_engine", "ran", ""),
        ("second_engine", "ran", ""),
        ("third_engine", "ran", ""),
    ]
    assert all(e.scanned == [PLAIN] for e in engines)


def test_without_unless_badmail_a_badmail_is_scanned_and_a_virus_wins(tmp_path: Path) -> None:
    tree = scan_tree(tmp_path, "first")
    first = FakeScanner("first_engine", INFECTED)
    verdict = evaluate(
        tree,
        facts_of(PLAIN, sender="spammer@example.net"),
        provider(first, FakeScanner("second_engine", CLEAN), FakeScanner("third_engine", CLEAN)),
    )
    assert verdict.outcome == "virus"
    assert [c.name for c in verdict.criteria] == ["blocked"]
    assert [(r.name, r.status, r.reason) for r in verdict.scanners] == [
        ("first_engine", "ran", ""),
        ("second_engine", "skipped", "'first_engine' already found a virus"),
        ("third_engine", "skipped", "'first_engine' already found a virus"),
    ]
    assert first.scanned == [PLAIN]


def test_first_stops_at_the_first_engine_that_finds_a_virus(tmp_path: Path) -> None:
    tree = scan_tree(tmp_path, "first")
    second, third = FakeScanner("second_engine", INFECTED), FakeScanner("third_engine", CLEAN)
    verdict = evaluate(
        tree, facts_of(PLAIN), provider(FakeScanner("first_engine", CLEAN), second, third)
    )
    assert verdict.outcome == "virus"
    assert [(r.name, r.status) for r in verdict.scanners] == [
        ("first_engine", "ran"),
        ("second_engine", "ran"),
        ("third_engine", "skipped"),
    ]
    assert verdict.scanners[1].viruses == ("Eicar-Test-Signature",)
    assert verdict.scanners[2].reason == "'second_engine' already found a virus"
    assert third.scanned == []


def test_all_runs_every_engine_even_after_a_virus(tmp_path: Path) -> None:
    tree = scan_tree(tmp_path, "all")
    engines = [
        FakeScanner("first_engine", INFECTED),
        FakeScanner("second_engine", CLEAN),
        FakeScanner("third_engine", ScanResult("infected", ("Other.Worm",))),
    ]
    verdict = evaluate(tree, facts_of(PLAIN), provider(*engines))
    assert verdict.outcome == "virus"
    assert [r.status for r in verdict.scanners] == ["ran", "ran", "ran"]
    assert [r.viruses for r in verdict.scanners] == [("Eicar-Test-Signature",), (), ("Other.Worm",)]
    assert all(e.scanned == [PLAIN] for e in engines)


def test_parallel_runs_every_engine_at_once(tmp_path: Path) -> None:
    """Each engine waits at a barrier that only opens when all three are scanning together."""
    tree = scan_tree(tmp_path, "parallel")
    barrier = threading.Barrier(3, timeout=5)
    engines = [
        FakeScanner(name, CLEAN, barrier=barrier)
        for name in ("first_engine", "second_engine", "third_engine")
    ]
    verdict = evaluate(tree, facts_of(PLAIN), provider(*engines))
    assert [(r.name, r.status) for r in verdict.scanners] == [
        ("first_engine", "ran"),
        ("second_engine", "ran"),
        ("third_engine", "ran"),
    ]
    assert verdict.outcome == "clean"


def test_parallel_does_not_wait_for_a_slow_engine_once_a_virus_is_found(tmp_path: Path) -> None:
    tree = scan_tree(tmp_path, "parallel")
    release = threading.Event()

    @dataclass
    class HangingScanner:
        name: str
        wants_parts: bool = False

        def scan(
            self,
            message: bytes,
            parts: Sequence[ScanPart],
            attachments: AttachmentParts = no_attachments,
        ) -> ScanResult:
            release.wait(timeout=30)
            return CLEAN

    try:
        started = time.monotonic()
        verdict = evaluate(
            tree,
            facts_of(PLAIN),
            provider(
                HangingScanner("first_engine"),  # type: ignore[arg-type]
                FakeScanner("second_engine", INFECTED),
                HangingScanner("third_engine"),  # type: ignore[arg-type]
            ),
        )
        assert time.monotonic() - started < 5
    finally:
        release.set()
    assert verdict.outcome == "virus"
    assert [(r.status, r.reason) for r in verdict.scanners] == [
        ("skipped", "another engine already found a virus"),
        ("ran", ""),
        ("skipped", "another engine already found a virus"),
    ]


def test_clean_from_every_engine_is_clean(tmp_path: Path) -> None:
    tree = scan_tree(tmp_path, "all")
    verdict = evaluate(
        tree,
        facts_of(PLAIN),
        provider(
            FakeScanner("first_engine", CLEAN),
            FakeScanner("second_engine", CLEAN),
            FakeScanner("third_engine", CLEAN),
        ),
    )
    assert verdict.outcome == "clean"
    assert verdict.exit_code == 0


@pytest.mark.parametrize("mode", ["first", "all", "parallel"])
def test_an_unavailable_engine_is_a_scanner_failure_never_clean(tmp_path: Path, mode: str) -> None:
    tree = scan_tree(tmp_path, mode)
    verdict = evaluate(
        tree,
        facts_of(PLAIN),
        provider(
            FakeScanner("first_engine", CLEAN),
            FakeScanner("third_engine", CLEAN),
            names=["second_engine"],
        ),
    )
    assert verdict.outcome == "scanner-failure"
    assert verdict.scanners[1].status == "unavailable"
    assert verdict.scanners[1].reason == "scanner not available here"
    assert verdict.exit_code == EXIT_DEFER


@pytest.mark.parametrize("mode", ["first", "all", "parallel"])
def test_a_failed_engine_is_a_scanner_failure_never_clean(tmp_path: Path, mode: str) -> None:
    tree = scan_tree(tmp_path, mode)
    verdict = evaluate(
        tree,
        facts_of(PLAIN),
        provider(
            FakeScanner("first_engine", CLEAN),
            FakeScanner("second_engine", FAILED),
            FakeScanner("third_engine", CLEAN),
        ),
    )
    assert verdict.outcome == "scanner-failure"
    assert (verdict.scanners[1].status, verdict.scanners[1].reason) == ("failed", "engine crashed")
    assert verdict.exit_code == EXIT_DEFER


def test_a_virus_found_by_one_engine_beats_another_engines_failure(tmp_path: Path) -> None:
    tree = scan_tree(tmp_path, "all")
    verdict = evaluate(
        tree,
        facts_of(PLAIN),
        provider(
            FakeScanner("first_engine", FAILED),
            FakeScanner("second_engine", INFECTED),
            FakeScanner("third_engine", CLEAN),
        ),
    )
    assert verdict.outcome == "virus"


def test_no_scan_skips_every_engine_and_calls_none(tmp_path: Path) -> None:
    tree = scan_tree(tmp_path, "first")
    verdict = evaluate(tree, facts_of(PLAIN), None)
    assert verdict.outcome == "clean"
    assert [(r.status, r.reason) for r in verdict.scanners] == [
        ("skipped", "scanning is off (--no-scan)")
    ] * 3


def test_engines_that_read_files_get_the_decoded_parts(tmp_path: Path) -> None:
    tree = compile_text(tmp_path, profile("  scan first_engine", SCANNERS))
    seen: list[list[str]] = []

    @dataclass
    class PartsScanner:
        name: str = "first_engine"
        wants_parts: bool = True

        def scan(
            self,
            message: bytes,
            parts: Sequence[ScanPart],
            attachments: AttachmentParts = no_attachments,
        ) -> ScanResult:
            seen.append([part.name for part in parts])
            return CLEAN

    evaluate(tree, corpus_facts("exe-declared-as-pdf"), lambda name: PartsScanner())
    assert seen == [["", "invoice.pdf"]]


def test_where_an_engine_found_each_virus_is_in_the_report_and_its_json(tmp_path: Path) -> None:
    tree = compile_text(tmp_path, profile("  scan first_engine", SCANNERS))
    located = ScanResult(
        "infected",
        ("Eicar-Test-Signature", "Other.Worm"),
        0.02,
        locations=(("Eicar-Test-Signature", "forwarded.eml › invoice.zip"),),
    )
    verdict = evaluate(tree, facts_of(PLAIN), provider(FakeScanner("first_engine", located)))
    [report] = verdict.scanners
    assert report.locations == (("Eicar-Test-Signature", "forwarded.eml › invoice.zip"),)
    assert verdict.to_json()["scanners"][0]["locations"] == [
        ["Eicar-Test-Signature", "forwarded.eml › invoice.zip"]
    ]


def test_an_engine_that_parses_mime_itself_is_offered_the_attachments_lazily(
    tmp_path: Path,
) -> None:
    tree = compile_text(tmp_path, profile("  scan first_engine", SCANNERS))
    offered: list[list[str]] = []

    @dataclass
    class LocatingScanner:
        name: str = "first_engine"
        wants_parts: bool = False

        def scan(
            self,
            message: bytes,
            parts: Sequence[ScanPart],
            attachments: AttachmentParts = no_attachments,
        ) -> ScanResult:
            offered.append([part.location for part in attachments()])
            return CLEAN

    evaluate(tree, corpus_facts("exe-declared-as-pdf"), lambda name: LocatingScanner())
    assert offered == [["invoice.pdf"]]


# ---- hostile input ---------------------------------------------------------------------------


MIME_FRAGMENTS = [
    b"Content-Type: multipart/mixed; boundary=b\n",
    b"Content-Type: message/rfc822\n",
    b"Content-Type: text/html; charset=koi8-r\n",
    b"Content-Type: text/plain; charset=base64\n",
    b"Content-Disposition: attachment; filename*0*=UTF-8''%E2%82; filename*1=x.exe\n",
    b'Content-Type: application/pdf; name="=?utf-8?B?w6Q=?= =?utf-8?Q?=C3?=.pdf"\n',
    b"Content-Transfer-Encoding: base64\n",
    b"Content-Transfer-Encoding: quoted-printable\n",
    b"Content-Transfer-Encoding: x-uuencode\n",
    b"begin 644 a.exe\n",
    b"end\n",
    b"Subject: =?iso-2022-jp?B?GyRCMnE1RBsoQg==?=\n",
    b"--b\n",
    b"--b--\n",
    b"\n",
    b"\r\n",
    b"TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAA\n",
    b"=E2=82=AC=\n",
    b"<p>&amp;&#x20AC;</p>\n",
    b"\x00",
    b"\xff\xfe",
    b"MZ\x90\x00",
    b" folded\n",
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=st.one_of(
        st.binary(max_size=4096),
        st.lists(st.sampled_from(MIME_FRAGMENTS) | st.binary(max_size=16), max_size=60).map(
            b"".join
        ),
    )
)
def test_any_bytes_give_a_verdict_under_the_default_policy(raw: bytes) -> None:
    verdict = evaluate(shipped_tree(), facts_of(raw), None)
    assert verdict.outcome in OUTCOMES
    assert verdict.trace[0].node == "profile standard"
    verdict.to_json()
