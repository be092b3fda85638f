"""The evidence and trace the evaluator writes for explain, field by field: what each test
read (recipient, sender domain, header, body, attachment names and types, sizes), how many
values it shows, where in the policy each step is, and what each scanner step says.

explain prints these strings as they are; an admin reads them to learn why a message was
kept, so their wording is the contract here. Scanners are `Scanner` protocol objects as in
tests/test_evaluate.py (the protocol is the evaluator's whole view of an engine)."""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path

import pytest

from qmvc.engine.evaluate import EVIDENCE_LIMIT, evaluate
from qmvc.engine.verdict import Verdict
from qmvc.message import Envelope, MessageFacts
from qmvc.policy.diagnostics import PolicyError
from qmvc.policy.policy import Policy
from qmvc.scanners.base import Scanner, ScanResult
from tests.test_evaluate import FakeScanner

MZ = b"MZ\x90\x00" + bytes(200)
PLAIN = (
    b"Subject: Lunch\nX-Mailer: BulkMailer 2\nFrom: alice@example.org\n\n"
    b"kindly check the LOVELETTER\n"
)


def zip_of(*members: tuple[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in members:
            archive.writestr(name, content)
    return out.getvalue()


def with_attachments(*parts: tuple[str, bytes], headers: bytes = b"Subject: files\n") -> bytes:
    """A multipart/mixed message: a text body, then each (Content-Type value, content)."""
    lines = [
        headers + b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=B\n\n"
        b"--B\nContent-Type: text/plain\n\nhello\n"
    ]
    for content_type, content in parts:
        lines.append(
            b"--B\nContent-Type: " + content_type.encode() + b"\n"
            b"Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(content)
        )
    return b"".join(lines) + b"--B--\n"


def verdict_of(
    tmp_path: Path,
    rules: str,
    raw: bytes,
    *,
    sender: str = "alice@example.org",
    recipient: str = "bob@example.com",
    scanners: dict[str, Scanner | None] | None = None,
    declarations: str = "",
) -> Verdict:
    """Line 1 of the policy is `profile`; `rules` start on line 2."""
    policy = tmp_path / "policy.qmvc"
    policy.write_text(
        f"profile only default {{\n{rules}\n"
        '  on virus { keep "quarantine/virus" }\n'
        '  on badmail { keep "quarantine/badmail"; notify recipient }\n'
        "}\n" + declarations,
        encoding="utf-8",
    )
    facts = MessageFacts(raw, Envelope.from_addresses(sender, recipient))
    provide = None if scanners is None else scanners.__getitem__
    return evaluate(Policy.load(policy).compile(), facts, provide)


def rule_evidence(verdict: Verdict) -> tuple[str, str]:
    """(result, evidence) of the test of the first badmail rule."""
    step = next(s for s in verdict.trace if s.depth == 1)
    return step.result, step.detail


def evidence_of(tmp_path: Path, condition: str, raw: bytes, **envelope: str) -> tuple[str, str]:
    return rule_evidence(verdict_of(tmp_path, f"  badmail rule when {condition}", raw, **envelope))


# ---- which value each field reads ----


@pytest.mark.parametrize(
    ("condition", "envelope", "result"),
    [
        ('recipient is "bob@example.com"', {}, "true"),
        ('sender.domain is "example.org"', {"sender": "alice@Mail.Example.ORG"}, "false"),
        ('sender.domain is "mail.example.org"', {"sender": "alice@Mail.Example.ORG"}, "true"),
        ('sender.domain is "example.org"', {"sender": '"a@b"@example.org'}, "true"),
        ("sender.domain is empty", {"sender": "MAILER-DAEMON"}, "true"),
        ("sender.domain is empty", {"sender": "<>"}, "true"),
        ('recipient.local is "\\"a@b\\""', {"recipient": '"a@b"@example.com'}, "true"),
    ],
)
def test_envelope_fields_read_the_address_part_they_name(
    tmp_path: Path, condition: str, envelope: dict[str, str], result: str
) -> None:
    assert evidence_of(tmp_path, condition, PLAIN, **envelope)[0] == result


def test_header_and_body_matches_say_where_in_the_text_they_matched(tmp_path: Path) -> None:
    assert evidence_of(tmp_path, 'header "X-Mailer" contains "Bulk"', PLAIN) == (
        "true",
        'header X-Mailer "BulkMailer 2" matched "Bulk" at 0-4',
    )
    assert evidence_of(tmp_path, 'body contains "LOVELETTER"', PLAIN) == (
        "true",
        'body "kindly check the LOVELETTER\\x0a" matched "LOVELETTER" at 17-27',
    )


def test_an_attachment_match_names_the_part_not_a_position(tmp_path: Path) -> None:
    raw = with_attachments(('application/octet-stream; name="run.exe"', MZ))
    assert evidence_of(tmp_path, 'any attachment.name matches "*.exe"', raw) == (
        "true",
        'attachment.name "run.exe" (part 2, Content-Type name) matched "*.exe"',
    )
    assert evidence_of(tmp_path, 'any attachment.declared_type contains "octet"', raw) == (
        "true",
        'attachment.declared_type "application/octet-stream" (part 2) matched "octet"',
    )
    assert evidence_of(tmp_path, 'any attachment.type contains "dosexec"', raw) == (
        "true",
        'attachment.type "application/x-dosexec" (part 2) matched "dosexec"',
    )


@pytest.mark.parametrize("field", ["attachment.name", "attachment.type", "attachment.size"])
def test_an_attachment_field_cannot_be_tested_for_emptiness(tmp_path: Path, field: str) -> None:
    """Each attachment has a name or none: `any attachment` says whether there is one."""
    with pytest.raises(PolicyError, match="is not a test qmvc knows"):
        evidence_of(tmp_path, f"{field} is empty", PLAIN)


def test_a_literal_missing_from_one_name_does_not_end_the_search_of_the_others(
    tmp_path: Path,
) -> None:
    """An archive's members are more names of the same attachment, after its own."""
    raw = with_attachments(('application/zip; name="docs.zip"', zip_of(("run.exe", MZ))))
    result, evidence = evidence_of(tmp_path, 'any attachment.name contains "exe"', raw)
    assert result == "true"
    assert evidence.startswith('attachment.name "run.exe" (docs.zip › run.exe)')


@pytest.mark.parametrize(
    ("names", "result"),
    [(["a.txt", "b.txt"], "true"), (["a.txt", "b.exe"], "false"), ([], "false")],
)
def test_every_attachment_must_match_and_no_attachment_is_no_match(
    tmp_path: Path, names: list[str], result: str
) -> None:
    raw = with_attachments(*((f'text/plain; name="{n}"', b"x") for n in names))
    assert evidence_of(tmp_path, 'every attachment.name matches "*.txt"', raw)[0] == result


def test_a_nocase_list_match_names_the_item_that_matched(tmp_path: Path) -> None:
    raw = b"Subject: ILOVEYOU\n\nhi\n"
    rules = "  badmail rule when subject matches list worms nocase"
    verdict = verdict_of(tmp_path, rules, raw, declarations='list worms = "iloveyou" "x*"\n')
    assert rule_evidence(verdict) == ("true", 'subject "ILOVEYOU" matched "iloveyou" at 0-8')


# ---- how many values evidence shows ----


def test_a_miss_shows_up_to_eight_names_with_their_origins_then_a_count(tmp_path: Path) -> None:
    raw = with_attachments(*((f'text/plain; name="f{n}.txt"', b"x") for n in range(10)))
    result, evidence = evidence_of(tmp_path, 'any attachment.name matches "*.exe"', raw)
    assert result == "false"
    shown = ", ".join(f'"f{n}.txt" (part {n + 2}, Content-Type name)' for n in range(8))
    assert evidence == f"attachment.name: {shown} and 2 more"


def test_a_miss_with_nine_names_counts_one_more(tmp_path: Path) -> None:
    raw = with_attachments(*((f'text/plain; name="f{n}.txt"', b"x") for n in range(9)))
    assert evidence_of(tmp_path, 'any attachment.name matches "*.exe"', raw)[1].endswith(
        '"f7.txt" (part 9, Content-Type name) and 1 more'
    )


def test_a_miss_with_exactly_eight_names_has_no_count_and_none_is_none(tmp_path: Path) -> None:
    raw = with_attachments(*((f'text/plain; name="f{n}.txt"', b"x") for n in range(8)))
    assert not evidence_of(tmp_path, 'any attachment.name matches "*.exe"', raw)[1].endswith("more")
    assert evidence_of(tmp_path, 'any attachment.name matches "*.exe"', PLAIN) == (
        "false",
        "attachment.name: none",
    )


def test_a_header_shows_up_to_five_values_then_a_count(tmp_path: Path) -> None:
    six = b"".join(b"Received: hop %d\n" % n for n in range(6)) + b"Subject: s\n\nbody\n"
    five = b"".join(b"Received: hop %d\n" % n for n in range(5)) + b"Subject: s\n\nbody\n"
    shown = ", ".join(f'"hop {n}"' for n in range(5))
    assert evidence_of(tmp_path, 'header "Received" exists', six) == (
        "true",
        f"header Received 6 time(s): {shown} and 1 more",
    )
    assert evidence_of(tmp_path, 'header "Received" exists', five) == (
        "true",
        f"header Received 5 time(s): {shown}",
    )
    assert evidence_of(tmp_path, 'header "X-Absent" exists', five) == (
        "false",
        "header X-Absent absent",
    )
    assert evidence_of(tmp_path, 'header "X-Absent" is empty', five) == (
        "true",
        "header X-Absent: <> (empty)",
    )
    assert evidence_of(tmp_path, 'header "Subject" is empty', five) == (
        "false",
        'header Subject: "s"',
    )


def test_long_text_is_cut_at_the_evidence_limit_with_an_ellipsis(tmp_path: Path) -> None:
    exact = b"Subject: " + b"a" * EVIDENCE_LIMIT + b"\n\nbody\n"
    longer = b"Subject: " + b"a" * (EVIDENCE_LIMIT + 1) + b"\n\nbody\n"
    assert (
        evidence_of(tmp_path, "subject is empty", exact)[1] == f'subject: "{"a" * EVIDENCE_LIMIT}"'
    )
    assert (
        evidence_of(tmp_path, "subject is empty", longer)[1]
        == f'subject: "{"a" * EVIDENCE_LIMIT}..."'
    )


def test_any_attachment_lists_names_or_declared_types(tmp_path: Path) -> None:
    raw = with_attachments(('application/pdf; name="a.pdf"', b"%PDF"), ("image/png", b"\x89PNG"))
    assert evidence_of(tmp_path, "any attachment", raw) == (
        "true",
        '2 attachment(s): "a.pdf, image/png"',
    )
    assert evidence_of(tmp_path, "any attachment", PLAIN) == ("false", "0 attachment(s)")


@pytest.mark.parametrize(
    ("condition", "result", "evidence"),
    [
        ("message.size > 100", "true", "message.size: {size} bytes"),
        ("message.size < 100", "false", "message.size: {size} bytes"),
        ("any attachment.size > 150", "true", "attachment.size: 1, 204 bytes"),
        ("every attachment.size > 150", "false", "attachment.size: 1, 204 bytes"),
        ("every attachment.size > 0", "true", "attachment.size: 1, 204 bytes"),
    ],
)
def test_sizes_compare_the_message_or_each_attachment(
    tmp_path: Path, condition: str, result: str, evidence: str
) -> None:
    raw = with_attachments(('text/plain; name="a.txt"', b"x"), ('application/x; name="b"', MZ))
    assert evidence_of(tmp_path, condition, raw) == (result, evidence.format(size=len(raw)))


def test_no_attachment_has_no_size_to_compare(tmp_path: Path) -> None:
    assert evidence_of(tmp_path, "every attachment.size < 1GB", PLAIN) == (
        "false",
        "attachment.size: none bytes",
    )


def test_six_attachment_sizes_show_the_first_five(tmp_path: Path) -> None:
    raw = with_attachments(*((f'text/plain; name="{n}"', b"x" * (n + 1)) for n in range(6)))
    assert evidence_of(tmp_path, "any attachment.size > 1GB", raw)[1] == (
        "attachment.size: 1, 2, 3, 4, 5 bytes"
    )


# ---- where each step is, and what it says ----


def steps(verdict: Verdict) -> list[tuple[str, int | None, str, str, int]]:
    return [
        (s.node, None if s.span is None else s.span.line, s.result, s.detail, s.depth)
        for s in verdict.trace
    ]


def test_the_trace_of_badmail_rules_and_their_tests(tmp_path: Path) -> None:
    """Each step at its line and depth; a test two rules share is computed once; the cheaper
    operand goes first."""
    rules = (
        '  badmail first when subject is "Lunch" and (body contains "nothing" or sender is empty)\n'
        '  badmail second when subject is "Lunch" and body contains "x"'
    )
    body = 'body: "kindly check the LOVELETTER\\x0a"'
    subject = 'subject "Lunch" matched "Lunch" at 0-5'
    verdict = verdict_of(tmp_path, rules, PLAIN)
    assert verdict.exit_code == 0
    assert steps(verdict) == [
        ("profile only", 1, "true", 'recipient domain "example.com"', 0),
        ("badmail first", 2, "false", "", 0),
        ('subject is "Lunch" and (body contains "nothing" or sender is empty)', 2, "false",
         f'sender: "alice@example.org"; {body}', 1),
        ('subject is "Lunch"', 2, "true", subject, 2),
        ('body contains "nothing" or sender is empty', 2, "false",
         f'sender: "alice@example.org"; {body}', 2),
        ("sender is empty", 2, "false", 'sender: "alice@example.org"', 3),
        ('body contains "nothing"', 2, "false", body, 3),
        ("badmail second", 3, "false", "", 0),
        ('subject is "Lunch" and body contains "x"', 3, "false", body, 1),
        ('subject is "Lunch"', 2, "true", f"(already tested) {subject}", 2),
        ('body contains "x"', 3, "false", body, 2),
        ("on clean: would deliver", None, "true", "", 0),
    ]  # fmt: skip


def test_an_operand_not_needed_is_skipped_at_its_line_and_depth(tmp_path: Path) -> None:
    rules = '  badmail first when sender is empty or subject is "Lunch"'
    verdict = verdict_of(tmp_path, rules, PLAIN, sender="<>")
    assert steps(verdict) == [
        ("profile only", 1, "true", 'recipient domain "example.com"', 0),
        ("badmail first", 2, "true", "", 0),
        ('sender is empty or subject is "Lunch"', 2, "true", "sender: <> (empty)", 1),
        ("sender is empty", 2, "true", "sender: <> (empty)", 2),
        ('subject is "Lunch"', 2, "skipped", "not needed: the result is known", 2),
        ('on badmail: would keep "quarantine/badmail"', 4, "true", "", 0),
        ("on badmail: would notify recipient", 4, "true", "", 0),
    ]


# ---- scanner steps ----

SCANNERS = """
scanner one clamd socket "/nonexistent/one.ctl"
scanner two clamd socket "/nonexistent/two.ctl"
scanner three clamd socket "/nonexistent/three.ctl"
"""


def scan_steps(tmp_path: Path, mode: str, **answers: ScanResult | None) -> Verdict:
    engines = {
        name: None if answer is None else FakeScanner(name, answer)
        for name, answer in answers.items()
    }
    rules = f"  scan {', '.join(answers)} {mode}".rstrip()
    return verdict_of(tmp_path, rules, PLAIN, scanners=engines, declarations=SCANNERS)


def test_each_scanner_step_says_what_its_engine_answered(tmp_path: Path) -> None:
    verdict = scan_steps(
        tmp_path,
        "",
        one=ScanResult("clean", seconds=0.12345, detail="ignored when clean"),
        two=ScanResult("failed", seconds=0.5, detail="engine crashed"),
        three=None,
    )
    assert [s for s in steps(verdict) if s[0].startswith("scan ")] == [
        ("scan one", 2, "ran", "clean in 0.123s", 0),
        ("scan two", 2, "error", "failed in 0.500s (engine crashed)", 0),
        ("scan three", 2, "error", "scanner not available here", 0),
    ]
    one, two, three = verdict.scanners
    assert (one.status, one.seconds, one.reason) == ("ran", 0.123, "")
    assert (two.status, two.reason) == ("failed", "engine crashed")
    assert (three.status, three.reason) == ("unavailable", "scanner not available here")
    assert verdict.outcome == "scanner-failure"


def test_a_virus_step_names_every_virus_and_later_engines_are_skipped(tmp_path: Path) -> None:
    verdict = scan_steps(
        tmp_path,
        "first",
        one=ScanResult("infected", ("Eicar", "Other.Worm"), seconds=0.02),
        two=ScanResult("clean"),
    )
    assert [s for s in steps(verdict) if s[0].startswith(("scan ", "on "))] == [
        ("scan one", 2, "ran", "found Eicar, Other.Worm in 0.020s", 0),
        ("scan two", 2, "skipped", "'one' already found a virus", 0),
        ('on virus: would keep "quarantine/virus"', 3, "true", "", 0),
    ]
    assert verdict.exit_code == 99


def test_a_cached_verdict_says_it_was_not_scanned_again(tmp_path: Path) -> None:
    cached = ScanResult(
        "infected", ("Eicar", "Worm"), detail="cached 3 min ago, signatures 27000", cached=True
    )
    verdict = scan_steps(tmp_path, "", one=cached)
    assert [s for s in steps(verdict) if s[0] == "scan one"] == [
        (
            "scan one",
            2,
            "ran",
            "found Eicar, Worm (cached 3 min ago, signatures 27000, not scanned again)",
            0,
        )
    ]
    assert verdict.scanners[0].status == "cached"


def test_too_large_is_an_error_step_with_the_engines_reason(tmp_path: Path) -> None:
    verdict = scan_steps(tmp_path, "", one=ScanResult("too-large", detail="over 25 MB"))
    assert [s for s in steps(verdict) if s[0] == "scan one"] == [
        ("scan one", 2, "error", "too-large in 0.000s (over 25 MB)", 0)
    ]
    assert verdict.outcome == "too-large"


def test_scanning_off_skips_each_engine_at_the_scan_line(tmp_path: Path) -> None:
    rules = "  scan one, two"
    verdict = verdict_of(tmp_path, rules, PLAIN, scanners=None, declarations=SCANNERS)
    assert [s for s in steps(verdict) if s[0].startswith("scan ")] == [
        ("scan one", 2, "skipped", "scanning is off (--no-scan)", 0),
        ("scan two", 2, "skipped", "scanning is off (--no-scan)", 0),
    ]


@pytest.mark.parametrize(
    ("actions", "code", "described"),
    [
        ('keep "q/a"; forward "x@example.org" "y@example.org"', 99,
         ['keep "q/a"', 'forward "x@example.org", "y@example.org"']),
        ("defer", 111, ["defer"]),
        ('forward "x@example.org"', 99, ['forward "x@example.org"']),
        ("notify recipient, sender; deliver", 0, ["notify recipient, sender", "deliver"]),
    ],
)  # fmt: skip
def test_actions_are_described_in_the_policys_words_and_answer_qmail(
    tmp_path: Path, actions: str, code: int, described: list[str]
) -> None:
    policy = tmp_path / "policy.qmvc"
    policy.write_text(
        'profile only default {\n  badmail rule when subject is "Lunch"\n'
        f"  on badmail {{ {actions} }}\n"
        '  on virus { keep "quarantine/virus" }\n}\n',
        encoding="utf-8",
    )
    facts = MessageFacts(PLAIN, Envelope.from_addresses("alice@example.org", "bob@example.com"))
    verdict = evaluate(Policy.load(policy).compile(), facts, None)
    assert verdict.exit_code == code
    assert [s[0] for s in steps(verdict) if s[0].startswith("on ")] == [
        f"on badmail: would {d}" for d in described
    ]


def test_a_rule_not_needed_or_bypassed_is_skipped_at_its_own_line(tmp_path: Path) -> None:
    rules = (
        '  badmail nullsender when sender is empty\n  badmail worm when body contains "LOVELETTER"'
    )
    known = verdict_of(tmp_path, rules, PLAIN, sender="<>")
    assert [s for s in steps(known) if s[2] == "skipped"] == [
        ("badmail worm", 3, "skipped", "outcome known: 'nullsender' matched", 0)
    ]
    bypassed = verdict_of(
        tmp_path, '  bypass badmail when recipient is "bob@example.com"\n' + rules, PLAIN
    )
    assert [s for s in steps(bypassed) if s[0].startswith("badmail")] == [
        ("badmail nullsender", 3, "skipped", "bypassed by 'bypass badmail' (line 2)", 0),
        ("badmail worm", 4, "skipped", "bypassed by 'bypass badmail' (line 2)", 0),
    ]
