"""Scanning end to end: policy text → compiled tree → evaluator → a real clamd and clamscan.

The scanner modules are tested on their own elsewhere; here the bypass rules of the
policy decide which real engines are called, and `qmvc deliver` acts on what they say.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from email.message import EmailMessage
from pathlib import Path

from qmvc.engine.evaluate import evaluate
from qmvc.engine.scanning import scanner_provider
from qmvc.engine.tree import DecisionTree
from qmvc.logs.line import parse_line
from qmvc.message.envelope import Envelope
from qmvc.message.facts import MessageFacts
from qmvc.policy.policy import Policy
from qmvc.scanners.abandon import run_abandonable
from qmvc.scanners.command import ABANDONED, run_bounded
from tests.clamd_support import RunningClamd
from tests.corpus.make_corpus import eicar

pytest_plugins = ["tests.clamd_support"]

EICAR_NAME = "Eicar-Test-Signature.UNOFFICIAL"
FAKE_ENGINES = Path(__file__).parent / "fake_engines"
ENVELOPE = Envelope.from_addresses("alice@example.com", "bob@example.org")


def message(attachment: bytes | None = None, filename: str = "report.bin") -> bytes:
    mail = EmailMessage()
    mail["From"] = "alice@example.com"
    mail["To"] = "bob@example.org"
    mail["Subject"] = "quarterly figures"
    mail.set_content("See the attachment.\n")
    if attachment is not None:
        mail.add_attachment(
            attachment, maintype="application", subtype="octet-stream", filename=filename
        )
    return bytes(mail)


def compile_policy(tmp_path: Path, text: str) -> DecisionTree:
    path = tmp_path / "policy.qmvc"
    path.write_text(text)
    return Policy.load(path).compile()


def clamd_policy(
    server: RunningClamd,
    scan: str = "scan clamav unless badmail first",
    extra: str = "",
    blocks: str = "",
) -> str:
    return f'''
scanner clamav clamd socket "{server.socket_path}" timeout 20s
scanner clamscan command engine clamscan
    run "clamscan --no-summary --infected --stdout -d {server.db_dir} -r {{dir}}" timeout 60s
{extra}
profile p default {{
  badmail exe when any attachment.name matches "*.exe"
  {scan}
  on virus {{ keep "quarantine/virus" }}
  on badmail {{ keep "quarantine/badmail" }}
  {blocks}
}}
'''


def verdict_for(tree: DecisionTree, raw: bytes):  # type: ignore[no-untyped-def]
    return evaluate(tree, MessageFacts(raw, ENVELOPE), scanner_provider(tree))


def test_eicar_attachment_is_a_virus_found_by_real_clamd(
    tmp_path: Path, clamd_server: RunningClamd
) -> None:
    tree = compile_policy(tmp_path, clamd_policy(clamd_server))
    verdict = verdict_for(tree, message(eicar()))
    assert verdict.outcome == "virus"
    assert verdict.exit_code == 99
    assert verdict.scanners[0].status == "ran"
    assert verdict.scanners[0].viruses == (EICAR_NAME,)


def test_clean_mail_passes_real_clamd(tmp_path: Path, clamd_server: RunningClamd) -> None:
    verdict = verdict_for(
        compile_policy(tmp_path, clamd_policy(clamd_server)), message(b"%PDF-1.4 hello")
    )
    assert (verdict.outcome, verdict.exit_code) == ("clean", 0)
    assert [(r.name, r.status, r.reason) for r in verdict.scanners] == [("clamav", "ran", "")]


def test_badmail_bypasses_the_engine_and_names_the_rule(
    tmp_path: Path, clamd_server: RunningClamd
) -> None:
    verdict = verdict_for(
        compile_policy(tmp_path, clamd_policy(clamd_server)), message(eicar(), filename="setup.exe")
    )
    assert verdict.outcome == "badmail"
    assert [(r.name, r.status, r.reason, r.seconds, r.viruses) for r in verdict.scanners] == [
        ("clamav", "skipped", "unless badmail: 'exe' matched", 0, ())
    ]
    assert [(s.result, s.detail) for s in verdict.trace if s.node == "scan clamav"] == [
        ("skipped", "unless badmail: 'exe' matched")
    ]


def test_without_unless_badmail_a_badmail_is_still_scanned_and_the_virus_wins(
    tmp_path: Path, clamd_server: RunningClamd
) -> None:
    tree = compile_policy(tmp_path, clamd_policy(clamd_server, scan="scan clamav first"))
    verdict = verdict_for(tree, message(eicar(), filename="setup.exe"))
    assert verdict.outcome == "virus"
    assert [c.name for c in verdict.criteria] == ["exe"]
    assert [(r.name, r.status, r.reason, r.viruses) for r in verdict.scanners] == [
        ("clamav", "ran", "", (EICAR_NAME,))
    ]


def test_first_stops_at_the_first_engine_that_finds_a_virus(
    tmp_path: Path, clamd_server: RunningClamd
) -> None:
    tree = compile_policy(tmp_path, clamd_policy(clamd_server, scan="scan clamav, clamscan first"))
    verdict = verdict_for(tree, message(eicar()))
    assert [(r.name, r.status) for r in verdict.scanners] == [
        ("clamav", "ran"),
        ("clamscan", "skipped"),
    ]
    assert "clamav" in verdict.scanners[1].reason


def test_all_collects_every_engines_verdict(tmp_path: Path, clamd_server: RunningClamd) -> None:
    tree = compile_policy(tmp_path, clamd_policy(clamd_server, scan="scan clamav, clamscan all"))
    verdict = verdict_for(tree, message(eicar()))
    assert [(r.name, r.status) for r in verdict.scanners] == [
        ("clamav", "ran"),
        ("clamscan", "ran"),
    ]
    assert all(EICAR_NAME.split(".")[0] in r.viruses[0] for r in verdict.scanners)


def test_parallel_returns_when_the_first_virus_is_found(
    tmp_path: Path, clamd_server: RunningClamd
) -> None:
    hang = Path(__file__).parent / "fake_engines" / "hang.py"
    slow = (
        f'scanner slow command run "{sys.executable} {hang} {{dir}} {tmp_path}/record" '
        "clean 0 infected 1 timeout 20s"
    )
    tree = compile_policy(
        tmp_path, clamd_policy(clamd_server, scan="scan slow, clamav parallel", extra=slow)
    )
    verdict = verdict_for(tree, message(eicar()))
    assert verdict.outcome == "virus"
    statuses = dict((r.name, r.status) for r in verdict.scanners)
    assert statuses == {"clamav": "ran", "slow": "skipped"}
    assert max(r.seconds for r in verdict.scanners) < 10
    assert _none_left(f"{tmp_path}/record", seconds=5), "the abandoned engine was left running"


def test_parallel_answers_at_the_first_virus_after_a_clean_answer_without_the_slow_engine(
    tmp_path: Path,
) -> None:
    """A clean engine answers first, an infected one next (it waits for the clean one's
    answer), a slow one would take 20 s: the virus ends the scan, whatever else ran before."""
    told = f"{sys.executable} {FAKE_ENGINES}/answer_when_told.py {{dir}}"
    answered = tmp_path / "quick-answered"
    policy = f"""
