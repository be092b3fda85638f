"""Evaluation throughput on typical mail and peak memory of `qmvc explain` on a 50 MB message,
beside baselines measured in the same run.

Run: python3 bench/bench_evaluate.py   (one core; compare figures of one run with each other).
Throughput counts what `deliver` pays per message once the tree is loaded: MessageFacts over the
raw bytes plus `evaluate` with the shipped default policy and no scanner. The typical set is the
corpus without its hostile messages plus generated mail of 2 KB to 100 KB, a third of it with an
attachment. Targets (issue 3): at least 2,000 msg/s; peak memory under 4x the message + 60 MB.
"""

from __future__ import annotations

import argparse
import cProfile
import email
import pstats
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import rate  # noqa: E402

from qmvc.engine.evaluate import evaluate  # noqa: E402
from qmvc.engine.tree import DecisionTree  # noqa: E402
from qmvc.message import Envelope, MessageFacts  # noqa: E402
from qmvc.message.sniff import sniff_type  # noqa: E402
from qmvc.policy.policy import Policy  # noqa: E402
from tests.corpus import make_corpus  # noqa: E402

POLICY = ROOT / "policies" / "default.qmvc"
ENVELOPE = Envelope.from_addresses(make_corpus.SENDER, make_corpus.RECIPIENT)
TARGET_RATE = 2000
WORDS = [
    "meeting",
    "invoice",
    "report",
    "budget",
    "quarter",
    "the",
    "of",
    "and",
    "to",
    "please",
    "find",
    "attached",
    "regards",
    "thanks",
    "Friday",
    "schedule",
    "project",
    "review",
    "draft",
    "final",
    "numbers",
    "customer",
    "order",
    "delivery",
    "Grüße",
    "café",
]
ATTACHMENTS: list[tuple[str, str, Callable[[], bytes]]] = [
    ("report.pdf", "application/pdf", make_corpus.tiny_pdf),
    ("logo.png", "image/png", make_corpus.tiny_png),
    ("docs.zip", "application/zip", lambda: make_corpus.zip_of([("a.txt", b"hello\n" * 200)])),
    ("notes.txt", "text/plain", lambda: b"line of notes\n" * 300),
]


def corpus_typical() -> list[bytes]:
    return [
        path.read_bytes()
        for path in sorted((ROOT / "tests" / "corpus").glob("*.eml"))
        if not path.name.startswith("hostile-")
    ]


