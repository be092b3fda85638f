"""Facts cost nothing until asked for, and each is computed once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qmvc.message import Envelope, MessageFacts, mime
from qmvc.message.facts import HEADERS_ALONE_ABOVE
from tests.corpus import make_corpus

SAMPLE = (Path(make_corpus.__file__).parent / "sample-exe-attachment.eml").read_bytes()
ENVELOPE = Envelope.from_addresses("billing@example-supplies.test", "bob@example.com")
HEAVY = ("magic", "email.policy", "lark", "rich", "jinja2", "html.parser")


@pytest.fixture
def analyses(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Records every full MIME analysis."""
    calls: list[bytes] = []
    real = mime.analyse

    def counting(raw: bytes) -> mime.MimeTree:
        calls.append(raw)
        return real(raw)

    monkeypatch.setattr(mime, "analyse", counting)
    return calls


def loaded_after(code: str) -> set[str]:
    """The heavy modules a fresh interpreter has loaded after running `code`."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return set(result.stdout.split())


def test_envelope_and_size_do_not_parse(analyses: list[bytes]) -> None:
    facts = MessageFacts(SAMPLE, ENVELOPE)
    assert (facts.envelope, facts.size) == (ENVELOPE, len(SAMPLE))
    assert analyses == []


def test_headers_of_a_large_message_are_read_without_analysing_the_body(
    analyses: list[bytes],
) -> None:
    large = SAMPLE + b"x" * HEADERS_ALONE_ABOVE
    facts = MessageFacts(large, ENVELOPE)
    assert facts.subject.startswith("Rechnung")
    assert facts.header("from")
    assert analyses == []


@pytest.mark.parametrize("size", [len(SAMPLE), len(SAMPLE) + HEADERS_ALONE_ABOVE])
def test_an_mbox_from_line_hides_no_header_of_a_large_message_either(size: int) -> None:
    """A message saved from an mbox starts with "From sender date": the header-only read
    skips that line as the full analysis does, so the headers below it are still seen."""
    message = b"From alice@example.org Thu Nov 26 14:00:00 2026\n" + SAMPLE
    message += b"x" * (size - len(SAMPLE))
    facts = MessageFacts(message, ENVELOPE)
    assert facts.subject.startswith("Rechnung")
    assert facts.header("from") == MessageFacts(SAMPLE, ENVELOPE).header("from")


def test_headers_of_a_small_message_come_from_the_one_analysis(analyses: list[bytes]) -> None:
    facts = MessageFacts(SAMPLE, ENVELOPE)
    assert facts.subject.startswith("Rechnung")
    assert facts.body_text.startswith("Dear customer")
    assert len(analyses) == 1


def test_every_body_fact_shares_one_analysis(analyses: list[bytes]) -> None:
    facts = MessageFacts(SAMPLE, ENVELOPE)
    assert facts.body_text and facts.attachments and facts.scan_parts()
    assert facts.defects == [] and facts.subject
    assert len(analyses) == 1


def test_facts_are_computed_once() -> None:
    facts = MessageFacts(SAMPLE, ENVELOPE)
    assert facts.attachments is facts.attachments
    assert facts.body_text is facts.body_text
    assert facts.attachments[0].content is facts.scan_parts()[-1].content


def test_importing_facts_loads_nothing_heavy() -> None:
    assert loaded_after("import qmvc.message.facts") == set()


def test_names_and_declared_types_do_not_load_libmagic() -> None:
    code = (
        "from qmvc.message import MessageFacts, Envelope\n"
        "f = MessageFacts(open('tests/corpus/exe-declared-as-pdf.eml', 'rb').read(),"
        " Envelope.from_addresses('a@b', 'c@d'))\n"
        "assert [(a.filename, a.declared_type, a.size) for a in f.attachments]\n"
        "assert f.body_text and f.defects == []\n"
    )
    assert loaded_after(code) == set()


def test_sniffed_type_loads_libmagic() -> None:
    code = (
        "from qmvc.message import MessageFacts, Envelope\n"
        "f = MessageFacts(open('tests/corpus/exe-declared-as-pdf.eml', 'rb').read(),"
        " Envelope.from_addresses('a@b', 'c@d'))\n"
        "assert f.attachments[0].sniffed_type\n"
    )
    assert loaded_after(code) == {"magic"}
