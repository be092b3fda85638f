"""Naive clamscan-per-message against clamd with bypass, on a small and a large database.

The seed's complaint: clamscan reloads the whole signature database for every message,
and a real ClamAV database holds millions of signatures. This benchmark builds a corpus
(10% of messages carry attachments, 1% carry EICAR) and measures, per database:

- naive: `clamscan` run on every message written as a file, no bypass. It is so slow
  that only a sample is timed; the per-message figure is extrapolated to the corpus.
- clamd with bypass: only messages with an attachment go to clamd (a stand-in for the
  evaluator's bypass, which skips scanning when there is nothing to scan), through
  qmvc's ClamdScanner.

The databases are a one-line EICAR `.hdb` and a synthetic one of 1,000,000 random MD5
signatures plus random-hex body signatures (`.ndb`). `python3 -c pass` is timed in the
same run as the baseline every delivery process pays anyway.

Run: python3 bench/bench_scanners.py [--messages 300] [--sample 20] [--signatures 1000000]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qmvc.scanners.clamd import ClamdScanner  # noqa: E402
from qmvc.scanners.spec import ClamdAddress, ClamdSpec, Timeout  # noqa: E402
from tests.clamd_support import EICAR, EICAR_HDB, find_clamd, running_clamd  # noqa: E402

BODY_SIGNATURES = 20_000
WORDS = ("mail", "filter", "qmail", "virus", "scan", "policy", "delivery", "report", "notice")


@dataclass(frozen=True, slots=True)
class Mail:
    raw: bytes
    has_attachment: bool
    has_eicar: bool


@dataclass(frozen=True, slots=True)
class Measured:
    messages_per_second: float
    engine_calls: int
    viruses_found: int


def build_corpus(count: int, rng: random.Random) -> list[Mail]:
    """`count` messages: every 10th has an attachment, every 100th an EICAR one."""
    return [_mail(index, rng) for index in range(count)]


def _mail(index: int, rng: random.Random) -> Mail:
    message = EmailMessage()
    message["From"] = f"sender{index}@example.org"
    message["To"] = "user@example.net"
    message["Subject"] = f"message {index}"
    message.set_content(" ".join(rng.choices(WORDS, k=rng.randint(50, 600))) + "\n")
    has_attachment = index % 10 == 5
    has_eicar = index % 100 == 55
    if has_eicar:
        message.add_attachment(
            EICAR, maintype="application", subtype="octet-stream", filename="readme.com"
        )
    elif has_attachment:
        message.add_attachment(
            _zip_of(rng.randbytes(20_000)),
            maintype="application",
            subtype="zip",
            filename="report.zip",
        )
    return Mail(message.as_bytes(), has_attachment, has_eicar)


def _zip_of(content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.bin", content)
    return buffer.getvalue()


def write_large_db(db_dir: Path, signatures: int, rng: random.Random) -> None:
    """Random MD5 hash signatures and random-hex body signatures, plus EICAR's line."""
    db_dir.mkdir(parents=True)
    (db_dir / "eicar.hdb").write_text(EICAR_HDB)
    with open(db_dir / "synthetic.hdb", "w") as hashes:
        for number in range(signatures - BODY_SIGNATURES):
            size = rng.randint(100, 5_000_000)
            hashes.write(f"{rng.randbytes(16).hex()}:{size}:Bench.Hash.{number}\n")
    with open(db_dir / "synthetic.ndb", "w") as bodies:
        for number in range(BODY_SIGNATURES):
            bodies.write(f"Bench.Body.{number}:0:*:{rng.randbytes(rng.randint(12, 24)).hex()}\n")


