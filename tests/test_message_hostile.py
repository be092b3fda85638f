"""Hostile input never hurts: facts still come, defects say what was wrong, limits hold."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from qmvc.message import Envelope, MessageFacts
from qmvc.message.mime import MAX_DEFECTS, MAX_PARTS
from tests.corpus import make_corpus

ROOT = Path(__file__).resolve().parent.parent
ENVELOPE = Envelope.from_addresses("a@example.org", "b@example.com")
PE = {"application/vnd.microsoft.portable-executable", "application/x-dosexec"}


def every_fact(raw: bytes) -> MessageFacts:
    """Asks for every fact, so any exception anywhere in the analysis fails the test."""
    facts = MessageFacts(raw, ENVELOPE)
    assert isinstance(facts.subject, str) and isinstance(facts.message_id, str)
    assert isinstance(facts.header("content-type"), list)
    assert isinstance(facts.body_text, str)
    for attachment in facts.attachments:
        assert attachment.size == len(attachment.content)
        assert "/" in attachment.sniffed_type
        assert not set(attachment.filename) & {"\r", "\n", "\0"}
    assert len(facts.scan_parts()) >= len(facts.attachments)
    assert len(facts.defects) <= MAX_DEFECTS + 1
    return facts


@pytest.mark.parametrize("entry", make_corpus.CORPUS, ids=lambda entry: entry.name)
def test_every_corpus_message_yields_every_fact(entry: make_corpus.Entry) -> None:
    every_fact(entry.build())


def test_nesting_a_thousand_levels_deep_stops_at_the_depth_limit() -> None:
    raw = (make_corpus.envelope_headers("Deeper") + make_corpus.nested_multiparts(1000)).encode()
    facts = every_fact(raw)
    assert facts.subject == "Deeper"
    assert [u.split(": ", 1)[1] for u in facts.unanalysed] == [
        "nested deeper than 20 levels; inner parts not analysed"
    ]


def test_executable_below_the_depth_limit_is_still_found() -> None:
    facts = every_fact(make_corpus.deep_rfc822_with_exe(20))
    assert [(a.filename, a.depth) for a in facts.attachments] == [("deep.exe", 20)]
    assert facts.attachments[0].sniffed_type in PE


def test_executable_past_the_depth_limit_is_left_out_with_a_defect() -> None:
    facts = every_fact(make_corpus.deep_rfc822_with_exe(21))
    assert facts.attachments == []
    assert any("nested deeper than 20" in defect for defect in facts.defects)


def test_parts_past_the_limit_are_not_analysed() -> None:
    facts = every_fact((Path(make_corpus.__file__).parent / "hostile-10000-parts.eml").read_bytes())
    assert len(facts.scan_parts()) < MAX_PARTS


def test_quadratic_parameter_header_is_cut() -> None:
    started = time.perf_counter()
    facts = every_fact(make_corpus.huge_header())
    assert time.perf_counter() - started < 2
    assert facts.body_text == "Small body.\n"


def test_many_defects_are_summarised() -> None:
    parts = "".join(
        f"--b\nContent-Transfer-Encoding: base64\n\n!{n}\n" for n in range(MAX_DEFECTS + 50)
    )
    raw = f'Content-Type: multipart/mixed; boundary="b"\n\n{parts}--b--\n'.encode()
    defects = every_fact(raw).defects
    assert len(defects) == MAX_DEFECTS + 1
    assert defects[-1].endswith("more defects not listed")


def test_nul_bytes_in_a_name_are_dropped() -> None:
    raw = make_corpus.with_attachment(
        "Nul", make_corpus.binary_attachment("application/pdf", 'filename="a\0b.exe"', b"x")
    )
    assert [a.filename for a in every_fact(raw).attachments] == ["ab.exe"]


MEMORY_PROBE = """
import re, sys, time
from qmvc.message import Envelope, MessageFacts
raw = open(sys.argv[1], "rb").read()
started = time.perf_counter()
facts = MessageFacts(raw, Envelope.from_addresses("a@b", "c@d"))
sniffed = [a.sniffed_type for a in facts.attachments]
assert facts.defects == [] and "please find" in facts.body_text
parts = facts.scan_parts()
peak_kb = re.search(r"VmHWM:\\s*(\\d+)", open("/proc/self/status").read()).group(1)
print(int(peak_kb) * 1024, time.perf_counter() - started, *sniffed)
"""


def test_fifty_megabyte_attachment_stays_within_four_times_its_size(tmp_path: Path) -> None:
    """Peak resident memory of a fresh process (VmHWM: ru_maxrss would include pytest's own
    memory, inherited through vfork and exec)."""
    message = tmp_path / "big.eml"
    message.write_bytes(make_corpus.LARGE["hostile-50mb-attachment.eml"]())
    size = message.stat().st_size
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(message)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    peak, seconds, sniffed = result.stdout.split()
    assert size > 50_000_000
    assert int(peak) < 4 * size + 60_000_000
    assert sniffed in PE
    assert float(seconds) < 30
