"""Real `qmvc deliver` processes against clamscan per message, on a small and a large database.

The seed's complaint: clamscan reloads the whole signature database for every message,
and a real ClamAV database holds millions of signatures. This benchmark builds a corpus
(10% of messages carry attachments: 1% EICAR, 1% a Windows program named setup.exe, the
rest a zip) and measures, per database, the same corpus both ways:

- qmvc: one real `qmvc deliver` process per message, as qmail-local runs it (the message
  on stdin from a file, qmail's environment, the home directory as working directory),
  with the shipped default policy: every message that is not a badmail is scanned by clamd.
  Only the clamd socket is changed, to the benchmark's own clamd, and the guards' notices
  go to an injector that reads the message and exits 0. The interpreter is a fresh venv's
  with a non-editable install of this checkout (see ../shared/README.md, "Measure in a
  fresh venv"); one delivery first fills the policy cache. Run sequentially, then by two
  concurrent workers (the machine has two cores). Every message's verdict is read back from
  qmvc.log: EICAR must come out as virus, setup.exe as badmail, the rest as clean.
- naive: `clamscan --database DIR --no-summary` on every message written as a file, no
  bypass. It is so slow that only a sample is timed; its per-message time is extrapolated.
  Its runs are spread between the sequential deliveries, so that the drift of a shared
  machine's load hits both sides alike; the sequential rate is messages over the sum of the
  delivery processes' wall times (the two-worker rate: over the pass's wall time).

The databases are a one-line EICAR `.hdb` and a synthetic one of 1,000,000 random MD5
signatures plus random-hex body signatures (`.ndb`). `python3 -c pass` is timed with the
venv's interpreter as the baseline every delivery process pays anyway. Target (issue 10):
qmvc deliver, sequential, at least 20x as many messages/s as clamscan per message, on the
large database.

Run: python3 bench/bench_scanners.py [--messages 300] [--sample 20] [--signatures 1000000]
     [--quick] [--venv DIR] [--head]        (exit 1 when a verdict is wrong or the target missed)
"""

from __future__ import annotations

import argparse
import io
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import BinaryIO

from common import PROJECT, committed_tree, qmail_environ, venv_with_qmvc

sys.path.insert(0, str(PROJECT))

from qmvc.logs.line import parse_line  # noqa: E402
from tests.clamd_support import EICAR, EICAR_HDB, find_clamd, running_clamd  # noqa: E402
from tests.deliver_support import PE_EXECUTABLE  # noqa: E402

SHIPPED_POLICY = Path("policies") / "default.qmvc"
TARGET_RATIO = 20.0
BODY_SIGNATURES = 20_000
WORKERS = 2
BASELINE_RUNS = 20
WORDS = ("mail", "filter", "qmail", "virus", "scan", "policy", "delivery", "report", "notice")
EXPECTED_EXIT = {"clean": 0, "badmail": 99, "virus": 99}
INJECTOR_SCRIPT = (
    "#!/bin/sh\n# Takes a notice like a sendmail would and drops it.\nexec cat >/dev/null\n"
)


@dataclass(frozen=True, slots=True)
class Mail:
    message_id: str
    raw: bytes
    kind: str  # "plain", "zip", "exe" or "eicar"

    @property
    def has_attachment(self) -> bool:
        return self.kind != "plain"

    @property
    def expected(self) -> str:
        return {"eicar": "virus", "exe": "badmail"}.get(self.kind, "clean")


@dataclass(frozen=True, slots=True)
class Delivered:
    mail: Mail
    seconds: float
    cpu_seconds: float
    exit_code: int


@dataclass(frozen=True, slots=True)
class Pass:
    """One run of the whole corpus through `qmvc deliver`."""

    deliveries: list[Delivered]
    seconds: float
    clamd_cpu_seconds: float
    verdicts: Counter[str]
    mismatches: list[str]

    @property
    def messages_per_second(self) -> float:
        return len(self.deliveries) / self.seconds

    @property
    def cpu_ms_per_message(self) -> tuple[float, float]:
        """(qmvc deliver's own, clamd's share) CPU time per message, in ms."""
        own = sum(delivered.cpu_seconds for delivered in self.deliveries)
        return own * 1000 / len(self.deliveries), self.clamd_cpu_seconds * 1000 / len(
            self.deliveries
        )


@dataclass(frozen=True, slots=True)
class Naive:
    messages_per_second: float
    cpu_ms_per_message: float
    sampled: int
    found: int
    eicar_in_sample: int
    wrong: list[str]


