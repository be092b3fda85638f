"""No message, however broken, makes the analysis or the evaluation raise.

Corpus messages are mutated by hypothesis (bytes flipped, hostile fragments inserted, cut
short, wrapped in deep nesting) and every fact is read, then the shipped default policy judges
the message with scanning off: no exception may escape, and the verdict is one of the
outcomes qmail can be answered with. Then one test for each crash seen in real mail.
"""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmvc.engine.evaluate import evaluate
from qmvc.engine.tree import DecisionTree
from qmvc.engine.verdict import Outcome, Verdict
from qmvc.message import Envelope, MessageFacts
from qmvc.policy.policy import Policy
from tests.corpus import make_corpus

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(make_corpus.__file__).parent
ENVELOPE = Envelope.from_addresses(make_corpus.SENDER, make_corpus.RECIPIENT)
BOUNCE_ENVELOPE = Envelope.from_addresses("", make_corpus.RECIPIENT)
OUTCOMES = set(get_args(Outcome))
EXIT_CODES = {0, 99, 100, 111}
BASE_LIMIT = 64 * 1024
"""Corpus messages up to this size are mutated; larger ones add time, not shapes."""

FRAGMENTS = [
    b"filename*=",
    b"filename*0*=",
    b"filename*1=",
    b"name*=utf\0-8''x.exe",
    b"%",
    b"%G",
    b"\0",
    b"=?utf-8?",
    b"=?utf-8?B?",
    b"=?x-unknown?Q?=FF?=",
    b"=?idna?Q?x?=",
    b"begin 644 ",
    b"\nbegin 644 x.exe\nM\n",
    b"=ybegin ",
    b"\n=ybegin line=128 size=99 name=y.exe\n",
    b"\n--",
    b'boundary="',
    b"boundary=",
    b"\nContent-Type: message/rfc822\n\n",
    b"\nContent-Type: message/delivery-status\n\nStatus: 5.1.1\nDiagnostic: \xe4\xf6\xfc\n",
    b"\nContent-Type: multipart/mixed; boundary=x\n\n--x\n",
    b"\nContent-Transfer-Encoding: base64\n",
    b"\nContent-Transfer-Encoding: x-uuencode\n",
    b"\nContent-Type: application/ms-tnef\nContent-Transfer-Encoding: base64\n\neJ8+Ig==\n",
    b"\nContent-Disposition: attachment; filename*0*=x'y'%E4; filename*1=\".exe\"\n",
    b"charset=base64",
    b"charset=idna",
    b"\xff\xfe",
    b"\xe4\xf6\xfc",
    b"\r",
    b"\r\r",
    b"\n\n",
    b"\n \n",
    b":",
    b";",
    b'"',
    b"\\",
]


def corpus_bases() -> list[bytes]:
    paths = sorted(CORPUS.glob("*.eml")) + sorted(CORPUS.glob("attacks/*.eml"))
    return [path.read_bytes() for path in paths if path.stat().st_size <= BASE_LIMIT]


BASES = corpus_bases()


@pytest.fixture(scope="module")
def default_tree() -> DecisionTree:
    return Policy.load(ROOT / "policies" / "default.qmvc").compile()


def read_every_fact(facts: MessageFacts) -> None:
    """Ask for everything a rule, explain, a scanner or a log line may ask for."""
    assert isinstance(facts.subject, str)
    assert isinstance(facts.message_id, str)
    for name in ("from", "to", "content-type", "x-absent"):
        assert all(isinstance(value, str) for value in facts.header(name))
    assert isinstance(facts.body_text, str)
    for part in facts.parts:
        assert isinstance(part.path, str) and isinstance(part.declared_type, str)
        assert isinstance(part.filename, str) and isinstance(part.is_body, bool)
        for candidate in part.names:
            assert isinstance(candidate.raw, str) and isinstance(candidate.name, str)
            assert isinstance(candidate.source, str)
        assert isinstance(part.content, bytes)
        assert part.size == len(part.content)
    for attachment in facts.attachments:
        assert not attachment.is_body
        assert isinstance(attachment.sniffed_type, str)
    assert all(isinstance(defect, str) for defect in facts.defects)
    assert all(isinstance(reason, str) for reason in facts.unanalysed)
    for scanned in facts.scan_parts():
        assert isinstance(scanned.content, bytes)


def judged(tree: DecisionTree, raw: bytes, envelope: Envelope = ENVELOPE) -> Verdict:
    """Every fact read, then the verdict of the default policy with scanning off, on fresh facts:
    the evaluator asks for facts lazily and in its own order, which may take other paths."""
    read_every_fact(MessageFacts(raw, envelope))
    verdict = evaluate(tree, MessageFacts(raw, envelope), None)
    assert verdict.outcome in OUTCOMES
    assert verdict.exit_code in EXIT_CODES
    return verdict


# ---- hypothesis: mutated corpus messages ----------------------------------------------------

Edit = tuple[str, float, int]


