"""Facts throughput on the corpus and peak memory on a 50 MB message, beside a bare-stdlib baseline.

Run: python3 bench/bench_facts.py   (one core; the figures of one run are comparable only to
each other). Throughput counts building MessageFacts and asking every fact, sniffing included.
"""

from __future__ import annotations

import email
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import rate  # noqa: E402

from qmvc.message import Envelope, MessageFacts  # noqa: E402
from qmvc.message.sniff import sniff_type  # noqa: E402
from tests.corpus import make_corpus  # noqa: E402

ENVELOPE = Envelope.from_addresses(make_corpus.SENDER, make_corpus.RECIPIENT)
TYPICAL = [
    path.read_bytes()
    for path in sorted((ROOT / "tests/corpus").glob("*.eml"))
    if not path.name.startswith("hostile-")
]
ALL = [path.read_bytes() for path in sorted((ROOT / "tests/corpus").glob("*.eml"))]


def qmvc_facts(raw: bytes) -> None:
    facts = MessageFacts(raw, ENVELOPE)
    _ = facts.subject, facts.body_text, facts.defects
    for attachment in facts.attachments:
        _ = attachment.filename, attachment.sniffed_type


def stdlib_baseline(raw: bytes) -> None:
    """What the shared README measured: compat32 parse, decode every part, sniff attachments."""
    message = email.message_from_bytes(raw)
    _ = message["subject"]
    for part in message.walk():
        if not part.is_multipart():
            content = part.get_payload(decode=True)
            if part.get_filename() and isinstance(content, bytes):
                sniff_type(content)


PROBE = """
import re, sys, time
from qmvc.message import Envelope, MessageFacts
raw = open(sys.argv[1], "rb").read()
started = time.perf_counter()
facts = MessageFacts(raw, Envelope.from_addresses("a@b", "c@d"))
sniffed = [a.sniffed_type for a in facts.attachments]
facts.defects, facts.body_text, facts.scan_parts()
seconds = time.perf_counter() - started
print(re.search(r"VmHWM:\\s*(\\d+)", open("/proc/self/status").read()).group(1), seconds)
"""


def fifty_megabytes() -> tuple[int, int, float]:
    """Size, peak resident memory (bytes) and seconds of analysing the 50 MB message afresh."""
    with tempfile.NamedTemporaryFile(suffix=".eml") as message:
        message.write(make_corpus.LARGE["hostile-50mb-attachment.eml"]())
        message.flush()
        size = Path(message.name).stat().st_size
        out = subprocess.run(
            [sys.executable, "-c", PROBE, message.name],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout.split()
    return size, int(out[0]) * 1024, float(out[1])


def main() -> None:
    sniff_type(b"warm up libmagic")
    attached = sum(1 for raw in TYPICAL if re.search(rb"(?i)content-disposition: *attachment", raw))
    print(
        f"corpus: {len(TYPICAL)} typical messages ({attached} with attachments), {len(ALL)} in all"
    )
    for label, work, messages in (
        ("baseline  stdlib compat32 parse + decode + sniff", stdlib_baseline, TYPICAL),
        ("qmvc      MessageFacts, every fact + sniff", qmvc_facts, TYPICAL),
        ("qmvc      the same on all, hostile included", qmvc_facts, ALL),
    ):
        print(f"  {label:<50} {rate(work, messages):8.0f} msg/s")
    size, peak, seconds = fifty_megabytes()
    print(
        f"50 MB message ({size / 1e6:.1f} MB): peak RSS {peak / 1e6:.0f} MB "
        f"(limit 4x + 60 MB = {(4 * size + 60e6) / 1e6:.0f} MB), {seconds:.2f} s"
    )


if __name__ == "__main__":
    main()