scanner quick command run "{told} clean --done {answered}" clean 0 infected 1 timeout 30s
scanner alarmist command run "{told} infected --after {answered} --sleep 0.5"
    clean 0 infected 1 pattern /FOUND: (?P<name>\\S+)/ timeout 30s
scanner slow command run "{told} clean --sleep 20 --done {tmp_path}/slow-answered"
    clean 0 infected 1 timeout 30s
profile p default {{
  scan quick, alarmist, slow parallel
  on virus {{ keep "quarantine/virus" }}
}}
"""
    tree = compile_policy(tmp_path, policy)
    started = time.monotonic()
    verdict = verdict_for(tree, message(b"harmless"))
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"the verdict waited {elapsed:.1f}s, for the slow engine"
    assert verdict.outcome == "virus"
    assert [(r.name, r.status, r.viruses, r.reason) for r in verdict.scanners] == [
        ("quick", "ran", (), ""),
        ("alarmist", "ran", ("Told.Test.Virus",), ""),
        ("slow", "skipped", (), "another engine already found a virus"),
    ]
    assert _none_left(f"{tmp_path}/slow-answered", seconds=5), "the slow engine was left running"


def test_an_engine_whose_scan_was_given_up_before_it_started_never_runs(
    tmp_path: Path,
) -> None:
    """The race behind the test above: clamd finds the virus while the other engine's thread
    is still writing its parts, before there is a process to kill."""
    hang = Path(__file__).parent / "fake_engines" / "hang.py"
    record = tmp_path / "record"
    stop = threading.Event()
    stop.set()
    argv = [sys.executable, str(hang), str(tmp_path), str(record)]
    outcome = run_abandonable(stop, lambda: run_bounded(argv, 20.0))
    assert (outcome.exit_code, outcome.failure) == (None, ABANDONED)
    assert not record.exists()
    assert run_abandonable(threading.Event(), lambda: run_bounded(["true"], 20.0)).exit_code == 0


def _none_left(marker: str, seconds: float) -> bool:
    """Whether every live process whose command line holds `marker` is gone by the deadline."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(_alive_with(proc, marker) for proc in Path("/proc").glob("[0-9]*")):
            return True
        time.sleep(0.05)
    return False