def edits() -> st.SearchStrategy[list[Edit]]:
    """Edits at relative positions (0..1 of the message as it is by then)."""
    where = st.floats(0, 1)
    one = st.one_of(
        st.tuples(st.just("flip"), where, st.integers(0, 255)),
        st.tuples(st.just("insert"), where, st.integers(0, len(FRAGMENTS) - 1)),
        st.tuples(st.just("delete"), where, st.integers(1, 64)),
        st.tuples(st.just("truncate"), where, st.just(0)),
        st.tuples(st.just("nest multipart"), where, st.integers(1, 40)),
        st.tuples(st.just("nest message"), where, st.integers(1, 40)),
    )
    return st.lists(one, min_size=1, max_size=6)


def edited(raw: bytes, changes: list[Edit]) -> bytes:
    for kind, position, amount in changes:
        at = int(position * len(raw))
        if kind == "flip" and raw:
            at = min(at, len(raw) - 1)
            raw = raw[:at] + bytes([raw[at] ^ (amount or 1)]) + raw[at + 1 :]
        elif kind == "insert":
            raw = raw[:at] + FRAGMENTS[amount] + raw[at:]
        elif kind == "delete":
            raw = raw[:at] + raw[at + amount :]
        elif kind == "truncate":
            raw = raw[:at]
        elif kind == "nest multipart":
            for level in range(amount):
                boundary = f"nest{level}".encode()
                raw = (
                    b'Content-Type: multipart/mixed; boundary="'
                    + boundary
                    + b'"\n\n--'
                    + boundary
                    + b"\n"
                    + raw
                    + b"\n--"
                    + boundary
                    + b"--\n"
                )
        elif kind == "nest message":
            for _ in range(amount):
                raw = b"Subject: nested\nContent-Type: message/rfc822\n\n" + raw
    return raw


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(base=st.sampled_from(BASES), changes=edits())
def test_no_mutated_message_makes_analysis_or_evaluation_raise(
    base: bytes, changes: list[Edit], default_tree: DecisionTree
) -> None:
    judged(default_tree, edited(base, changes))


@settings(max_examples=100, deadline=None)
@given(raw=st.binary(max_size=2048))
def test_no_random_bytes_make_analysis_or_evaluation_raise(
    raw: bytes, default_tree: DecisionTree
) -> None:
    judged(default_tree, raw)


# ---- the crashes seen in real mail ----------------------------------------------------------

GERMAN_DIAGNOSTIC = "Empfänger unbekannt: Postfach existiert nicht"


def bounce_with_8bit_delivery_status() -> bytes:
    """A German MTA's bounce: its delivery-status block carries a raw Latin-1 diagnostic."""
    headers = make_corpus.envelope_headers(
        "Unzustellbar",
        sender="",
        extra='Content-Type: multipart/report; report-type=delivery-status; boundary="r"\n',
    )
    status = (
        "Reporting-MTA: dns; mx.example.de\n\n"
        "Final-Recipient: rfc822; niemand@example.de\nAction: failed\nStatus: 5.1.1\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 {GERMAN_DIAGNOSTIC}\n"
    )
    return (
        (
            headers + "\n--r\nContent-Type: text/plain; charset=us-ascii\n\nDelivery failed.\n"
        ).encode()
        + b"--r\nContent-Type: message/delivery-status\n\n"
        + status.encode("latin-1")
        + b"--r\nContent-Type: text/rfc822-headers\n\nSubject: hello\n\n--r--\n"
    )


def test_8bit_latin1_in_delivery_status_is_analysed_read_as_text_and_clean(
    default_tree: DecisionTree,
) -> None:
    raw = bounce_with_8bit_delivery_status()
    assert "ä".encode("latin-1") in raw
    facts = MessageFacts(raw, BOUNCE_ENVELOPE)
    assert facts.unanalysed == []
    assert GERMAN_DIAGNOSTIC in facts.body_text
    assert judged(default_tree, raw, BOUNCE_ENVELOPE).outcome == "clean"


def attachment_named(disposition: str) -> bytes:
    return make_corpus.with_attachment(
        "Invoice",
        make_corpus.binary_attachment(
            "application/octet-stream", disposition, make_corpus.tiny_pdf()
        ),
    )


def candidate_names(raw: bytes) -> set[str]:
    return {c.name for part in MessageFacts(raw, ENVELOPE).attachments for c in part.names}


def test_nul_in_rfc2231_charset_is_analysed_and_the_name_still_judged(
    default_tree: DecisionTree,
) -> None:
    raw = attachment_named("filename*=utf\0-8''invoice.exe")
    assert "invoice.exe" in candidate_names(raw)
    verdict = judged(default_tree, raw)
    assert (verdict.outcome, [c.name for c in verdict.criteria]) == ("badmail", ["filename"])


def test_filename_star_mixed_with_filename_star0_keeps_every_name(
    default_tree: DecisionTree,
) -> None:
    raw = attachment_named(
        'filename*=UTF-8\'\'harmless.txt; filename*0="invoice"; filename*1=".exe"'
    )
    assert {"harmless.txt", "invoice.exe"} <= candidate_names(raw)
    verdict = judged(default_tree, raw)
    assert (verdict.outcome, [c.name for c in verdict.criteria]) == ("badmail", ["filename"])
