"""Every command behaves like a Unix tool (issue 10).

A reader that goes away (`qmvc report | head`) ends the command quietly; `--format json`
is one valid JSON document whose keys are the ones the README documents, for every
command in `qmvc.cli.COMMANDS`, including the ones added after this test was written.
"""

from __future__ import annotations

import json
import mailbox
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from qmvc.cli import BROKEN_PIPE_EXIT, COMMANDS
from qmvc.logs.line import LogRecord, format_line

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS = REPO_ROOT / "tests" / "corpus"
DEFAULT_POLICY = "policies/default.qmvc"
NOISE = ("Traceback", "BrokenPipeError", "Exception ignored")


def environment(qmvc_dir: Path) -> dict[str, str]:
    found = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "QMVC_DIR": str(qmvc_dir)}
    found.pop("QMVC_POLICY", None)
    return found


def qmvc_json(tmp_path: Path, *arguments: str, exit_codes: tuple[int, ...] = (0,)) -> Any:
    """`qmvc … --format json` as a process: its stdout must be exactly one JSON document."""
    done = subprocess.run(
        [sys.executable, "-m", "qmvc.cli", *arguments, "--format", "json"],
        cwd=REPO_ROOT,
        env=environment(tmp_path / "qmvc"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode in exit_codes, (arguments, done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout)


def readme_section(title: str) -> str:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(f"\n## {title}\n")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else len(readme)]


def verdict_keys() -> set[str]:
    """The first column of the table in the README's "explain's JSON" section."""
    return set(
        re.findall(r"^\| `([a-z_]+)` \|", readme_section("explain's JSON: the verdict"), re.M)
    )


def documented_keys(command: str) -> set[str]:
    """The keys column of the command's row in the README's "JSON output" table."""
    rows = re.findall(
        r"^\| `qmvc ([a-z-]+)[^`]*` \|.*\| ([^|]*) \|$", readme_section("JSON output"), re.M
    )
    cells = {name: keys for name, keys in rows}
    if command not in cells:
        pytest.fail(
            f"README's JSON output table has no row for `qmvc {command}`: document its keys"
        )
    if "explain's JSON" in cells[command]:
        return verdict_keys()
    return set(re.findall(r"`([a-z_]+)`", cells[command]))


def keys_of_each(document: Any) -> list[set[str]]:
    """A list's objects' keys, or the object's own: what the README's table lists."""
    objects = document if isinstance(document, list) else [document]
    assert objects, "an empty list shows no keys: give the case input that yields an object"
    return [set(found) for found in objects]


# ---- a closed pipe ends a command quietly -------------------------------------------------


def into_head(arguments: list[str], tmp_path: Path) -> tuple[bytes, int, str]:
    """`qmvc ARGUMENTS | head -n 1`: the first line, qmvc's exit code and its stderr."""
    stderr_path = tmp_path / "stderr"
    with stderr_path.open("wb") as stderr:
        producer = subprocess.Popen(
            [sys.executable, "-m", "qmvc.cli", *arguments],
            cwd=REPO_ROOT,
            env=environment(tmp_path / "qmvc"),
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        assert producer.stdout is not None
        reader = subprocess.Popen(
            ["head", "-n", "1"], stdin=producer.stdout, stdout=subprocess.PIPE
        )
        producer.stdout.close()  # head holds the only read end: when it exits, the pipe closes
        first_line, _ = reader.communicate(timeout=120)
        exit_code = producer.wait(timeout=120)
    return first_line, exit_code, stderr_path.read_text(errors="replace")


def assert_ended_quietly(first_line: bytes, exit_code: int, stderr: str) -> None:
    assert first_line, "the command printed nothing: the pipe never closed under it"
    assert not [noise for noise in NOISE if noise in stderr], stderr
    assert stderr == ""
    assert exit_code == BROKEN_PIPE_EXIT


def maildir_of(path: Path, messages: list[Path], copies: int) -> Path:
    """A Maildir of `copies` messages, taken in turn from `messages` (its long file names
    make wide rows in explain's table)."""
    box = mailbox.Maildir(path, create=True)
    contents = [message.read_bytes() for message in messages]
    for index in range(copies):
        box.add(contents[index % len(contents)])
    return path


def log_of_viruses(path: Path, senders: int) -> Path:
    """A qmvc.log with one virus from each of `senders` distinct senders, and a broken line."""
    start = datetime(2024, 5, 1, 8, 0, 0)
    lines = [
        format_line(
            LogRecord(
                pid=index,
                start=start + timedelta(seconds=index),
                end=start + timedelta(seconds=index + 1),
                sender=f"sender{index}@infected.example",
                recipient=f"info{index % 97}@example.org",
                criteria=(("exe", "0"),),
                scanners=(("clamav", "1"),),
                exit_code=99,
                outcome="virus",
                viruses=(f"Worm.{index % 13}",),
            )
        )
        for index in range(senders)
    ]
    path.write_text("\n".join([*lines, "qmvc Pid:broken|not a log line"]) + "\n")
    return path


@pytest.mark.parametrize(("output_format", "copies"), [("text", 2000), ("json", 60)])
def test_explain_each_into_a_closed_pipe_ends_quietly(
    output_format: str, copies: int, tmp_path: Path
) -> None:
    quick = [m for m in sorted(CORPUS.glob("*.eml")) if not m.name.startswith("hostile-")]
    maildir = maildir_of(tmp_path / "Maildir", quick, copies)
    arguments = ["explain", "--each", "--no-scan", "--policy", DEFAULT_POLICY, str(maildir)]
    assert_ended_quietly(*into_head([*arguments, "--format", output_format], tmp_path))


@pytest.mark.parametrize("output_format", ["text", "json"])
def test_report_into_a_closed_pipe_ends_quietly(output_format: str, tmp_path: Path) -> None:
    log = log_of_viruses(tmp_path / "qmvc.log", senders=20_000)
    arguments = ["report", str(log), "--top", "100000", "--format", output_format]
    assert_ended_quietly(*into_head(arguments, tmp_path))


def test_a_usage_error_is_still_a_usage_error(tmp_path: Path) -> None:
    """The closed-pipe guard around every command must not swallow argparse's exit."""
    done = subprocess.run(
        [sys.executable, "-m", "qmvc.cli", "report", "--no-such-option"],
        cwd=REPO_ROOT,
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


# ---- every command's JSON has the documented keys -------------------------------------------


def check_policy_json(tmp_path: Path, documented: set[str]) -> None:
    good = qmvc_json(tmp_path, "check-policy", DEFAULT_POLICY)
    broken = qmvc_json(
        tmp_path,
        "check-policy",
        "tests/policies/bad/undefined-list.qmvc",
        "tests/policies/bad/syntax-misspelled-keyword.qmvc",
        exit_codes=(1,),
    )
    assert [report["ok"] for report in [*good, *broken]] == [True, False, False]
    assert keys_of_each(good) + keys_of_each(broken) == [documented] * 3


def explain_json(tmp_path: Path, documented: set[str]) -> None:
    single = qmvc_json(
        tmp_path,
        "explain",
        "--no-scan",
        "--policy",
        DEFAULT_POLICY,
        str(CORPUS / "sample-exe-attachment.eml"),
    )
    assert keys_of_each(single) == [documented]
    corpus = sorted(CORPUS.glob("*.eml"))
    maildir = maildir_of(tmp_path / "Maildir", corpus, len(corpus))
    each = qmvc_json(
        tmp_path, "explain", "--each", "--no-scan", "--policy", DEFAULT_POLICY, str(maildir)
    )
    assert len(each) == len(corpus)
    assert keys_of_each(each) == [{"message", "verdict"}] * len(corpus)
    assert [set(item["verdict"]) for item in each] == [documented] * len(corpus)


def notice_json(tmp_path: Path, documented: set[str]) -> None:
    preview = qmvc_json(
        tmp_path,
        "notice",
        "--preview",
        "--no-scan",
        "--policy",
        DEFAULT_POLICY,
        str(CORPUS / "sample-exe-attachment.eml"),
    )
    assert keys_of_each(preview) == [documented]
    assert preview["notices"], "the sample should cause notices"


def report_json(tmp_path: Path, documented: set[str]) -> None:
    summary = qmvc_json(tmp_path, "report", str(log_of_viruses(tmp_path / "qmvc.log", senders=3)))
    assert keys_of_each(summary) == [documented]
    assert (summary["messages"], summary["malformed"]) == (3, 1)


def update_signatures_json(tmp_path: Path, documented: set[str]) -> None:
    script = tmp_path / "update.sh"
    script.write_text("#!/bin/sh\necho 'signatures are up to date'\n")
    script.chmod(0o755)
    engines = {
        "no update command": "scanner trend command engine vscan timeout 1m",
        "signatures are up to date": f'scanner trend clamd socket "/none.sock" update "{script}"',
    }
    for output, engine in engines.items():
        policy = tmp_path / "policy.qmvc"
        policy.write_text(
            f'{engine}\nprofile p default {{\n  scan trend\n  on virus {{ keep "q" }}\n}}\n'
        )
        results = qmvc_json(tmp_path, "update-signatures", "--policy", str(policy))
        assert keys_of_each(results) == [documented]
        assert (results[0]["ok"], results[0]["output"]) == (True, output)


def doctor_json(tmp_path: Path, documented: set[str]) -> None:
    """The default policy's clamd socket is absent here: a finding, exit 1, still JSON."""
    result = qmvc_json(tmp_path, "doctor", "--policy", DEFAULT_POLICY, exit_codes=(0, 1))
    assert keys_of_each(result) == [documented]
    assert set(result["checks"][0]) == {"check", "status", "detail", "fix"}


def fmt_json(tmp_path: Path, documented: set[str]) -> None:
    squeezed = tmp_path / "squeezed.qmvc"
    squeezed.write_text("profile p default {on clean {deliver}}\n")
    results = qmvc_json(tmp_path, "fmt", DEFAULT_POLICY, str(squeezed))
    assert keys_of_each(results) == [documented] * 2
    assert [(r["changed"], bool(r["diff"])) for r in results] == [(False, False), (True, True)]
    assert results[1]["formatted"] == "profile p default {\n  on clean { deliver }\n}\n"


def qmvc_test_json(tmp_path: Path, documented: set[str]) -> None:
    results = qmvc_json(tmp_path, "test", "--policy", DEFAULT_POLICY, "--coverage")
    assert keys_of_each(results) == [documented]
    assert results[0]["failed"] == 0 and results[0]["uncovered"]
    assert set(results[0]["cases"][0]) == {"file", "name", "ok", "failures", "verdict", "deciding"}


JSON_CASES: dict[str, Callable[[Path, set[str]], None]] = {
    "doctor": doctor_json,
    "fmt": fmt_json,
    "test": qmvc_test_json,
    "check-policy": check_policy_json,
    "explain": explain_json,
    "notice": notice_json,
    "report": report_json,
    "update-signatures": update_signatures_json,
}
"""How to run each command on realistic input, checking its JSON against the README."""


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_json_output_has_exactly_the_documented_keys(command: str, tmp_path: Path) -> None:
    if command not in JSON_CASES:
        pytest.fail(
            f"`qmvc {command}` has no JSON case: add one to JSON_CASES in {Path(__file__).name} "
            "(run it on realistic input with --format json) and document its keys in the "
            "README's JSON output table"
        )
    JSON_CASES[command](tmp_path, documented_keys(command))


def test_the_json_output_table_names_only_existing_commands() -> None:
    rows = re.findall(r"^\| `qmvc ([a-z-]+)", readme_section("JSON output"), re.M)
    assert set(rows) <= set(COMMANDS)