# ---- the corpus and the databases ----------------------------------------------------------


def build_corpus(count: int, rng: random.Random) -> list[Mail]:
    """`count` messages: every 10th has an attachment; of each 100, one EICAR, one setup.exe."""
    return [_mail(index, rng) for index in range(count)]


def _mail(index: int, rng: random.Random) -> Mail:
    message_id = f"<bench.{index}@example.org>"
    message = EmailMessage()
    message["From"] = f"sender{index}@example.org"
    message["To"] = "bob@example.com"
    message["Subject"] = f"message {index}"
    message["Message-ID"] = message_id
    message.set_content(" ".join(rng.choices(WORDS, k=rng.randint(50, 600))) + "\n")
    kind = "plain"
    if index % 100 == 55:
        kind = "eicar"
        message.add_attachment(
            EICAR, maintype="application", subtype="octet-stream", filename="test.txt"
        )
    elif index % 100 == 25:
        kind = "exe"
        message.add_attachment(
            PE_EXECUTABLE + rng.randbytes(30_000),
            maintype="application",
            subtype="octet-stream",
            filename="setup.exe",
        )
    elif index % 10 == 5:
        kind = "zip"
        message.add_attachment(
            _zip_of(rng.randbytes(20_000)),
            maintype="application",
            subtype="zip",
            filename="report.zip",
        )
    return Mail(message_id, message.as_bytes(), kind)


