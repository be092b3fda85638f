"""Safe delivery into a Maildir, the way qmail-local does it.

A message is written to tmp/ under a unique name, flushed and fsynced, then renamed into
new/ and the directory fsynced. A reader of new/ therefore sees either nothing or the whole
message; any failure removes the tmp file and raises, so the caller can defer (exit 111)
with the message still safe in qmail's queue.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

MAILDIR_SUBDIRS = ("tmp", "new", "cur")
_delivery_counter = itertools.count(1)


def unique_name(now: float | None = None) -> str:
    """`time.M<usec>P<pid>Q<counter>.<host>`: unique per host, process and delivery.

    The counter makes two deliveries by one process within the same microsecond distinct;
    `/` and `:` in the host name are escaped as the Maildir specification asks.
    """
    stamp = time.time() if now is None else now
    seconds = int(stamp)
    micros = int((stamp - seconds) * 1_000_000)
    host = os.uname().nodename.replace("/", "\\057").replace(":", "\\072")
    return f"{seconds}.M{micros}P{os.getpid()}Q{next(_delivery_counter)}.{host}"


def ensure_maildir(maildir: Path) -> None:
    """Create the Maildir and its tmp/new/cur (mode 0700) if missing; existing ones are kept."""
    for sub in MAILDIR_SUBDIRS:
        os.makedirs(maildir / sub, mode=0o700, exist_ok=True)


def _write_all(fd: int, data: bytes) -> None:
    """os.write may write less than asked (signals, pipes): loop until all is out."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view[: 1 << 20])
        view = view[written:]


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable: fsync the directory that now holds the name."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def deliver_to_maildir(maildir: Path, message: bytes, prepend: bytes = b"") -> Path:
    """Deliver `prepend + message` into maildir/new and return the new file's path.

    `prepend` carries the Delivered-To/Return-Path lines (DTLINE, RPLINE) as qmail-local
    would add them. Raises OSError on any failure and never leaves a partial file in new/.
    A failing fsync of new/ after the rename still raises: a retry that delivers twice is
    better than a message lost in a crash.
    """
    ensure_maildir(maildir)
    name = unique_name()
    tmp_path = maildir / "tmp" / name
    new_path = maildir / "new" / name
    try:  # the open too: a SIGTERM just after it must not leave the created file in tmp/
        fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            _write_all(fd, prepend)
            _write_all(fd, message)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp_path, new_path)
    except FileExistsError:
        raise  # O_EXCL met another delivery's file of this name: not ours to remove
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    _fsync_directory(maildir / "new")
    return new_path
