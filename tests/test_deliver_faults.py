"""Every fault ends in 111 (qmail keeps the message and retries) with a log line, and leaves
no partial file in any Maildir: qmvc never loses mail."""

from __future__ import annotations

import os
import pickle
import signal
import time
from pathlib import Path

import pytest

from tests.deliver_support import (
    QmailSetup,
    assert_no_traceback,
    badmail_message,
    clean_message,
    files_under,
    install_policy,
    mounted_tmpfs,
    prepended,
    qmail_setup,
    terminate,
    wait_for_file,
    wait_until_stdin_read,
)

BROKEN_POLICY = "profile standard default {\n  badmail filename when any attachment.nam\n"


@pytest.fixture
def qmail(tmp_path: Path) -> QmailSetup:
    return qmail_setup(tmp_path, "no-scanner.qmvc")


def assert_deferred_intact(qmail: QmailSetup, returncode: int, stderr: str) -> None:
    """111, a log line that says so, nothing in any new/ and no leftover in any tmp/."""
    assert returncode == 111, stderr
    assert_no_traceback(stderr)
    assert stderr.startswith("qmvc: ")
    records = qmail.log_records()
    assert records and records[-1].exit_code == 111
    assert records[-1].outcome in ("deferred", "badmail", "virus", "scanner-failure")
    assert files_under(qmail.qmvc_dir, "new") == []
    assert files_under(qmail.qmvc_dir, "tmp") == []


def test_quarantine_path_through_a_regular_file_defers(qmail: QmailSetup) -> None:
    """ENOTDIR fails for root too, unlike a chmod 0500 directory."""
    qmail.qmvc_dir.mkdir(parents=True)
    (qmail.qmvc_dir / "quarantine").write_text("not a directory\n")
    delivery = qmail.deliver(badmail_message())
    assert_deferred_intact(qmail, delivery.returncode, delivery.stderr)
    assert "keep in" in delivery.stderr


def test_read_only_quarantine_defers(qmail: QmailSetup) -> None:
    with mounted_tmpfs(qmail.qmvc_dir / "quarantine", "size=64k,ro"):
        delivery = qmail.deliver(badmail_message())
        assert_deferred_intact(qmail, delivery.returncode, delivery.stderr)
        assert "Read-only file system" in delivery.stderr


def test_full_disk_defers_and_cleans_tmp(qmail: QmailSetup) -> None:
    with mounted_tmpfs(qmail.qmvc_dir / "quarantine", "size=16k") as quarantine:
        delivery = qmail.deliver(badmail_message(attachment_size=100_000))
        assert_deferred_intact(qmail, delivery.returncode, delivery.stderr)
        assert "No space left on device" in delivery.stderr
        assert list((quarantine / "badmail" / "tmp").iterdir()) == []


def test_unusable_qmvc_dir_still_defers_badmail_and_says_so(tmp_path: Path) -> None:
    """Neither quarantine nor log can be written: 111 all the same, the reason on stderr."""
    qmail = qmail_setup(tmp_path, "no-scanner.qmvc")
    qmail.qmvc_dir.write_text("a file where QMVC_DIR should be\n")
    delivery = qmail.deliver(badmail_message())
    assert delivery.returncode == 111
    assert_no_traceback(delivery.stderr)
    assert "cannot write" in delivery.stderr and "keep in" in delivery.stderr


def test_missing_policy_defers(qmail: QmailSetup) -> None:
    qmail.policy.unlink()
    delivery = qmail.deliver(clean_message())
    assert_deferred_intact(qmail, delivery.returncode, delivery.stderr)
    assert str(qmail.policy) in delivery.stderr


def test_broken_policy_without_cache_defers(qmail: QmailSetup) -> None:
    qmail.policy.write_text(BROKEN_POLICY)
    delivery = qmail.deliver(clean_message())
    assert_deferred_intact(qmail, delivery.returncode, delivery.stderr)
    assert "does not compile" in delivery.stderr


def test_broken_policy_keeps_last_good_one_in_force(qmail: QmailSetup) -> None:
    assert qmail.deliver(clean_message()).returncode == 0
    qmail.policy.write_text(BROKEN_POLICY)
    delivery = qmail.deliver(badmail_message())
    assert delivery.returncode == 99
    assert "does not compile" in delivery.stderr and str(qmail.policy) in delivery.stderr
    assert_no_traceback(delivery.stderr)
    assert [r.exit_code for r in qmail.log_records()] == [0, 99]
    assert len(files_under(qmail.qmvc_dir)) == 1


def test_repaired_policy_is_used_again_without_complaint(qmail: QmailSetup) -> None:
    qmail.deliver(clean_message())
    good = qmail.policy.read_text()
    qmail.policy.write_text(BROKEN_POLICY)
    qmail.deliver(clean_message())
    install_policy("keep-and-deliver.qmvc", qmail.policy)
    assert good != qmail.policy.read_text()
    delivery = qmail.deliver(badmail_message())
    assert (delivery.returncode, delivery.stderr) == (0, "")


def _corrupt_garbage(data: bytes) -> bytes:
    return bytes(range(256)) * 8


def _corrupt_truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _corrupt_empty(data: bytes) -> bytes:
    return b""


def _corrupt_foreign_pickle(data: bytes) -> bytes:
    return pickle.dumps({"tree": "not a tree"})


