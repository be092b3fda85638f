"""What `qmvc doctor`'s tests need from the machine: a real unprivileged user, a Python that
user can run qmvc with, and a clamd database that has a version and a date.

The user is made with `useradd` (so these tests need root, and skip without it), with its
own group only, a home under a directory everyone may enter, and a unique name, so that
parallel runs do not collide; `userdel` removes it at the end. Files the user must read
live under that directory too: pytest's own temporary directories are closed to others.
"""

from __future__ import annotations

import hashlib
import io
import os
import pwd
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEPENDENCIES = ("lark", "jinja2", "markupsafe")
"""The third-party packages `qmvc doctor` imports (rich only on a terminal)."""
SYSTEM_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3")


class CannotTest(RuntimeError):
    """This machine lacks what the test needs (root, useradd, a Python the user can run)."""


@dataclass(frozen=True, slots=True)
class UnprivilegedUser:
    name: str
    uid: int
    gid: int
    home: Path
    shared: Path
    """A directory everyone may enter, for the files the user must read."""


@contextmanager
def unprivileged_user() -> Iterator[UnprivilegedUser]:
    """A fresh user with its own group, removed afterwards."""
    if os.geteuid() != 0:
        raise CannotTest("creating the delivering user with useradd needs root")
    if shutil.which("useradd") is None:
        raise CannotTest("useradd is not installed (Debian's passwd package)")
    name = f"qmvcdoc{uuid.uuid4().hex[:12]}"
    shared = Path(tempfile.mkdtemp(prefix="qmvc-doctor-", dir="/tmp"))
    shared.chmod(0o755)
    home = shared / "home"
    command = ["useradd", "--no-create-home", "--home-dir", str(home)]
    command += ["--shell", "/usr/sbin/nologin", "--user-group", name]
    subprocess.run(command, check=True, capture_output=True)
    try:
        entry = pwd.getpwnam(name)
        home.mkdir(mode=0o755)
        os.chown(home, entry.pw_uid, entry.pw_gid)
        yield UnprivilegedUser(name, entry.pw_uid, entry.pw_gid, home, shared)
    finally:
        subprocess.run(["userdel", name], capture_output=True)
        subprocess.run(["groupdel", name], capture_output=True)  # when userdel left it
        shutil.rmtree(shared, ignore_errors=True)


def as_user_environment(user: UnprivilegedUser, pythonpath: str) -> dict[str, str]:
    """The environment qmail-local would give: the user's HOME, no QMVC_DIR from ours."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("QMVC_", "PYTHON"))}
    environment.update(
        HOME=str(user.home),
        USER=user.name,
        LOGNAME=user.name,
        PYTHONPATH=pythonpath,
        PYTHONDONTWRITEBYTECODE="1",
    )
    return environment


def run_as(
    user: UnprivilegedUser, argv: list[str], pythonpath: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """argv with the user's uid and its one group, as qmail-lspawn starts qmail-local."""
    return subprocess.run(
        argv,
        env=as_user_environment(user, pythonpath),
        user=user.uid,
        group=user.gid,
        extra_groups=[user.gid],
        cwd=user.home,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def user_python(user: UnprivilegedUser) -> tuple[str, str]:
    """(interpreter, PYTHONPATH) with which the user can run qmvc from this checkout.

    This interpreter first; when the user cannot run it (a Python under root's 0700 home),
    another Python 3.11+ on the machine, given copies of qmvc's dependencies in a directory
    the user can read. Raises CannotTest when no interpreter will do.
    """
    copies = user.shared / "site-packages"
    if not copies.exists():
        copies.mkdir(mode=0o755)
        for package in DEPENDENCIES:
            source = Path(__import__(package).__file__ or "").parent
            shutil.copytree(source, copies / package, ignore=shutil.ignore_patterns("__pycache__"))
    pythonpath = f"{REPO}{os.pathsep}{copies}"
    imports = "import qmvc.commands.doctor, qmvc.policy.policy, lark, jinja2"
    tried: list[str] = []
    for interpreter in dict.fromkeys((sys.executable, *SYSTEM_PYTHONS)):
        try:
            probe = run_as(user, [interpreter, "-c", imports], pythonpath)
        except OSError as error:  # the user may not execute it, or reach it
            tried.append(f"{interpreter}: {error.strerror}")
            continue
        if probe.returncode == 0:
            return interpreter, pythonpath
        tried.append(f"{interpreter}: {(probe.stderr.strip().splitlines() or ['?'])[-1]}")
    raise CannotTest(f"no Python that {user.name} can run qmvc with ({'; '.join(tried)})")


def write_daily_database(db_dir: Path, hdb_line: str, created: float) -> Path:
    """An unsigned ClamAV database (`daily.cud`) with version 27461 made at `created`.

    clamd reports the daily database's version and creation time in VERSION
    (`ClamAV 1.4.6/27461/Fri Nov 20 21:08:24 2026`), and loads a `.cud` without the
    official signature: a 512-byte header, then a tar.gz holding `daily.info` (the same
    header, then name:size:sha256 of each file) and the signatures themselves.
    """
    db_dir.mkdir(parents=True, exist_ok=True)
    stime = int(created)
    made = time.strftime("%d %b %Y %H-%M +0000", time.gmtime(stime))
    header = f"ClamAV-VDB:{made}:27461:1:90:{'0' * 32}:unsigned:qmvc-tests:{stime}"
    signatures = hdb_line.encode()
    info = f"{header}\ndaily.hdb:{len(signatures)}:{hashlib.sha256(signatures).hexdigest()}\n"
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in (("daily.info", info.encode()), ("daily.hdb", signatures)):
            member = tarfile.TarInfo(name)
            member.size, member.mtime = len(data), stime
            tar.addfile(member, io.BytesIO(data))
    database = db_dir / "daily.cud"
    database.write_bytes(header.encode().ljust(512, b" ") + archive.getvalue())
    return database