def _alive_with(proc: Path, marker: str) -> bool:
    try:
        command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return marker in command and state not in ("Z", "X")


def test_a_message_over_streammaxlength_is_too_large_and_deferred_by_default(
    tmp_path: Path, clamd_tiny_limit: RunningClamd
) -> None:
    tree = compile_policy(tmp_path, clamd_policy(clamd_tiny_limit))
    verdict = verdict_for(tree, message(os.urandom(64 * 1024)))
    assert verdict.outcome == "too-large"
    assert verdict.scanners[0].status == "too-large"
    assert verdict.exit_code == 111


def test_a_policy_may_deliver_too_large_mail_unscanned(
    tmp_path: Path, clamd_tiny_limit: RunningClamd
) -> None:
    tree = compile_policy(
        tmp_path, clamd_policy(clamd_tiny_limit, blocks="on too-large { deliver }")
    )
    verdict = verdict_for(tree, message(os.urandom(64 * 1024)))
    assert (verdict.outcome, verdict.exit_code) == ("too-large", 0)


def test_a_dead_clamd_is_a_scanner_failure_never_clean(tmp_path: Path) -> None:
    policy = clamd_policy(RunningClamd(str(tmp_path / "no-such.sock"), str(tmp_path), ""))
    verdict = verdict_for(compile_policy(tmp_path, policy), message(b"harmless"))
    assert (verdict.outcome, verdict.exit_code) == ("scanner-failure", 111)
    assert verdict.scanners[0].status == "failed"


def test_a_farm_tries_the_next_address_when_the_first_is_down(
    tmp_path: Path, clamd_server: RunningClamd
) -> None:
    policy = f'''
scanner farm clamd socket "{tmp_path}/dead.sock" "{clamd_server.socket_path}" timeout 20s
profile p default {{
  scan farm
  on virus {{ keep "q" }}
}}
'''
    verdict = verdict_for(compile_policy(tmp_path, policy), message(eicar()))
    assert verdict.outcome == "virus"


def test_deliver_keeps_a_virus_in_quarantine_and_logs_the_engine(
    tmp_path: Path, clamd_server: RunningClamd
) -> None:
    policy = tmp_path / "policy.qmvc"
    policy.write_text(clamd_policy(clamd_server))
    raw = message(eicar())
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "QMVC_DIR": str(tmp_path / "qmvc"),
        "QMVC_POLICY": str(policy),
        "SENDER": "alice@example.com",
        "RECIPIENT": "bob@example.org",
        "HOST": "example.org",
        "LOCAL": "bob",
    }
    done = subprocess.run(
        [sys.executable, "-m", "qmvc.cli", "deliver"],
        input=raw,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 99, done.stderr
    kept = list((tmp_path / "qmvc" / "quarantine" / "virus" / "new").iterdir())
    assert [p.read_bytes() for p in kept] == [raw]
    record = parse_line((tmp_path / "qmvc" / "qmvc.log").read_text().splitlines()[-1])
    assert record.scanners == (("clamav", "1"),)
    assert record.viruses == (EICAR_NAME,)


def test_eicar_inside_a_nested_message_is_found(tmp_path: Path, clamd_server: RunningClamd) -> None:
    inner = EmailMessage()
    inner["Subject"] = "inner"
    inner.set_content("inner text\n")
    inner.add_attachment(eicar(), maintype="application", subtype="octet-stream", filename="e.com")
    outer = EmailMessage()
    outer["Subject"] = "fwd"
    outer.set_content("forwarded\n")
    outer.add_attachment(inner)
    policy = clamd_policy(clamd_server).replace(
        'badmail exe when any attachment.name matches "*.exe"', ""
    )
    verdict = verdict_for(compile_policy(tmp_path, policy), bytes(outer))
    assert verdict.outcome == "virus"
    assert verdict.scanners[0].locations == ((EICAR_NAME, "e.com"),)


def test_explain_says_in_which_attachment_the_virus_was_found(
    tmp_path: Path, clamd_server: RunningClamd
) -> None:
    policy = tmp_path / "policy.qmvc"
    policy.write_text(clamd_policy(clamd_server))
    mail = tmp_path / "mail.eml"
    mail.write_bytes(message(eicar(), filename="eicar.com"))
    done = subprocess.run(
        [sys.executable, "-m", "qmvc.cli", "explain", "--policy", str(policy), str(mail)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "QMVC_DIR": str(tmp_path / "qmvc")},  # not this machine's cache
    )
    assert done.returncode == 0, done.stderr
    assert f"scanner: clamav: ran: found {EICAR_NAME} in eicar.com\n" in done.stdout
