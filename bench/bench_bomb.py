"""A virus bomb through real `qmvc deliver` processes and a real clamd, with and without the
verdict cache: how many times clamd is asked to scan, and how many messages per second.

The bomb is tests/test_bombers.py's: COPIES copies of one mail with an EICAR attachment,
each with its own Message-ID, Date and To, to 50 addresses of one domain, from one sender.
The policy is tests/policies/deliver/bombers.qmvc (clamd, the bomber rule `same_sender`,
SQLite state, notices to an injector that drops them), run once with `verdict cache 1h`
and once with `verdict cache off`, each time in a fresh QMVC_DIR whose policy cache one
clean delivery has filled.

clamd is counted by a small Unix-socket proxy in front of it that relays every connection
and notes its command: `INSTREAM` is a scan (an infected message costs two: the message,
then its attachment alone to say where the virus was), `VERSION` is the verdict cache
asking for the signature version. The scans each delivery reports (`ran` or `cached` in
qmvc.rep) are counted too, and every copy's outcome is read back from qmvc.log.

The deliveries are run by a fresh venv's interpreter with a non-editable install of the
last commit (see ../shared/README.md, "Measure in a fresh venv"), WORKERS at a time (the
machine has two cores), with qmail-local's environment and the message on stdin from a file.
`python -c pass` with that interpreter is timed first, to show how busy the machine is.

Target (issue 11): with the cache, at least 10x fewer clamd scans than without.

Run: python3 bench/bench_bomb.py [--copies 1000] [--workers 2] [--venv DIR]
     (exit 1 when a copy was not kept as a virus, or the target is missed)
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from common import PROJECT, committed_tree, venv_with_qmvc

sys.path.insert(0, str(PROJECT))

from qmvc.logs.line import parse_line  # noqa: E402
from qmvc.logs.rep import parse_reports  # noqa: E402
from tests.clamd_support import running_clamd, write_eicar_db  # noqa: E402
from tests.deliver_support import clean_message, install_policy  # noqa: E402
from tests.test_bombers import BOMBER, HARVESTED, bomb_copy  # noqa: E402

TARGET_RATIO = 10.0
BASELINE_RUNS = 10
DROP_NOTICE = "#!/bin/sh\n# Takes a notice as a sendmail would and drops it.\nexec cat >/dev/null\n"


# ---- clamd, counted ------------------------------------------------------------------------


class CountingProxy:
    """A Unix socket in front of clamd's: relays each connection, counting its command."""

    def __init__(self, path: Path, upstream: str) -> None:
        self.path = path
        self.upstream = upstream
        self.commands: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        self._listener.listen(128)

    def __enter__(self) -> CountingProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self._listener.close()

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.commands)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        with client, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as upstream:
            try:
                upstream.connect(self.upstream)
                head = b""
                while b"\0" not in head and b"\n" not in head and len(head) < 64:
                    data = client.recv(4096)
                    if not data:
                        break
                    head += data
                command = head.replace(b"\n", b"\0").split(b"\0", 1)[0]
                with self._lock:
                    self.commands[command.decode("ascii", "replace").lstrip("zn")] += 1
                upstream.sendall(head)
                self._pump(client, upstream)
            except OSError:
                return

    @staticmethod
    def _pump(client: socket.socket, upstream: socket.socket) -> None:
        """Both ways until either side closes (clamd closes after each command)."""
        other = {client: upstream, upstream: client}
        while True:
            readable, _, _ = select.select([client, upstream], [], [], 120)
            if not readable:
                return
            for side in readable:
                data = side.recv(65536)
                if not data:
                    return
                other[side].sendall(data)


# ---- the installation and the deliveries ---------------------------------------------------


def installed_qmvc(venv: Path, workdir: Path) -> Path:
    """The `qmvc` program of a venv holding a non-editable install of the last commit
    (others may be editing the work tree); an existing venv is reused as it is."""
    if (venv / "bin" / "qmvc").exists():
        return venv / "bin" / "qmvc"
    return venv_with_qmvc(venv, committed_tree(workdir / "source")).parent / "qmvc"


def start_up_ms(python: Path) -> float:
    """Median wall time of `python -c pass`: the machine's load, in the units that count."""
    times = []
    for _ in range(BASELINE_RUNS):
        started = time.perf_counter()
        subprocess.run([str(python), "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def qmail_environ(
    home: Path, qmvc_dir: Path, policy: Path, recipient: str, sender: str = BOMBER
) -> dict[str, str]:
    """What qmail-local gives `|qmvc deliver` for a message to `recipient` (by default a
    copy from the bomber)."""
    local, _, host = recipient.partition("@")
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "USER": local,
        "SENDER": sender,
        "NEWSENDER": sender,
        "RECIPIENT": recipient,
        "HOST": host,
        "LOCAL": local,
        "EXT": "",
        "DTLINE": f"Delivered-To: {recipient}\n",
        "RPLINE": f"Return-Path: <{sender}>\n",
        "UFLINE": f"From {sender} Thu Jan  1 00:00:00 2026\n",
        "QMVC_DIR": str(qmvc_dir),
        "QMVC_POLICY": str(policy),
    }


