"""`qmvc report` over a generated 5-million-line qmvc.log: lines per second and peak memory.

The log mixes what a busy site writes: mostly clean mail, badmail and viruses from a few
thousand senders to a few hundred recipients in ten domains, escaped senders (the full
parser's path), QMVC 1.x lines, update-signatures lines and one broken line in ten thousand;
one second per line, so 5M lines span about two months (a daily series). The same
distinct values at 1M and 5M lines: peak memory must not grow with the length.

Each size is read by a real `qmvc report --format json` process from a fresh venv with a
non-editable install of the last commit (bench/common.py), beside the baseline of the same
interpreter reading the file line by line and doing nothing else. `qmvc report` reads a
plain log this large on every usable core (qmvc/report/parallel.py): "lines/s" is by wall
time, "by CPU" by the CPU time of the report and its workers together. Peak memory is the
child's ru_maxrss from wait4, which Linux gives as the largest of the process and its
reaped workers, not their sum: with W workers the machine holds about W + 1 times it.
Targets (issue 12): >= 300,000 lines/s; memory independent of the log's length.

Run: python3 bench/bench_report.py [--lines 5000000] [--venv DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from common import committed_tree, venv_with_qmvc

TARGET_LINES_PER_SECOND = 300_000
POOL = 20_000
START = datetime(2026, 9, 1)


def line_pool() -> list[tuple[str, str]]:
    """Lines as format_line writes them, each split around its start stamp."""
    from qmvc.logs.line import LogRecord, format_line

    rng = random.Random(12)
    pool = []
    for index in range(POOL):
        kind = rng.choices(["clean", "badmail", "virus", "deferred", "escaped"], [85, 7, 5, 1, 2])[
            0
        ]
        virus = rng.choice(["Eicar-Test-Signature", "W32/Netsky.P", "Win.Trojan.Agent"])
        record = LogRecord(
            pid=1000 + index,
            start=START,
            end=START + timedelta(seconds=1),
            sender=f"user{rng.randrange(3000)}@s{rng.randrange(200)}.example"
            + ("|x" if kind == "escaped" else ""),
            recipient=f"r{rng.randrange(300)}@d{rng.randrange(10)}.example",
            criteria=(
                ("subject", "0"),
                ("filename", "1" if kind == "badmail" else "0"),
                ("body", "-"),
            ),
            scanners=(("clamd", "1" if kind in ("virus", "escaped") else "0"),),
            exit_code={"clean": 0, "deferred": 111}.get(kind, 99),
            profile="standard",
            outcome={"escaped": "virus"}.get(kind, kind),
            message_id=f"<{index}.{rng.randrange(10**9)}@mx.example>",
            size=rng.randrange(1000, 100_000),
            duration_ms=rng.randrange(20, 400),
            viruses=(virus,) if kind in ("virus", "escaped") else (),
        )
        head, _, rest = format_line(record).partition("|")
        pool.append((head + "|", rest[len("20260901 00:00:00") :]))
    return pool


def write_log(path: Path, lines: int, pool: list[tuple[str, str]]) -> None:
    with path.open("w") as log:
        for index in range(lines):
            stamp = (START + timedelta(seconds=index)).strftime("%Y%m%d %H:%M:%S")
            if index % 10_000 == 9_999:
                log.write(f"qmvc Pid:{index}|{stamp}|broken\n")
            elif index % 100_000 == 50_000:
                log.write(f"qmvc-update {stamp}|clamav|ok|rc=0|s=2.0|updated\n")
            elif index % 1_000 == 500:
                log.write(
                    f"qmvc Pid:{index}|{stamp}|old@x.example|a@d1.example|exe:1|RC:99|00:00:00\n"
                )
            else:
                head, tail = pool[index % POOL]
                log.write(head + stamp + tail + "\n")


LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
cpu = usage.ru_utime + usage.ru_stime
print(wall, cpu, usage.ru_maxrss, os.waitstatus_to_exitcode(status), file=sys.stderr)
"""
"""Forks the measured process from a small interpreter: Linux counts the pages a child had
before exec in its ru_maxrss, so a child of this (larger) script would report at least its
size."""


def measure(argv: list[str]) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds, peak MB and stdout of one process."""
    done = subprocess.run(
        [sys.executable, "-S", "-c", LAUNCHER, *argv], capture_output=True, text=True, check=True
    )
    wall, cpu, peak_kb, exit_code = done.stderr.split()[-4:]
    assert exit_code == "0", (argv, done.stderr)
    return float(wall), float(cpu), int(peak_kb) / 1024, done.stdout


def bench(work: Path, sizes: list[int]) -> int:
    pool = line_pool()
    qmvc = Path(sys.executable).parent / "qmvc"
    baseline = "import sys\nfor line in open(sys.argv[1]): pass"
    print(f"{'lines':>10} {'what':<28} {'wall s':>7} {'lines/s':>10} {'by CPU':>10} {'peak MB':>8}")
    peaks, rates = {}, {}
    for size in sizes:
        log = work / f"qmvc-{size}.log"
        write_log(log, size, pool)
        for what, argv in (
            ("python reads lines (baseline)", [sys.executable, "-c", baseline, str(log)]),
            ("qmvc report --format json", [str(qmvc), "report", "--format", "json", str(log)]),
        ):
            wall, cpu, peak, output = measure(argv)
            print(
                f"{size:>10,} {what:<28} {wall:>7.2f} {size / wall:>10,.0f} "
                f"{size / cpu:>10,.0f} {peak:>8.1f}"
            )
            if what.startswith("qmvc"):
                found = json.loads(output)
                expected_malformed = size // 10_000
                assert found["malformed"] == expected_malformed, found["malformed"]
                peaks[size], rates[size] = peak, size / wall
        log.unlink()
    largest = max(sizes)
    verdict = "met" if rates[largest] >= TARGET_LINES_PER_SECOND else "MISSED"
    print(
        f"\nspeed at {largest:,} lines: {rates[largest]:,.0f} lines/s (wall), target "
        f"{TARGET_LINES_PER_SECOND:,}: {verdict}"
    )
    if len(sizes) > 1:
        smallest = min(sizes)
        print(
            f"peak memory {peaks[smallest]:.1f} MB at {smallest:,} lines, "
            f"{peaks[largest]:.1f} MB at {largest:,}: x{peaks[largest] / peaks[smallest]:.2f} "
            f"for x{largest / smallest:.0f} the lines"
        )
    print(
        f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
        f"workers: {len(os.sched_getaffinity(0))} usable cores"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=5_000_000)
    parser.add_argument("--venv", type=Path, help="reuse this venv (made and filled if absent)")
    parser.add_argument("--in-venv", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = sorted({args.lines // 5, args.lines})
    if args.in_venv:
        with tempfile.TemporaryDirectory(prefix="qmvc-bench-report-") as work:
            return bench(Path(work), sizes)
    with tempfile.TemporaryDirectory(prefix="qmvc-bench-venv-") as scratch:
        source = committed_tree(Path(scratch) / "source")
        python = venv_with_qmvc(args.venv or Path(scratch) / "venv", source)
        argv = [str(python), __file__, "--in-venv", "--lines", str(args.lines)]
        return subprocess.run(argv).returncode


if __name__ == "__main__":
    sys.exit(main())
