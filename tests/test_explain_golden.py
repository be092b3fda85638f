"""Golden files for `qmvc explain`: what an admin sees for every corpus message, text and JSON.

Each case runs the real command in a subprocess with `--no-scan`, the repository root as cwd
and relative policy paths, so spans in the output are stable. Two policies: the shipped
default (goldens in tests/explain/) and tests/explain/policy.qmvc, which has one rule per
criterion kind (goldens in tests/explain/every/). Messages too large to commit are built at
test time by the corpus generator. `QMVC_UPDATE_GOLDEN=1` rewrites the goldens; review the
diff by eye before committing it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.corpus import make_corpus

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
GOLDEN = ROOT / "tests" / "explain"
UPDATE = os.environ.get("QMVC_UPDATE_GOLDEN") == "1"

POLICIES = {"default": "policies/default.qmvc", "every": "tests/explain/policy.qmvc"}
GOLDEN_DIRS = {"default": GOLDEN, "every": GOLDEN / "every"}
ENVELOPE = ("--sender", "alice@example.org", "--recipient", "bob@example.com")
"""For messages without the Return-Path and Delivered-To lines qmail writes (they have no
address header at all); the others are explained with the envelope explain assumes from
those headers, as an admin would run it. Either way the golden's first lines say which."""


LARGE_NAMES = sorted(make_corpus.LARGE)
MESSAGES = sorted(path.name for path in CORPUS.glob("*.eml")) + LARGE_NAMES


@dataclass(frozen=True)
class Case:
    policy: str
    message: str
    format: str

    @property
    def golden(self) -> Path:
        return GOLDEN_DIRS[self.policy] / f"{Path(self.message).stem}.{self.format}"

    def __str__(self) -> str:
        return f"{self.policy}-{Path(self.message).stem}-{self.format}"


CASES = [
    Case(policy, message, output_format)
    for policy in POLICIES
    for message in MESSAGES
    for output_format in ("txt", "json")
]


@pytest.fixture(scope="module")
def large_messages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("large-corpus")
    built = {}
    for name, build in make_corpus.LARGE.items():
        built[name] = directory / name
        built[name].write_bytes(build())
    return built


def _explain(case: Case, large_messages: dict[str, Path]) -> subprocess.CompletedProcess[bytes]:
    path = large_messages.get(case.message) or CORPUS / case.message
    with path.open("rb") as message:
        has_envelope = message.read(12) == b"Return-Path:"
    command = [
        sys.executable,
        "-m",
        "qmvc.cli",
        "explain",
        "--no-scan",
        "--policy",
        POLICIES[case.policy],
        "--format",
        "json" if case.format == "json" else "text",
        *(() if has_envelope else ENVELOPE),
        os.path.relpath(path, ROOT),
    ]
    environment = {key: value for key, value in os.environ.items() if not key.startswith("QMVC_")}
    return subprocess.run(command, cwd=ROOT, capture_output=True, env=environment, timeout=120)


