"""`qmvc notice --preview`: the notices a message would cause, rendered, never sent."""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = "tests/corpus/sample-exe-attachment.eml"


def preview(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qmvc.cli", "notice", "--preview", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def notices_in(output: str) -> dict[str, email.message.EmailMessage]:
    found = {}
    for block in output.split("===== notify ")[1:]:
        heading, _, message = block.partition("=====\n")
        audience = heading.split(":")[0]
        found[audience] = email.message_from_string(message, policy=email.policy.default)
    return found


def test_the_sender_gets_his_language_and_the_guard_the_policy_default() -> None:
    done = preview(
        "--policy",
        "policies/strict.qmvc",
        "--recipient",
        "bob@finance.example.org",
        "--sender",
        "someone@example.de",
        SAMPLE,
    )
    assert done.returncode == 0, done.stderr
    notices = notices_in(done.stdout)
    assert set(notices) == {"finance-security", "sender"}
    assert notices["sender"]["To"] == "someone@example.de"
    assert notices["sender"]["Subject"].startswith("Ihre E-Mail wurde nicht zugestellt")
    assert notices["finance-security"]["To"] == "security@finance.example.org"
    assert "filetype" in notices["finance-security"].get_content()


def test_no_notice_goes_to_the_null_sender() -> None:
    done = preview(
        "--policy",
        "policies/strict.qmvc",
        "--recipient",
        "bob@finance.example.org",
        "--sender",
        "<>",
        SAMPLE,
    )
    assert done.returncode == 0, done.stderr
    assert set(notices_in(done.stdout)) == {"finance-security"}


def test_a_clean_message_causes_no_notice() -> None:
    done = preview(
        "--policy", "policies/default.qmvc", "--no-scan", "tests/corpus/clean-plain-ascii.eml"
    )
    assert done.returncode == 0, done.stderr
    assert "sends no notice" in done.stdout and "=====" not in done.stdout


def test_the_preview_is_decoded_and_json_gives_envelope_headers_and_body() -> None:
    arguments = ("--policy", "policies/strict.qmvc", "--recipient", "bob@finance.example.org")
    text = preview(*arguments, "--sender", "ivan@example.ru", SAMPLE)
    assert text.returncode == 0, text.stderr
    assert "=?utf-8?" not in text.stdout and "Content-Transfer-Encoding: base64" in text.stdout
    assert "language ru" in text.stdout and "Ваше" in text.stdout  # readable Russian
    done = preview(*arguments, "--sender", "ivan@example.ru", "--format", "json", SAMPLE)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["outcome"] == "badmail"
    by_audience = {n["audience"]: n for n in found["notices"]}
    sender = by_audience["sender"]
    assert sender["status"] == "preview" and sender["language"] == "ru"
    assert sender["envelope"] == {"mail_from": "", "rcpt_to": "ivan@example.ru"}
    assert [name for name, _ in sender["headers"]][:3] == ["From", "To", "Subject"]
    assert dict(sender["headers"])["To"] == "ivan@example.ru"
    assert "Rechnung" in sender["body"]


def test_the_preview_shows_a_suppressed_notice_and_why() -> None:
    done = preview(
        "--policy",
        "policies/strict.qmvc",
        "--recipient",
        "bob@finance.example.org",
        "--sender",
        "security@finance.example.org",
        "--format",
        "json",
        SAMPLE,
    )
    by_audience = {n["audience"]: n for n in json.loads(done.stdout)["notices"]}
    assert by_audience["sender"]["status"] == "suppressed"
    assert "guards" in by_audience["sender"]["detail"]
    assert "headers" not in by_audience["sender"]
