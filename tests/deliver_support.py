"""Drive `qmvc deliver` exactly as qmail-local does: a real process, real directories.

qmail-local runs `|qmvc deliver` with the message on stdin, its working directory in the
user's home and SENDER, RECIPIENT, USER, HOME, HOST, LOCAL, EXT, DTLINE, RPLINE, UFLINE and
NEWSENDER in the environment. `QmailSetup` builds that world under a test's tmp_path, runs
deliveries and reads back what they left: exit code, stderr, qmvc.log records, Maildir files.
"""

from __future__ import annotations

import os
import signal
import string
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest

from qmvc.logs.line import LogRecord, parse_line

PROJECT = Path(__file__).resolve().parent.parent
POLICIES = PROJECT / "tests" / "policies" / "deliver"
PROGRAMS = PROJECT / "tests" / "deliver_programs"
DELIVER_ARGV = (sys.executable, "-m", "qmvc.cli", "deliver")
DELIVERY_TIMEOUT_SECONDS = 120.0
QMAIL_EXIT_CODES = frozenset({0, 99, 100, 111})
SENDER = "alice@example.org"
RECIPIENT = "bob@example.com"

PE_EXECUTABLE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    + b"\x00" * 48
    + (b"PE\x00\x00L\x01\x03\x00" + b"\x00" * 200)
)
"""Enough of a Windows program for a name test; content sniffing is not what these tests test."""


def qmail_environ(
    home: Path,
    *,
    sender: str = SENDER,
    recipient: str = RECIPIENT,
    newsender: str | None = None,
    extra: Mapping[str, str] = {},
) -> dict[str, str]:
    """The variables qmail-local sets for a delivery to `recipient` (no extension)."""
    local, _, host = recipient.rpartition("@")
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(PROJECT),
        "SENDER": sender,
        "NEWSENDER": sender if newsender is None else newsender,
        "RECIPIENT": recipient,
        "USER": local or recipient,
        "HOME": str(home),
        "HOST": host,
        "LOCAL": local,
        "EXT": "",
        "DTLINE": f"Delivered-To: {recipient}\n",
        "RPLINE": f"Return-Path: <{sender}>\n",
        "UFLINE": f"From {sender or 'MAILER-DAEMON'} Thu Jan  1 00:00:00 2026\n",
        **extra,
    }


def prepended(environ: Mapping[str, str]) -> bytes:
    """What a quarantine file holds before the message: RPLINE, DTLINE (as qmail-local)."""
    return (environ["RPLINE"] + environ["DTLINE"]).encode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Delivery:
    """One finished `qmvc deliver` run; returncode < 0 means killed by that signal."""

    message: bytes
    environ: Mapping[str, str]
    returncode: int
    stderr: str
    seconds: float