@pytest.mark.parametrize(
    "corrupt", [_corrupt_garbage, _corrupt_truncated, _corrupt_empty, _corrupt_foreign_pickle]
)
def test_corrupt_cache_is_recompiled(qmail: QmailSetup, corrupt) -> None:  # type: ignore[no-untyped-def]
    qmail.deliver(clean_message())
    [cached] = (qmail.qmvc_dir / "cache").glob("policy-*.pickle")
    good_entry = cached.read_bytes()
    cached.write_bytes(corrupt(good_entry))
    delivery = qmail.deliver(badmail_message())
    assert (delivery.returncode, delivery.stderr) == (99, "")
    assert type(pickle.loads(cached.read_bytes())).__name__ == "CacheEntry"


def test_unwritable_cache_only_costs_speed(qmail: QmailSetup) -> None:
    qmail.qmvc_dir.mkdir(parents=True)
    (qmail.qmvc_dir / "cache").write_text("a file where the cache directory should be\n")
    for _ in range(2):
        delivery = qmail.deliver(badmail_message())
        assert (delivery.returncode, delivery.stderr) == (99, "")


def test_scanner_timeout_defers(tmp_path: Path) -> None:
    qmail = qmail_setup(tmp_path, "slow-scanner.qmvc")
    delivery = qmail.deliver(clean_message())
    assert_deferred_intact(qmail, delivery.returncode, delivery.stderr)
    assert "timed out" in delivery.stderr
    assert qmail.log_records()[-1].scanners == (("stuck", "F"),)
    assert delivery.seconds < 10


def test_time_budget_defers_a_slow_scan(tmp_path: Path) -> None:
    qmail = qmail_setup(tmp_path, "budget.qmvc")
    delivery = qmail.deliver(clean_message())
    assert_deferred_intact(qmail, delivery.returncode, delivery.stderr)
    assert "time budget exceeded" in delivery.stderr
    assert delivery.seconds < 4


def _assert_never_delivered_in_part(qmail: QmailSetup, message: bytes, returncode: int) -> None:
    """Killed or deferred: any file in new/ is whole (the rename is atomic); nothing in tmp/;
    no log line says the message was handled."""
    assert returncode in (111, -signal.SIGTERM)
    environ = qmail.environ()
    for kept in files_under(qmail.qmvc_dir, "new"):
        assert kept.stat().st_size == len(prepended(environ)) + len(message)
    assert files_under(qmail.qmvc_dir, "tmp") == []
    assert all(r.exit_code == 111 for r in qmail.log_records()[1:])


LARGE_BADMAIL = badmail_message(attachment_size=30_000_000)


def test_sigterm_while_writing_quarantine_leaves_no_partial_file(qmail: QmailSetup) -> None:
    qmail.deliver(clean_message())  # warm cache: the signal falls in the write, not the compile
    quarantine = qmail.maildir("quarantine/badmail")
    for _ in range(5):
        process = qmail.start(LARGE_BADMAIL)
        caught_writing = wait_for_file([quarantine / "tmp", quarantine / "new"], process)
        returncode, stderr = terminate(process)
        assert_no_traceback(stderr)
        if caught_writing and returncode != 99:
            break
        for kept in files_under(qmail.qmvc_dir, "new"):
            kept.unlink()
    else:
        pytest.fail("SIGTERM never arrived while the quarantine file was written")
    _assert_never_delivered_in_part(qmail, LARGE_BADMAIL, returncode)
    assert "SIGTERM" in stderr


def test_sigterm_while_parsing_defers_badmail(qmail: QmailSetup) -> None:
    """The MIME parser's own `except Exception` fallback must not swallow the signal and let
    the message through as clean (exit 0): parsing 40 MB takes some 400 ms after the read."""
    qmail.deliver(clean_message())
    process = qmail.start(LARGE_BADMAIL)
    assert wait_until_stdin_read(process, len(LARGE_BADMAIL))
    time.sleep(0.1)
    returncode, stderr = terminate(process)
    assert_deferred_intact(qmail, returncode, stderr)
    assert "Interrupted: SIGTERM" in stderr
    assert [(r.exit_code, r.outcome) for r in qmail.log_records()] == [
        (0, "clean"),
        (111, "deferred"),
    ]


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2, 0.4, 0.6, 0.8])
def test_sigterm_at_any_moment_loses_nothing(qmail: QmailSetup, delay: float) -> None:
    """From the end of the read to the log line: deferred, or (too late to stop) kept whole."""
    qmail.deliver(clean_message())
    process = qmail.start(LARGE_BADMAIL)
    wait_until_stdin_read(process, len(LARGE_BADMAIL))
    time.sleep(delay)
    returncode, stderr = terminate(process)
    assert_no_traceback(stderr)
    if returncode == 99:
        [kept] = files_under(qmail.qmvc_dir, "new")
        assert kept.read_bytes() == prepended(qmail.environ()) + LARGE_BADMAIL
    else:
        _assert_never_delivered_in_part(qmail, LARGE_BADMAIL, returncode)


def test_time_budget_also_ends_the_scanner_it_interrupted(tmp_path: Path) -> None:
    qmail = qmail_setup(tmp_path, "budget-stuck.qmvc")
    pid_file = tmp_path / "scanner.pid"
    delivery = qmail.deliver(
        clean_message(), qmail.environ(extra={"SCANNER_PID_FILE": str(pid_file)})
    )
    assert delivery.returncode == 111
    scanner_pid = int(pid_file.read_text())
    time.sleep(0.2)
    try:
        os.kill(scanner_pid, 0)
    except ProcessLookupError:
        return
    os.kill(scanner_pid, signal.SIGKILL)
    pytest.fail(f"scanner {scanner_pid} outlived the delivery that gave up on it")