def generated_typical(count: int, seed: int = 3) -> dict[str, list[bytes]]:
    """Mail of 2 KB to 100 KB in all (log-uniform), deterministic, in three kinds of equal
    number: plain text, text with an HTML alternative, text with an attachment."""
    chance = random.Random(seed)
    kinds: dict[str, list[bytes]] = {"plain": [], "html": [], "attachment": []}
    for number in range(count):
        kind = list(kinds)[number % 3]
        message = EmailMessage()
        message["Return-Path"] = f"<{make_corpus.SENDER}>"
        message["Delivered-To"] = make_corpus.RECIPIENT
        message["From"] = f"Alice <{make_corpus.SENDER}>"
        message["To"] = f"Bob <{make_corpus.RECIPIENT}>"
        message["Subject"] = " ".join(chance.choices(WORDS, k=5))
        message["Message-ID"] = f"<{number}@example.org>"
        size = int(2048 * (50 ** chance.random()))
        text_size = size if kind == "plain" else size // 2
        lines = [" ".join(chance.choices(WORDS, k=12)) for _ in range(max(1, text_size // 90))]
        message.set_content("\n".join(lines) + "\n")
        if kind == "html":
            html = (
                "<html><body><p>" + "</p><p>".join(lines[: len(lines) // 2]) + "</p></body></html>"
            )
            message.add_alternative(html, subtype="html")
        elif kind == "attachment":
            name, declared, build = ATTACHMENTS[number % len(ATTACHMENTS)]
            data = build()
            data += bytes(chance.getrandbits(8) for _ in range(max(0, size * 3 // 8 - len(data))))
            maintype, subtype = declared.split("/")
            message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        kinds[kind].append(message.as_bytes())
    return kinds


PEAK_PROBE = (
    "import atexit, re, sys\n"
    "def report():\n"
    "    status = open('/proc/self/status').read()\n"
    "    print('VmHWM', re.search(r'VmHWM:\\s*(\\d+)', status).group(1), file=sys.stderr)\n"
    "atexit.register(report)\n"
    "if sys.argv[1:]:\n"
    "    from qmvc.cli import main\n"
    "    sys.exit(main(sys.argv[1:]))\n"
)
"""Reports the process's own high-water mark: a child's ru_maxrss would include the memory of
this benchmark, which it inherits at fork."""


def peak_memory(*arguments: str) -> tuple[int, float]:
    """Peak resident memory (bytes) and seconds of one fresh interpreter running
    `qmvc ARGUMENTS` (nothing at all when there are none)."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PEAK_PROBE, *arguments],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    kilobytes = re.search(r"VmHWM (\d+)", result.stderr)
    assert kilobytes, result.stderr
    return int(kilobytes.group(1)) * 1024, seconds


def explain_peak(message: Path) -> tuple[int, float]:
    return peak_memory("explain", "--no-scan", "--policy", str(POLICY), str(message))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per throughput figure")
    parser.add_argument("--profile", action="store_true", help="cProfile the qmvc figure")
    args = parser.parse_args()

    tree: DecisionTree = Policy.load(POLICY).compile()
    sniff_type(b"warm up libmagic")
    corpus, kinds = corpus_typical(), generated_typical(300)
    generated = [raw for messages in kinds.values() for raw in messages]
    typical = corpus + generated

    def facts_and_evaluate(raw: bytes) -> object:
        return evaluate(tree, MessageFacts(raw, ENVELOPE), None)

    with_attachment = sum(
        1 for raw in typical if re.search(rb"(?i)content-disposition: *attachment", raw)
    )
    sizes = sorted(len(raw) for raw in typical)
    print(
        f"typical set: {len(typical)} messages ({len(corpus)} corpus, {len(generated)} generated), "
        f"{with_attachment} with attachments, {sizes[0]} B .. {sizes[-1] / 1024:.0f} KB, "
        f"median {sizes[len(sizes) // 2] / 1024:.1f} KB"
    )
    figures = [
        ("baseline  email.message_from_bytes, typical set", email.message_from_bytes, typical),
        ("qmvc      facts + evaluate, typical set", facts_and_evaluate, typical),
        ("qmvc        corpus messages only", facts_and_evaluate, corpus),
        *(
            (f"qmvc        generated, {kind} only", facts_and_evaluate, messages)
            for kind, messages in kinds.items()
        ),
    ]
    for label, work, messages in figures:
        print(f"  {label:<50} {rate(work, messages, args.seconds):8.0f} msg/s")
    print(f"  target: {TARGET_RATE} msg/s on typical mail (facts + evaluate)")

    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(rate, facts_and_evaluate, typical, args.seconds)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)

    bare, bare_seconds = peak_memory()
    with tempfile.TemporaryDirectory() as directory:
        small = Path(directory) / "small.eml"
        small.write_bytes(corpus[0])
        small_peak, small_seconds = explain_peak(small)
        big = Path(directory) / "big.eml"
        big.write_bytes(make_corpus.LARGE["hostile-50mb-attachment.eml"]())
        size = big.stat().st_size
        big_peak, big_seconds = explain_peak(big)
    limit = 4 * size + 60e6
    print("peak memory (VmHWM of one fresh interpreter):")
    rows = [
        ("baseline  python3, nothing run", bare, bare_seconds, ""),
        (f"baseline  qmvc explain, {len(corpus[0])} B message", small_peak, small_seconds, ""),
        (
            f"qmvc      qmvc explain, {size / 1e6:.1f} MB message",
            big_peak,
            big_seconds,
            f"  limit 4x + 60 MB = {limit / 1e6:.0f} MB: {'ok' if big_peak < limit else 'OVER'}",
        ),
    ]
    for label, peak, seconds, verdict in rows:
        print(f"  {label:<50} {peak / 1e6:6.0f} MB {seconds:6.2f} s{verdict}")


if __name__ == "__main__":
    main()