@dataclass
class QmailSetup:
    """A user's home, QMVC_DIR inside it and a policy; deliveries run against these."""

    root: Path
    policy: Path
    home: Path = field(init=False)
    qmvc_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.home = self.root / "home"
        self.qmvc_dir = self.home / ".qmvc-test"
        self.home.mkdir(parents=True, exist_ok=True)

    def environ(self, **options: object) -> dict[str, str]:
        environ = qmail_environ(self.home, **options)  # type: ignore[arg-type]
        environ["QMVC_DIR"] = str(self.qmvc_dir)
        environ["QMVC_POLICY"] = str(self.policy)
        return environ

    def start(
        self, message: bytes, environ: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a delivery whose stdin is a file, as qmail-local's is."""
        environ = self.environ() if environ is None else environ
        message_file = self.root / f"message-{time.monotonic_ns()}.eml"
        message_file.write_bytes(message)
        with message_file.open("rb") as handle:
            process = subprocess.Popen(
                DELIVER_ARGV,
                stdin=handle,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=dict(environ),
                cwd=self.home,
            )
        message_file.unlink()
        return process

    def deliver(
        self,
        message: bytes,
        environ: Mapping[str, str] | None = None,
        timeout: float = DELIVERY_TIMEOUT_SECONDS,
    ) -> Delivery:
        environ = self.environ() if environ is None else environ
        started = time.monotonic()
        process = self.start(message, environ)
        _, stderr = process.communicate(timeout=timeout)
        return Delivery(
            message,
            environ,
            process.returncode,
            stderr.decode("utf-8", "replace"),
            time.monotonic() - started,
        )

    def log_records(self) -> list[LogRecord]:
        """Every qmvc.log line parsed; a line that does not parse fails the test here."""
        return log_records(self.qmvc_dir / "qmvc.log")

    def report_text(self) -> str:
        path = self.qmvc_dir / "qmvc.rep"
        return path.read_text() if path.exists() else ""

    def maildir(self, relative: str) -> Path:
        return self.qmvc_dir / relative


def qmail_setup(root: Path, policy_name: str, **values: object) -> QmailSetup:
    """A QmailSetup under `root` whose policy is tests/policies/deliver/`policy_name`."""
    return QmailSetup(root, install_policy(policy_name, root / "etc" / policy_name, **values))


def install_policy(name: str, destination: Path, **values: object) -> Path:
    """Copy tests/policies/deliver/NAME to destination with $programs, $python and `values`
    filled in (they sit inside quoted strings, so the files are valid policies as they are)."""
    text = (POLICIES / name).read_text()
    filled = string.Template(text).safe_substitute(
        programs=str(PROGRAMS), python=sys.executable, **{k: str(v) for k, v in values.items()}
    )
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(filled)
    return destination


def log_records(log_path: Path) -> list[LogRecord]:
    if not log_path.exists():
        return []
    data = log_path.read_bytes()
    assert data.isascii(), "qmvc.log must be printable ASCII"
    assert data == b"" or data.endswith(b"\n"), "qmvc.log ends in the middle of a line"
    return [parse_line(line) for line in data.decode("ascii").split("\n")[:-1]]


def files_under(directory: Path, sub: str = "new") -> list[Path]:
    """Every file in a `sub` folder (new, tmp, cur) of any Maildir under `directory`."""
    if not directory.exists():
        return []
    return sorted(
        path for path in directory.rglob("*") if path.is_file() and path.parent.name == sub
    )


def maildir_files(maildir: Path, sub: str = "new") -> list[Path]:
    folder = maildir / sub
    return sorted(folder.iterdir()) if folder.is_dir() else []


def assert_no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr


def clean_message(subject: str = "lunch on Friday", body_size: int = 2_000) -> bytes:
    """A plain text message without attachments."""
    message = _headers(subject)
    line = "Shall we meet for lunch on Friday at the usual place?\n"
    message.set_content(line * (body_size // len(line) + 1))
    return message.as_bytes()


def badmail_message(
    subject: str = "your invoice", attachment_size: int = 0, file_name: str = "invoice.exe"
) -> bytes:
    """A message carrying a Windows program named .exe: badmail under every test policy."""
    message = _headers(subject)
    message.set_content("Please find the invoice attached.\n")
    payload = PE_EXECUTABLE + os.urandom(max(0, attachment_size - len(PE_EXECUTABLE)))
    message.add_attachment(
        payload, maintype="application", subtype="octet-stream", filename=file_name
    )
    return message.as_bytes()


def _headers(subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Alice <{SENDER}>"
    message["To"] = f"Bob <{RECIPIENT}>"
    message["Subject"] = subject
    message["Message-ID"] = f"<{time.monotonic_ns()}.{os.getpid()}@example.org>"
    return message


def wait_for_file(
    directories: Iterable[Path], process: subprocess.Popen[bytes], timeout: float = 30.0
) -> bool:
    """Poll until a file appears in one of `directories` or the process ends; True if one did."""
    deadline = time.monotonic() + timeout
    folders = list(directories)
    while time.monotonic() < deadline and process.poll() is None:
        for folder in folders:
            try:
                if any(os.scandir(folder)):
                    return True
            except OSError:
                pass
        time.sleep(0.0005)
    return False


def terminate(process: subprocess.Popen[bytes]) -> tuple[int, str]:
    """SIGTERM, as qmail-send's shutdown or an admin's kill sends it; returns (code, stderr)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=DELIVERY_TIMEOUT_SECONDS)
    return process.returncode, stderr.decode("utf-8", "replace")


@contextmanager
def mounted_tmpfs(mount_point: Path, options: str) -> Iterator[Path]:
    """A tmpfs with `options` (size=16k, ro, ...) at mount_point; writes there really fail.

    Needs root (CI runs as root); the mount is removed on leaving the block."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount_point.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def wait_until_stdin_read(
    process: subprocess.Popen[bytes], size: int, timeout: float = 30.0
) -> bool:
    """Poll /proc until the delivery has read all `size` bytes of its stdin file (so it is
    parsing now); True if it did before ending."""
    deadline = time.monotonic() + timeout
    fdinfo = Path(f"/proc/{process.pid}/fdinfo/0")
    while time.monotonic() < deadline and process.poll() is None:
        try:
            position = int(fdinfo.read_text().split("\n", 1)[0].split()[1])
        except (OSError, IndexError, ValueError):
            position = -1
        if position >= size:
            return True
        time.sleep(0.0005)
    return False