@dataclass(frozen=True)
class Run:
    cache: str
    copies: int
    seconds: float
    commands: Counter[str]
    scans: Counter[str]
    outcomes: Counter[tuple[str, int]]
    kept: Counter[str]

    @property
    def messages_per_second(self) -> float:
        return self.copies / self.seconds

    @property
    def instreams(self) -> int:
        return self.commands["INSTREAM"]

    @property
    def all_kept(self) -> bool:
        return self.outcomes == {("virus", 99): self.copies} and sum(self.kept.values()) == (
            self.copies
        )


def bomb(
    workdir: Path, qmvc: Path, proxy: CountingProxy, injector: Path, cache: str, copies: int,
    workers: int,
) -> Run:  # fmt: skip
    """One bomb into a fresh QMVC_DIR, the verdict cache set to `cache` (1h or off)."""
    home = workdir / "home"
    qmvc_dir = home / ".qmvc"
    home.mkdir(parents=True)
    policy = install_policy(
        "bombers.qmvc",
        workdir / "etc" / "bombers.qmvc",
        clamd_socket=proxy.path,
        injector=injector,
        state="sqlite",
        cache=cache,
        quiet="1h",
    )
    messages = workdir / "messages"
    messages.mkdir()
    recipients = [HARVESTED[number % len(HARVESTED)] for number in range(copies)]
    for number, recipient in enumerate(recipients):
        (messages / f"{number}.eml").write_bytes(bomb_copy(number, recipient))
    (messages / "warm-up.eml").write_bytes(clean_message())

    def deliver(name: str, recipient: str, sender: str = BOMBER) -> int:
        with open(messages / f"{name}.eml", "rb") as stdin:
            return subprocess.run(
                [str(qmvc), "deliver"],
                stdin=stdin,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=qmail_environ(home, qmvc_dir, policy, recipient, sender),
                cwd=home,
                timeout=300,
            ).returncode

    deliver("warm-up", "postmaster@example.com", "alice@example.org")  # fills the policy cache
    before = proxy.snapshot()
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(deliver, map(str, range(copies)), recipients))
    seconds = time.perf_counter() - started
    commands = proxy.snapshot() - before
    records = [parse_line(line) for line in (qmvc_dir / "qmvc.log").read_text().splitlines()]
    outcomes = Counter((r.outcome, r.exit_code) for r in records if r.sender == BOMBER)
    scans = Counter(
        value.split()[1]
        for entry in parse_reports((qmvc_dir / "qmvc.rep").read_text())
        for key, value in entry
        if key == "scanner" and value.startswith("clamav ")
    )
    kept = Counter(
        {
            folder: len(list((qmvc_dir / "quarantine" / folder / "new").glob("*")))
            for folder in ("virus", "bombs")
        }
    )
    return Run(cache, copies, seconds, commands, scans, outcomes, kept)


def describe(run: Run) -> str:
    return (
        f"verdict cache {run.cache:>3}: {run.copies} copies in {run.seconds:6.1f} s ="
        f" {run.messages_per_second:5.1f} messages/s; clamd INSTREAM {run.instreams},"
        f" VERSION {run.commands['VERSION']}; scans ran {run.scans['ran']},"
        f" cached {run.scans['cached']}; kept virus {run.kept['virus']},"
        f" bombs {run.kept['bombs']}" + ("" if run.all_kept else f"; WRONG {dict(run.outcomes)}")
    )


@contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="bench-bomb-"))
    try:
        yield directory
    finally:
        if keep:
            print(f"kept {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--venv", type=Path, help="reuse (or make) the venv here")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args()
    with workspace(args.keep) as workdir:
        qmvc = installed_qmvc(args.venv or workdir / "venv", workdir)
        python = qmvc.parent / "python"
        injector = workdir / "drop-notice"
        injector.write_text(DROP_NOTICE)
        injector.chmod(0o755)
        baseline = start_up_ms(python)
        print(
            f"bomb: {args.copies} copies of one EICAR mail to {len(HARVESTED)} addresses from"
            f" {BOMBER}, {args.workers} concurrent `qmvc deliver` ({qmvc});"
            f" `python -c pass` {baseline:.0f} ms (median of {BASELINE_RUNS}), load"
            f" {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
            flush=True,
        )
        db = write_eicar_db(workdir / "db")
        with (
            running_clamd(workdir / "clamd", db) as clamd,
            CountingProxy(workdir / "proxy.sock", clamd.socket_path) as proxy,
        ):
            runs = []
            for cache in ("1h", "off"):
                run = bomb(
                    workdir / f"cache-{cache}", qmvc, proxy, injector, cache, args.copies,
                    args.workers,
                )  # fmt: skip
                print(describe(run), flush=True)
                runs.append(run)
        cached, uncached = runs
        ratio = uncached.instreams / max(1, cached.instreams)
        met = ratio >= TARGET_RATIO
        print(
            f"clamd scans (INSTREAM): {uncached.instreams} without the cache, {cached.instreams}"
            f" with it: {ratio:.0f}x fewer (target {TARGET_RATIO:g}x): "
            + ("MET" if met else "MISSED")
        )
        print(
            f"messages/s: {cached.messages_per_second:.1f} with the cache,"
            f" {uncached.messages_per_second:.1f} without"
            f" ({cached.messages_per_second / uncached.messages_per_second:.2f}x)"
        )
        return 0 if met and all(run.all_kept for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
