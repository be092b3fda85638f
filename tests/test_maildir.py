"""Maildir delivery on real directories: content, unique names, no trace of a failed write."""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from qmvc.actions import maildir as maildir_module
from qmvc.actions.maildir import deliver_to_maildir, unique_name

MESSAGE = b"From: a@example.org\nTo: b@example.org\nSubject: hi\n\nbody\n"
PROJECT = Path(__file__).resolve().parent.parent
IS_ROOT = os.geteuid() == 0


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KB tmpfs, so a write really fails with ENOSPC; we are root in CI."""
    if not IS_ROOT:
        pytest.skip("needs root to mount a tmpfs; RLIMIT_FSIZE test covers the fault")
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)], check=True
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_delivered_file_holds_prepend_and_message(tmp_path: Path) -> None:
    path = deliver_to_maildir(
        tmp_path / "Maildir", MESSAGE, prepend=b"Delivered-To: b@example.org\n"
    )
    assert path.parent == tmp_path / "Maildir" / "new"
    assert path.read_bytes() == b"Delivered-To: b@example.org\n" + MESSAGE
    assert os.listdir(tmp_path / "Maildir" / "tmp") == []


def test_missing_maildir_is_created_private(tmp_path: Path) -> None:
    maildir = tmp_path / "deep" / "quarantine"
    deliver_to_maildir(maildir, MESSAGE)
    for sub in ("tmp", "new", "cur"):
        assert (maildir / sub).stat().st_mode & 0o777 == 0o700


def test_binary_message_is_kept_byte_for_byte(tmp_path: Path) -> None:
    message = bytes(range(256)) * 4096 + b"\r\n.\r\n\x00"
    assert deliver_to_maildir(tmp_path / "M", message).read_bytes() == message


def test_unique_name_follows_maildir_convention() -> None:
    name = unique_name(1_700_000_000.25)
    assert re.fullmatch(rf"1700000000\.M250000P{os.getpid()}Q\d+\.[^/:]+", name)


def test_unique_name_escapes_slash_and_colon_in_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.uname", lambda: SimpleNamespace(nodename="a/b:c"))
    assert unique_name().endswith(".a\\057b\\072c")


def test_two_deliveries_by_one_process_in_the_same_microsecond_are_two_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the counter tells them apart: same clock reading, same pid, same host."""
    monkeypatch.setattr(maildir_module, "time", SimpleNamespace(time=lambda: 1_700_000_000.25))
    first = deliver_to_maildir(tmp_path / "M", MESSAGE + b"first\n")
    second = deliver_to_maildir(tmp_path / "M", MESSAGE + b"second\n")
    assert first != second
    assert sorted(path.read_bytes() for path in (tmp_path / "M" / "new").iterdir()) == [
        MESSAGE + b"first\n",
        MESSAGE + b"second\n",
    ]


def test_the_file_is_fsynced_before_its_rename_and_new_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a crash may not undo: the bytes (fsync of the file in tmp/) and the name in new/
    (fsync of the directory), both done before deliver_to_maildir returns."""
    events: list[tuple[str, ...]] = []
    real_fsync, real_rename = os.fsync, os.rename

    def recording_fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def recording_rename(source: str | Path, target: str | Path) -> None:
        events.append(("rename", os.path.realpath(source), os.path.realpath(target)))
        real_rename(source, target)

    monkeypatch.setattr(maildir_module.os, "fsync", recording_fsync)
    monkeypatch.setattr(maildir_module.os, "rename", recording_rename)
    maildir = Path(os.path.realpath(tmp_path)) / "M"
    path = deliver_to_maildir(maildir, MESSAGE)
    kept_in_tmp = str(maildir / "tmp" / path.name)
    assert events == [
        ("fsync", kept_in_tmp),
        ("rename", kept_in_tmp, str(path)),
        ("fsync", str(maildir / "new")),
    ]


def _deliver_one(maildir: str) -> str:
    return deliver_to_maildir(Path(maildir), MESSAGE + os.getpid().to_bytes(4, "big")).name


def test_200_concurrent_writers_get_200_distinct_intact_files(tmp_path: Path) -> None:
    maildir = tmp_path / "M"
    with multiprocessing.get_context("fork").Pool(16) as pool:
        names = pool.map(_deliver_one, [str(maildir)] * 200, chunksize=1)
    assert len(set(names)) == 200
    delivered = list((maildir / "new").iterdir())
    assert len(delivered) == 200
    assert all(path.read_bytes().startswith(MESSAGE) for path in delivered)


def _unwritable(maildir: Path) -> None:
    """Make an existing Maildir unwritable; root ignores modes, so it gets a read-only mount."""
    if IS_ROOT:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(maildir)], check=True
        )
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(maildir)], check=True)
    else:
        os.chmod(maildir / "tmp", 0o500)


def test_unwritable_maildir_raises_and_leaves_nothing(tmp_path: Path) -> None:
    maildir = tmp_path / "M"
    maildir.mkdir()
    if not IS_ROOT:
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir()
    _unwritable(maildir)
    try:
        with pytest.raises(OSError):
            deliver_to_maildir(maildir, MESSAGE)
        assert os.listdir(maildir / "tmp") == [] and os.listdir(maildir / "new") == []
    finally:
        if IS_ROOT:
            subprocess.run(["umount", str(maildir)], check=True)


def test_full_filesystem_raises_and_leaves_nothing(small_tmpfs: Path) -> None:
    maildir = small_tmpfs / "M"
    with pytest.raises(OSError) as raised:
        deliver_to_maildir(maildir, b"x" * 200_000)
    assert raised.value.errno == 28  # ENOSPC
    assert os.listdir(maildir / "new") == [] and os.listdir(maildir / "tmp") == []


def _run_child(code: str, maildir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), str(maildir)],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_file_size_limit_raises_and_leaves_nothing(tmp_path: Path) -> None:
    """The unprivileged way to make writes fail: RLIMIT_FSIZE in a child process."""
    child = _run_child(
        """
        import resource, signal, sys
        from pathlib import Path
        from qmvc.actions.maildir import deliver_to_maildir
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))
        try:
            deliver_to_maildir(Path(sys.argv[1]), b"x" * 200_000)
        except OSError as error:
            print(error.errno)
        """,
        tmp_path / "M",
    )
    out, err = child.communicate(timeout=30)
    assert out.strip() == b"27", err  # EFBIG
    assert os.listdir(tmp_path / "M" / "new") == [] and os.listdir(tmp_path / "M" / "tmp") == []


def test_sigterm_while_writing_leaves_nothing_in_new(tmp_path: Path) -> None:
    """The child announces its first 1 MB chunk is on disk and stalls; SIGTERM hits mid-write."""
    child = _run_child(
        """
        import os, sys, time
        from pathlib import Path
        from qmvc.actions import maildir
        real_write = os.write
        def slow_write(fd, data):
            written = real_write(fd, data)
            print("writing", flush=True)
            time.sleep(30)
            return written
        maildir.os.write = slow_write
        maildir.deliver_to_maildir(Path(sys.argv[1]), b"x" * (8 << 20))
        """,
        tmp_path / "M",
    )
    assert child.stdout is not None
    assert child.stdout.readline() == b"writing\n"
    tmp_files = list((tmp_path / "M" / "tmp").iterdir())
    assert len(tmp_files) == 1 and tmp_files[0].stat().st_size == 1 << 20
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=10) == -signal.SIGTERM
    assert os.listdir(tmp_path / "M" / "new") == []