def _zip_of(content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.bin", content)
    return buffer.getvalue()


def write_large_db(db_dir: Path, signatures: int, rng: random.Random) -> int:
    """Random MD5 hash signatures and random-hex body signatures, plus EICAR's line; returns
    how many of them are body signatures."""
    bodies_count = min(BODY_SIGNATURES, signatures // 50)
    db_dir.mkdir(parents=True)
    (db_dir / "eicar.hdb").write_text(EICAR_HDB)
    with open(db_dir / "synthetic.hdb", "w") as hashes:
        for number in range(signatures - bodies_count):
            size = rng.randint(100, 5_000_000)
            hashes.write(f"{rng.randbytes(16).hex()}:{size}:Bench.Hash.{number}\n")
    with open(db_dir / "synthetic.ndb", "w") as bodies:
        for number in range(bodies_count):
            bodies.write(f"Bench.Body.{number}:0:*:{rng.randbytes(rng.randint(12, 24)).hex()}\n")
    return bodies_count


# ---- qmvc deliver --------------------------------------------------------------------------


def bench_policy(directory: Path, shipped: Path, socket_path: str, injector: Path) -> Path:
    """The shipped default policy (`shipped`, from the tree that was installed) with the clamd
    socket replaced and an injector added, its lists beside it as in policies/."""
    directory.mkdir(parents=True)
    text, replaced = re.subn(
        r'(?m)^(scanner \S+ clamd socket )"[^"]*"',
        lambda match: f'{match.group(1)}"{socket_path}"',
        shipped.read_text(encoding="utf-8"),
    )
    if replaced != 1:
        raise RuntimeError(f"{shipped}: expected one clamd socket line, found {replaced}")
    text = f'injector "{injector}"\n\n{text}'
    policy = directory / shipped.name
    policy.write_text(text, encoding="utf-8")
    shutil.copytree(shipped.parent / "lists", directory / "lists")
    return policy


def deliver(qmvc: Path, mail: Mail, message_file: Path, environ: dict[str, str]) -> Delivered:
    with message_file.open("rb") as stdin:
        seconds, cpu_seconds, code = run_child(
            [str(qmvc), "deliver"], stdin, environ, environ["HOME"]
        )
    return Delivered(mail, seconds, cpu_seconds, code)


def run_child(
    argv: list[str], stdin: BinaryIO | int, environ: dict[str, str] | None, cwd: str | None
) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, exit code) of one child, reaped by wait4: its CPU time
    counts the children it waited for (the notices' injector) too."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv,
        stdin=stdin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=environ,
        cwd=cwd,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_utime + usage.ru_stime, process.returncode


def clamd_pid(config: Path) -> int | None:
    """The process started as `clamd -c CONFIG`, found in /proc."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if str(config).encode() in argv:
                return int(entry.name)
    return None


def cpu_seconds_of(pid: int | None) -> float:
    """User + system time so far of a running process (all its threads); 0 if unknown."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_pass(
    qmvc: Path,
    corpus: list[Mail],
    files: list[Path],
    environ: dict[str, str],
    workers: int,
    clamd: int | None,
    naive: NaiveScans | None = None,
) -> Pass:
    """Every message through its own `qmvc deliver`. Sequentially, the figure is the sum of
    the processes' wall times, and `naive`'s clamscan runs are spread between the deliveries
    (outside that sum) so that the drift of a shared machine hits both sides alike."""
    log = Path(environ["QMVC_DIR"]) / "qmvc.log"
    log_start = log.stat().st_size if log.exists() else 0
    clamd_cpu = cpu_seconds_of(clamd)
    started = time.perf_counter()
    if workers == 1:
        scans = len(naive.sample) if naive else 0
        after = Counter(len(corpus) * (number + 1) // (scans + 1) for number in range(scans))
        deliveries = []
        for mail, path in zip(corpus, files, strict=True):
            deliveries.append(deliver(qmvc, mail, path, environ))
            for _ in range(after[len(deliveries)]):
                naive.scan_next()  # type: ignore[union-attr]
        seconds = sum(delivered.seconds for delivered in deliveries)
    else:
        with ThreadPoolExecutor(workers) as pool:
            deliveries = list(
                pool.map(
                    lambda pair: deliver(qmvc, *pair, environ), zip(corpus, files, strict=True)
                )
            )
        seconds = time.perf_counter() - started
    clamd_cpu = cpu_seconds_of(clamd) - clamd_cpu
    verdicts, mismatches = check_verdicts(deliveries, log, log_start)
    return Pass(deliveries, seconds, clamd_cpu, verdicts, mismatches)


def check_verdicts(
    deliveries: list[Delivered], log: Path, log_start: int
) -> tuple[Counter[str], list[str]]:
    """The outcome qmvc.log gives each message, against what the corpus says it must be."""
    with log.open("rb") as lines:
        lines.seek(log_start)
        records = [parse_line(line.decode("ascii")) for line in lines]
    outcomes: dict[str, list[str]] = {}
    for record in records:
        outcomes.setdefault(record.message_id, []).append(record.outcome)
    verdicts: Counter[str] = Counter()
    mismatches = []
    for delivered in deliveries:
        mail = delivered.mail
        logged = outcomes.get(mail.message_id, [])
        outcome = logged[0] if len(logged) == 1 else f"{len(logged)} log lines"
        verdicts[outcome] += 1
        if outcome != mail.expected or delivered.exit_code != EXPECTED_EXIT[mail.expected]:
            mismatches.append(
                f"{mail.message_id} ({mail.kind}): {outcome}, exit {delivered.exit_code}; "
                f"expected {mail.expected}, exit {EXPECTED_EXIT[mail.expected]}"
            )
    return verdicts, mismatches


def baseline_seconds(python: Path, runs: int = BASELINE_RUNS) -> float:
    """Median wall time of `python3 -c pass` with the venv's interpreter."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([str(python), "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# ---- clamscan per message ------------------------------------------------------------------


@dataclass
class NaiveScans:
    """clamscan on a sample of the corpus, one message at a time, each its own process that
    loads the whole database: the naive way, timed on a sample and extrapolated."""

    db_dir: Path
    sample: list[Mail]
    paths: list[Path]
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    found: int = 0
    wrong: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, corpus: list[Mail], db_dir: Path, size: int, workdir: Path) -> NaiveScans:
        sample = _sample(corpus, size)
        paths = [workdir / f"naive-{number}.eml" for number in range(len(sample))]
        for mail, path in zip(sample, paths, strict=True):
            path.write_bytes(mail.raw)
        return cls(db_dir, sample, paths)

    def scan_next(self) -> None:
        if len(self.seconds) == len(self.sample):
            return
        mail, path = self.sample[len(self.seconds)], self.paths[len(self.seconds)]
        argv = ["clamscan", f"--database={self.db_dir}", "--no-summary", str(path)]
        seconds, cpu_seconds, code = run_child(argv, subprocess.DEVNULL, None, None)
        self.seconds.append(seconds)
        self.cpu_seconds.append(cpu_seconds)
        infected = code == 1
        self.found += infected
        if code not in (0, 1) or infected != (mail.kind == "eicar"):
            self.wrong.append(f"{mail.message_id} ({mail.kind}): clamscan exit {code}")

    def result(self) -> Naive:
        while len(self.seconds) < len(self.sample):
            self.scan_next()
        eicar = sum(mail.kind == "eicar" for mail in self.sample)
        per_message = sum(self.seconds) / len(self.seconds)
        cpu_ms = sum(self.cpu_seconds) * 1000 / len(self.cpu_seconds)
        return Naive(1 / per_message, cpu_ms, len(self.sample), self.found, eicar, self.wrong)


def _sample(corpus: list[Mail], size: int) -> list[Mail]:
    """Roughly the corpus's mix, with at least one EICAR message to prove detection."""
    eicar = [mail for mail in corpus if mail.kind == "eicar"][:1]
    attached = [mail for mail in corpus if mail.has_attachment and mail.kind != "eicar"]
    plain = [mail for mail in corpus if not mail.has_attachment]
    attached = attached[: max(1, size // 10 - len(eicar))]
    return eicar + attached + plain[: size - len(eicar) - len(attached)]


# ---- one database --------------------------------------------------------------------------


def run_database(
    label: str,
    db_dir: Path,
    corpus: list[Mail],
    options: argparse.Namespace,
    python: Path,
) -> tuple[float, list[str]]:
    """Prints the figures for one database; returns the ratio and the wrong verdicts."""
    print(f"\n== database: {label}", flush=True)
    qmvc = python.parent / "qmvc"
    with tempfile.TemporaryDirectory(prefix="qmvc-bench-scanners-") as name:
        work = Path(name)
        files = []
        for mail in corpus:
            files.append(work / f"{len(files)}.eml")
            files[-1].write_bytes(mail.raw)
        injector = work / "injector"
        injector.write_text(INJECTOR_SCRIPT)
        injector.chmod(0o755)
        (work / "home").mkdir()
        started = time.perf_counter()
        with running_clamd(work / "clamd", db_dir, startup_seconds=900) as server:
            print(f"   clamd started in {time.perf_counter() - started:.1f} s (once)", flush=True)
            policy = bench_policy(work / "policy", options.shipped, server.socket_path, injector)
            environ = qmail_environ(work / "home", work / "home" / ".qmvc", policy)
            warm = deliver(qmvc, corpus[0], files[0], environ)
            if warm.exit_code != EXPECTED_EXIT[corpus[0].expected]:
                again = subprocess.run(
                    [str(qmvc), "deliver"],
                    input=corpus[0].raw,
                    capture_output=True,
                    env=environ,
                    cwd=environ["HOME"],
                )
                raise RuntimeError(
                    f"the warming delivery exited {warm.exit_code}: {again.stderr.decode()}"
                )
            clamd = clamd_pid(work / "clamd" / "clamd.conf")
            baseline = baseline_seconds(python)
            scans = NaiveScans.of(corpus, db_dir, options.sample, work)
            sequential = run_pass(qmvc, corpus, files, environ, 1, clamd, scans)
            naive = scans.result()
            concurrent = run_pass(qmvc, corpus, files, environ, WORKERS, clamd)

    print(
        f"   python3 -c pass (the venv's): {baseline * 1000:.1f} ms, median of {BASELINE_RUNS} "
        f"just before the deliveries; load average now {os.getloadavg()[0]:.1f}"
    )

    _print_pass("qmvc deliver, sequential", sequential, baseline, "sum of processes")
    _print_pass(f"qmvc deliver, {WORKERS} workers", concurrent, baseline, "wall of the pass")
    print(
        f"   naive clamscan per message : {naive.messages_per_second:8.2f} msg/s, "
        f"{1000 / naive.messages_per_second:7.1f} ms per message (timed {naive.sampled} of "
        f"{len(corpus)} between the sequential deliveries, extrapolated); found "
        f"{naive.found} virus(es), {naive.eicar_in_sample} EICAR in the sample; "
        f"CPU {naive.cpu_ms_per_message:.1f} ms per message"
    )
    ratio = sequential.messages_per_second / naive.messages_per_second
    own_cpu, clamd_cpu = sequential.cpu_ms_per_message
    print(
        f"   ratio qmvc deliver / clamscan per message, both sequential: {ratio:,.1f}x; "
        f"with {WORKERS} workers against sequential clamscan: "
        f"{concurrent.messages_per_second / naive.messages_per_second:,.1f}x; "
        f"by CPU time per message (less moved by other load): "
        f"{naive.cpu_ms_per_message / (own_cpu + clamd_cpu):,.1f}x"
    )
    wrong = sequential.mismatches + concurrent.mismatches + naive.wrong
    for line in wrong:
        print(f"   MISMATCH {line}")
    return ratio, wrong


def _print_pass(label: str, run: Pass, baseline: float, timed: str) -> None:
    by_kind: dict[str, list[float]] = {}
    for delivered in run.deliveries:
        by_kind.setdefault(delivered.mail.kind, []).append(delivered.seconds)
    every = [delivered.seconds for delivered in run.deliveries]
    medians = ", ".join(
        f"{kind} {statistics.median(seconds) * 1000:.1f}"
        for kind, seconds in sorted(by_kind.items(), key=lambda item: -len(item[1]))
    )
    verdicts = ", ".join(f"{outcome} {count}" for outcome, count in sorted(run.verdicts.items()))
    own_cpu, clamd_cpu = run.cpu_ms_per_message
    print(
        f"   {label:27}: {run.messages_per_second:8.2f} msg/s, "
        f"{run.seconds * 1000 / len(every):7.1f} ms per message ({timed} / messages); "
        f"each process: median {statistics.median(every) * 1000:.1f} ms "
        f"({statistics.median(every) / baseline:.1f}x python3 -c pass), by kind: {medians}"
    )
    print(
        f"   {'':27}  CPU per message: {own_cpu:.1f} ms qmvc deliver + {clamd_cpu:.1f} ms "
        f"clamd; verdicts: {verdicts}; "
        f"{len(run.mismatches) or 'no'} mismatch{'es' if len(run.mismatches) != 1 else ''}"
    )


# ---- main ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--sample", type=int, default=20, help="messages clamscan is timed on")
    parser.add_argument("--signatures", type=int, default=1_000_000)
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 60 messages, sample 4, 20,000 signatures"
    )
    parser.add_argument("--venv", type=Path, help="reuse this venv (made and filled if absent)")
    parser.add_argument(
        "--head",
        action="store_true",
        help="install the last commit rather than the work tree, which others may be editing",
    )
    options = parser.parse_args()
    if options.quick:
        options.messages, options.sample, options.signatures = 60, 4, 20_000
    find_clamd()
    if not shutil.which("clamscan"):
        raise SystemExit("clamscan is not installed (Debian's clamav package)")

    with tempfile.TemporaryDirectory(prefix="qmvc-bench-scanners-") as name:
        work = Path(name)
        source = committed_tree(work / "source") if options.head else PROJECT
        options.shipped = source / SHIPPED_POLICY
        python = venv_with_qmvc(options.venv or work / "venv", source)
        return bench(options, python, work)


def bench(options: argparse.Namespace, python: Path, work: Path) -> int:
    rng = random.Random(20020101)
    corpus = build_corpus(options.messages, rng)
    kinds = Counter(mail.kind for mail in corpus)
    sizes = sorted(len(mail.raw) for mail in corpus)
    print(
        f"corpus: {len(corpus)} messages, {sum(mail.has_attachment for mail in corpus)} with "
        f"attachments ({kinds['zip']} zip, {kinds['exe']} setup.exe, {kinds['eicar']} EICAR); "
        f"sizes {sizes[0]:,}-{sizes[-1]:,} bytes, median {statistics.median(sizes):,.0f}; "
        f"machine: {os.cpu_count()} CPUs"
    )
    print(
        f"interpreter: {python} (fresh venv, non-editable install); "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    small = work / "eicar-db"
    small.mkdir()
    (small / "eicar.hdb").write_text(EICAR_HDB)
    results = [run_database("one-line EICAR .hdb", small, corpus, options, python)]
    large = work / "large-db"
    started = time.perf_counter()
    bodies = write_large_db(large, options.signatures, rng)
    print(
        f"\n(generated {options.signatures:,} signatures, {bodies:,} of them .ndb body "
        f"signatures, in {time.perf_counter() - started:.1f} s)"
    )
    label = f"synthetic, {options.signatures:,} signatures"
    results.append(run_database(label, large, corpus, options, python))
    ratio = results[-1][0]
    verdict = "MET" if ratio >= TARGET_RATIO else "MISSED"
    wrong = sum(len(mismatches) for _, mismatches in results)
    print(
        f"\ntarget: qmvc deliver >= {TARGET_RATIO:g}x clamscan per message on the "
        f"{options.signatures:,}-signature database: {ratio:,.1f}x, {verdict}"
    )
    print(f"verdicts: {'all as expected' if not wrong else f'{wrong} MISMATCHES'}")
    return 0 if verdict == "MET" and not wrong else 1


if __name__ == "__main__":
    sys.exit(main())