def baseline_seconds(runs: int = 20) -> float:
    """Median wall time of `python3 -c pass`."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def measure_naive(corpus: list[Mail], db_dir: Path, sample_size: int) -> tuple[Measured, int]:
    """clamscan on a sample of the corpus, extrapolated: one engine call per message."""
    sample = _sample(corpus, sample_size)
    found = 0
    with tempfile.TemporaryDirectory() as workdir:
        started = time.perf_counter()
        for number, mail in enumerate(sample):
            path = Path(workdir) / f"{number}.eml"
            path.write_bytes(mail.raw)
            argv = ["clamscan", "--no-summary", "--infected", "--stdout", "-d", str(db_dir)]
            completed = subprocess.run([*argv, str(path)], capture_output=True)
            found += completed.returncode == 1
        per_message = (time.perf_counter() - started) / len(sample)
    return Measured(1 / per_message, len(corpus), found), len(sample)


def _sample(corpus: list[Mail], size: int) -> list[Mail]:
    """Roughly the corpus's mix, with at least one EICAR message to prove detection."""
    eicar = [mail for mail in corpus if mail.has_eicar][:1]
    attached = [mail for mail in corpus if mail.has_attachment and not mail.has_eicar]
    plain = [mail for mail in corpus if not mail.has_attachment]
    attached = attached[: max(1, size // 10 - len(eicar))]
    return eicar + attached + plain[: size - len(eicar) - len(attached)]


def measure_clamd_bypass(corpus: list[Mail], socket_path: str) -> Measured:
    scanner = ClamdScanner(
        ClamdSpec("clamd", (ClamdAddress(socket_path=socket_path),), Timeout(60))
    )
    calls = found = 0
    started = time.perf_counter()
    for mail in corpus:
        if not mail.has_attachment:
            continue
        calls += 1
        result = scanner.scan(mail.raw, ())
        if result.status not in ("clean", "infected"):
            raise RuntimeError(f"clamd failed: {result.detail}")
        found += result.status == "infected"
    elapsed = time.perf_counter() - started
    return Measured(len(corpus) / elapsed, calls, found)


def run_database(
    label: str, db_dir: Path, corpus: list[Mail], sample_size: int, baseline: float
) -> None:
    print(f"\n== database: {label}")
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as workdir,
        running_clamd(Path(workdir), db_dir, startup_seconds=600) as server,
    ):
        print(f"   clamd started in {time.perf_counter() - started:.1f} s (once, not per message)")
        bypass = measure_clamd_bypass(corpus, server.socket_path)
    naive, sampled = measure_naive(corpus, db_dir, sample_size)
    print(
        f"   naive clamscan per message : {naive.messages_per_second:9.2f} msg/s, "
        f"{naive.engine_calls} engine calls, {naive.viruses_found} virus(es) in the sample "
        f"(timed {sampled} of {len(corpus)} messages, extrapolated per message)"
    )
    print(
        f"   clamd with bypass          : {bypass.messages_per_second:9.2f} msg/s, "
        f"{bypass.engine_calls} engine calls, {bypass.viruses_found} virus(es) found "
        "(bypass simulated: only messages with attachments are scanned)"
    )
    print(f"   ratio                      : {_ratio(bypass, naive, 0.0)}")
    print(
        "   each delivery also starts a process; adding the python3 baseline to both ways: "
        f"{_per_second(naive, baseline):.2f} vs {_per_second(bypass, baseline):.2f} msg/s, "
        f"ratio {_ratio(bypass, naive, baseline)}"
    )


def _per_second(measured: Measured, extra_seconds_per_message: float) -> float:
    return 1 / (1 / measured.messages_per_second + extra_seconds_per_message)


def _ratio(faster: Measured, slower: Measured, extra_seconds_per_message: float) -> str:
    ratio = _per_second(faster, extra_seconds_per_message) / _per_second(
        slower, extra_seconds_per_message
    )
    return f"{ratio:,.1f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--sample", type=int, default=20)
    parser.add_argument("--signatures", type=int, default=1_000_000)
    options = parser.parse_args()
    find_clamd()
    rng = random.Random(20020101)
    corpus = build_corpus(options.messages, rng)
    with_attachments = sum(mail.has_attachment for mail in corpus)
    with_eicar = sum(mail.has_eicar for mail in corpus)
    print(
        f"corpus: {len(corpus)} messages, {with_attachments} with attachments, "
        f"{with_eicar} with EICAR; machine: {os.cpu_count()} CPUs"
    )
    baseline = baseline_seconds()
    print(f"baseline: python3 -c pass = {baseline * 1000:.1f} ms (median of 20)")
    with tempfile.TemporaryDirectory() as workdir:
        small = Path(workdir) / "eicar-db"
        small.mkdir()
        (small / "eicar.hdb").write_text(EICAR_HDB)
        run_database("one-line EICAR .hdb", small, corpus, options.sample, baseline)
        large = Path(workdir) / "large-db"
        started = time.perf_counter()
        write_large_db(large, options.signatures, rng)
        print(
            f"\n(generated {options.signatures:,} signatures, {BODY_SIGNATURES:,} of them "
            f".ndb body signatures, in {time.perf_counter() - started:.1f} s)"
        )
        run_database(
            f"synthetic, {options.signatures:,} signatures", large, corpus, options.sample, baseline
        )


if __name__ == "__main__":
    main()
