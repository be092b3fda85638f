"""`qmvc update-signatures` and `qmvc report`, run as an admin would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

QMVC = [sys.executable, "-m", "qmvc.cli"]


def run(args: list[str], qmvc_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QMVC_DIR": str(qmvc_dir)}
    return subprocess.run(QMVC + args, env=env, capture_output=True, text=True, timeout=60)


def policy_with_update(tmp_path: Path, command: str) -> Path:
    policy = tmp_path / "policy.qmvc"
    policy.write_text(f'''
scanner clamav clamd socket "/nonexistent.sock" timeout 5s update "{command}"
profile p default {{
  scan clamav
  on virus {{ keep "q" }}
}}
''')
    return policy


def test_a_successful_update_exits_0_and_is_logged(tmp_path: Path) -> None:
    policy = policy_with_update(tmp_path, "true")
    done = run(["update-signatures", "--policy", str(policy)], tmp_path / "q")
    assert done.returncode == 0, done.stderr
    assert "clamav: ok" in done.stdout
    assert "|clamav|ok|rc=0|" in (tmp_path / "q" / "qmvc.log").read_text()


def test_a_failed_update_exits_1_and_is_logged_as_failed(tmp_path: Path) -> None:
    policy = policy_with_update(
        tmp_path, f"{sys.executable} -c 'import sys; print(\\\"no network\\\"); sys.exit(2)'"
    )
    done = run(["update-signatures", "--policy", str(policy)], tmp_path / "q")
    assert done.returncode == 1
    assert "FAILED" in done.stdout and "no network" in done.stdout
    assert "|clamav|failed|rc=2|" in (tmp_path / "q" / "qmvc.log").read_text()


def two_message_log(tmp_path: Path) -> Path:
    """A QMVC 1.x clean line, a virus line, and a line that is not a log line."""
    log = tmp_path / "qmvc.log"
    log.write_text(
        "qmvc Pid:1|20011106 09:22:47|a@example.com|b@example.org|exe:0|clamav:0|RC:0|09:22:47\n"
        "qmvc Pid:2|20011106 09:22:51||c@example.org|exe:0|clamav:1|RC:99|09:22:52"
        "|profile=p|outcome=virus|msgid=|size=10|ms=5|viruses=W32/Goner@MM\n"
        "qmvc Pid:3|20011106 09:23|cut short\n"
    )
    return log


def test_report_summarises_the_log(tmp_path: Path) -> None:
    log = two_message_log(tmp_path)
    done = run(["report", str(log)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 messages" in done.stdout
    assert "W32/Goner@MM" in done.stdout


def test_report_json_counts_both_line_forms_and_the_broken_one(tmp_path: Path) -> None:
    done = run(["report", str(two_message_log(tmp_path)), "--format", "json"], tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["messages"], report["malformed"]) == (2, 1)
    assert (report["first"], report["last"]) == ("2001-11-06T09:22:47", "2001-11-06T09:22:51")
    assert report["counts"] == {"clean": 1, "badmail": 0, "virus": 1, "deferred": 0}
    assert report["viruses"][0]["virus"] == "W32/Goner@MM"
    assert report["senders"] == [{"sender": "<>", "count": 1, "virus": 1, "badmail": 0}]


def test_update_with_a_broken_policy_says_so_on_stderr_leaving_json_stdout_empty(
    tmp_path: Path,
) -> None:
    policy = tmp_path / "policy.qmvc"
    policy.write_text("profile p default {\n")
    done = run(["update-signatures", "--policy", str(policy), "--format", "json"], tmp_path / "q")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "qmvc update-signatures:" in done.stderr


def test_report_on_a_missing_log_is_a_usage_error(tmp_path: Path) -> None:
    assert run(["report", str(tmp_path / "none.log")], tmp_path).returncode == 2
