"""The edges of qmvc.actions.maildir: a kept file's mode, the name's microseconds field,
and which error a failed delivery raises when not even the tmp file could be made."""

from __future__ import annotations

import errno
import os
import re
import resource
import stat
from pathlib import Path

import pytest

from qmvc.actions.maildir import deliver_to_maildir, unique_name


def test_a_kept_message_is_readable_by_its_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    """Quarantined mail is private: 0600 even under the usual umask 022."""
    previous = os.umask(0o022)
    try:
        kept = deliver_to_maildir(tmp_path / "quarantine", b"Subject: x\n\nbody\n")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


@pytest.mark.parametrize(("stamp", "micros"), [(0.9999999, "999999"), (12.5, "500000"), (3.0, "0")])
def test_the_microseconds_field_counts_millionths_of_the_second(stamp: float, micros: str) -> None:
    """The Maildir name's M field is 0 to 999999: never a second's worth."""
    match = re.fullmatch(r"(\d+)\.M(\d+)P\d+Q\d+\..*", unique_name(stamp))
    assert match is not None and match[1] == str(int(stamp)) and match[2] == micros


def test_a_tmp_file_that_could_not_be_made_raises_the_reason_not_a_missing_file(
    tmp_path: Path,
) -> None:
    """Fault injection: the soft limit of open files is lowered to the lowest free
    descriptor, so the tmp file's open fails with EMFILE. The caller gets that error (the
    clean-up finds no file to remove and says nothing about it)."""
    maildir = tmp_path / "quarantine"
    lowest_free = os.open(os.devnull, os.O_RDONLY)
    os.close(lowest_free)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))
    try:
        with pytest.raises(OSError) as raised:
            deliver_to_maildir(maildir, b"Subject: x\n\nbody\n")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert raised.value.errno == errno.EMFILE
    assert list((maildir / "tmp").iterdir()) == [] and list((maildir / "new").iterdir()) == []
