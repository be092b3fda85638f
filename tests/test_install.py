"""The README's qmail installation, done for real: a venv outside any home directory with a
non-editable install, a policy under an `/etc/qmvc`-like directory, and `qmvc deliver` run
by an unprivileged user (created here with useradd) the way qmail-local runs a `.qmail`
line: the message on stdin, qmail's environment, the user's uid, a real Maildir.

The venv is built by the system's /usr/bin/python3 (Debian's, with python3-venv), since the
user cannot run an interpreter under root's 0700 home; pip fetches the dependencies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from qmvc.logs.line import parse_line
from tests.deliver_support import badmail_message, clean_message, qmail_environ
from tests.doctor_support import CannotTest, UnprivilegedUser, unprivileged_user

REPO = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = "/usr/bin/python3"
POLICY = """\
# The installation test's policy: the default's rules, no scanner, one quarantine.
list dangerous_names from "lists/dangerous-names.txt"
profile standard default {
  badmail filename when any attachment.name matches list dangerous_names
  on badmail { keep "quarantine/badmail" }
  on clean   { deliver }
}
"""


@pytest.fixture(scope="module")
def installed() -> Iterator[Path]:
    """/opt/qmvc, in a directory under /tmp that every user may enter: its `bin/qmvc`."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"{SYSTEM_PYTHON} is needed to build a venv other users can run")
    opt = Path(tempfile.mkdtemp(prefix="qmvc-opt-", dir="/tmp"))
    opt.chmod(0o755)
    try:
        venv = opt / "qmvc"
        subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(venv)], check=True, timeout=300)
        source = opt / "source"  # pip builds in the tree: a copy keeps the checkout clean
        shutil.copytree(
            REPO,
            source,
            ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__", ".*cache"),
        )
        subprocess.run(
            [
                str(venv / "bin" / "pip"),
                "install",
                "-q",
                "--disable-pip-version-check",
                str(source),
            ],
            check=True,
            timeout=600,
        )
        etc = opt / "etc" / "qmvc"
        etc.mkdir(parents=True)
        (etc / "policy.qmvc").write_text(POLICY)
        shutil.copytree(REPO / "policies" / "lists", etc / "lists")
        for path in [opt, *opt.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o444 | (0o111 if path.is_dir() else 0))
        yield venv / "bin" / "qmvc"
    finally:
        shutil.rmtree(opt, ignore_errors=True)


@pytest.fixture
def user() -> Iterator[UnprivilegedUser]:
    try:
        with unprivileged_user() as created:
            yield created
    except CannotTest as reason:
        pytest.skip(str(reason))


def deliver_as(
    user: UnprivilegedUser, qmvc: Path, message: bytes
) -> subprocess.CompletedProcess[bytes]:
    """`|/opt/qmvc/bin/qmvc deliver` from the user's .qmail, as qmail-local runs it."""
    recipient = f"{user.name}@example.com"
    environment = qmail_environ(user.home, recipient=recipient)
    environment.pop("PYTHONPATH")
    environment.update(USER=user.name, QMVC_POLICY=str(qmvc.parents[2] / "etc/qmvc/policy.qmvc"))
    return subprocess.run(
        [str(qmvc), "deliver"],
        input=message,
        env=environment,
        user=user.uid,
        group=user.gid,
        extra_groups=[user.gid],
        cwd=user.home,
        capture_output=True,
        timeout=120,
    )


def test_an_unprivileged_user_delivers_with_the_installed_qmvc(
    installed: Path, user: UnprivilegedUser
) -> None:
    clean = deliver_as(user, installed, clean_message())
    assert clean.returncode == 0, clean.stderr.decode()
    message = badmail_message()
    badmail = deliver_as(user, installed, message)
    assert badmail.returncode == 99, badmail.stderr.decode()
    qmvc_dir = user.home / ".qmvc"
    assert qmvc_dir.stat().st_uid == user.uid and (qmvc_dir.stat().st_mode & 0o777) == 0o700
    [kept] = list((qmvc_dir / "quarantine" / "badmail" / "new").iterdir())
    assert kept.stat().st_uid == user.uid
    assert kept.read_bytes().endswith(message)
    records = [parse_line(line) for line in (qmvc_dir / "qmvc.log").read_text().splitlines()]
    assert [(r.outcome, r.exit_code) for r in records] == [("clean", 0), ("badmail", 99)]
    assert (qmvc_dir / "cache").is_dir()  # the compiled policy is cached for the next one