@pytest.fixture(scope="module")
def outputs(large_messages: dict[str, Path]) -> dict[Case, subprocess.CompletedProcess[bytes]]:
    """Every case at once, on every core: 240 interpreter start-ups one after another are slow."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(
            zip(CASES, pool.map(lambda case: _explain(case, large_messages), CASES), strict=True)
        )


@pytest.mark.parametrize("case", CASES, ids=str)
def test_explain_output_matches_golden(
    case: Case, outputs: dict[Case, subprocess.CompletedProcess[bytes]]
) -> None:
    result = outputs[case]
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stderr == b""
    produced = result.stdout.decode("utf-8")
    if UPDATE:
        case.golden.parent.mkdir(parents=True, exist_ok=True)
        case.golden.write_text(produced, encoding="utf-8")
    assert produced == case.golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: Path(m).stem)
@pytest.mark.parametrize("policy", POLICIES)
def test_text_and_json_goldens_tell_the_same_verdict(policy: str, message: str) -> None:
    """The two forms are generated together; this keeps a hand edit of one from drifting."""
    text_golden = Case(policy, message, "txt").golden.read_text(encoding="utf-8")
    verdict = json.loads(Case(policy, message, "json").golden.read_text(encoding="utf-8"))
    assert list(verdict) == [
        "outcome",
        "profile",
        "exit_code",
        "criteria",
        "scanners",
        "actions",
        "trace",
        "bombing",
        "envelope",
    ]
    sender_line, recipient_line, verdict_line = text_golden.splitlines()[:3]
    for line, role, absent in (
        (sender_line, "sender", "<>"),
        (recipient_line, "recipient", "none"),
    ):
        source = verdict["envelope"][role]["source"]
        assert f"{role} {verdict['envelope'][role]['address'] or absent} (" in line
        assert (f"given by --{role}" if source == "option" else f"from the {source} header") in line
    assert verdict_line.startswith(
        f"verdict: {verdict['outcome']}   profile: {verdict['profile']}   "
        f"qmail exit: {verdict['exit_code']}"
    )
    for criterion in verdict["criteria"]:
        assert f"badmail: {criterion['name']}: {criterion['evidence']}\n" in text_golden


EXPECTED_CRITERIA = {
    "default": {
        "double-ext-plain-name": "filename",
        "double-ext-rfc2047-name": "filename",
        "double-ext-rfc2231-name": "filename",
        "eicar-attachment": "filename",
        "exe-declared-as-pdf": "filetype",
        "exe-declared-as-text": "filetype",
        "exe-no-name-octet-stream": "filetype",
        "exe-uuencoded": "filename",
        "hostile-10000-parts": "unanalysable",
        "hostile-50mb-attachment": "filetype",
        "hostile-deep-nesting-100": "unanalysable",
        "hostile-deep-rfc822-nesting": "unanalysable",
        "hostile-rtlo-name": "filename",
        "hostile-unterminated": "filename",
        "name-only-in-content-type": "filename",
        "nested-rfc822-with-exe": "filename",
        "rfc2047-split-name": "filename",
        "rfc2231-continuations": "filename",
        "sample-exe-attachment": "filetype",
        "script-js-attachment": "filename",
        "script-pif-attachment": "filename",
        "script-scr-attachment": "filename",
        "script-vbs-attachment": "filename",
    },
    "every": {
        "body-phrase": "phrase",
        "body-phrase-in-html": "phrase",
        "clean-crlf-line-endings": "windows_subject",
        "clean-forwarded-message": "tiny_attachments",
        "clean-iso2022jp": "meeting_subject",
        "clean-latin1-qp": "greeting_subject",
        "clean-text-attachment": "tiny_attachments",
        "double-ext-plain-name": "double_extension",
        "double-ext-rfc2047-name": "double_extension",
        "double-ext-rfc2231-name": "double_extension",
        "exe-declared-as-pdf": "executable",
        "exe-declared-as-text": "large_text_file",
        "exe-no-name-octet-stream": "unnamed_executable",
        "exe-uuencoded": "exe_name",
        "hostile-10000-parts": "defects",
        "hostile-50mb-attachment": "big_message",
        "hostile-boundary-not-found": "defects",
        "hostile-deep-nesting-100": "defects",
        "hostile-deep-rfc822-nesting": "defects",
        "hostile-invalid-base64": "defects",
        "hostile-long-line": "big_message",
        "hostile-missing-boundary": "defects",
        "hostile-nul-bytes": "defects",
        "hostile-random-bytes": "defects",
        "hostile-rtlo-name": "exe_name",
        "hostile-unterminated": "defects",
        "name-only-in-content-type": "exe_name",
        "nested-rfc822-with-exe": "exe_name",
        "null-sender-bounce": "bounce",
        "rfc2047-split-name": "double_extension",
        "rfc2231-continuations": "double_extension",
        "sample-exe-attachment": "executable",
        "script-js-attachment": "script_name",
        "script-pif-attachment": "script_name",
        "script-scr-attachment": "script_name",
        "script-vbs-attachment": "script_name",
        "subject-broken-encoding": "broken_subject",
        "subject-rfc2047": "order_subject",
    },
}
"""The badmail criterion each message is meant to show; every message not named is clean (no
scanner runs here). This is the review of the goldens, written down."""


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: Path(m).stem)
@pytest.mark.parametrize("policy", POLICIES)
def test_each_message_meets_the_criterion_it_shows(policy: str, message: str) -> None:
    verdict = json.loads(Case(policy, message, "json").golden.read_text(encoding="utf-8"))
    expected = EXPECTED_CRITERIA[policy].get(Path(message).stem)
    assert [c["name"] for c in verdict["criteria"]] == ([expected] if expected else [])
    assert verdict["outcome"] == ("badmail" if expected else "clean")


def test_every_rule_of_the_test_policy_fires_on_some_message() -> None:
    rules = set(re.findall(r"^\s*badmail (\w+) when", (GOLDEN / "policy.qmvc").read_text(), re.M))
    assert rules == set(EXPECTED_CRITERIA["every"].values())


def test_corpus_has_at_least_forty_messages() -> None:
    assert len(MESSAGES) >= 40


# ---- policy banks: selectors and bypasses, under policies/banks.qmvc ----

BANKS = GOLDEN / "banks"
BANKS_CASES = [
    (path.name, output_format)
    for path in sorted(BANKS.glob("*.eml"))
    for output_format in ("txt", "json")
]
BANKS_EXPECTED = {
    "abuse-desk-from-inside": ("abuse", "clean", "bypass scan", "internal"),
    "partner-from-its-servers": ("inbound", "clean", "bypass badmail", ""),
    "partner-forged-below": ("inbound", "badmail", "", ""),
}
"""Per message: the profile, the outcome, the bypass that applies and the less specific
profile also met ("" for none). The review of the goldens, written down."""


@pytest.mark.parametrize(("message", "output_format"), BANKS_CASES, ids=str)
def test_explain_of_selectors_and_bypasses_matches_golden(message: str, output_format: str) -> None:
    command = [
        sys.executable,
        "-m",
        "qmvc.cli",
        "explain",
        "--no-scan",
        "--policy",
        "policies/banks.qmvc",
        "--format",
        "json" if output_format == "json" else "text",
        os.path.relpath(BANKS / message, ROOT),
    ]
    environment = {key: value for key, value in os.environ.items() if not key.startswith("QMVC_")}
    result = subprocess.run(command, cwd=ROOT, capture_output=True, env=environment, timeout=120)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    golden = BANKS / f"{Path(message).stem}.{output_format}"
    produced = result.stdout.decode("utf-8")
    if UPDATE:
        golden.write_text(produced, encoding="utf-8")
    assert produced == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("stem", sorted(BANKS_EXPECTED))
def test_banks_goldens_show_the_profile_and_bypass_meant(stem: str) -> None:
    profile, outcome, bypass, also_met = BANKS_EXPECTED[stem]
    verdict = json.loads((BANKS / f"{stem}.json").read_text(encoding="utf-8"))
    assert (verdict["profile"], verdict["outcome"]) == (profile, outcome)
    applied = [
        step["node"]
        for step in verdict["trace"]
        if step["depth"] == 0 and step["node"].startswith("bypass") and step["result"] == "true"
    ]
    assert applied == ([bypass] if bypass else [])
    others = [s["node"] for s in verdict["trace"] if "also met" in s["detail"]]
    assert [o.split(" (")[0] for o in others] == ([f"profile {also_met}"] if also_met else [])
