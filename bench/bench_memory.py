"""Peak memory of `qmvc explain` and `qmvc deliver` on messages shaped to blow up a parser.

Each shape is judged against its limit, 4 x the message size + 60 MB (issue 3), beside a
bare `python3 -c pass` measured in the same run. Shapes: 20 MB of two-byte lines as a plain
body; 10 MB of quoted-printable soft line breaks ('=' alone, and 'a=' on each line); 20 MB of
base64 with characters outside the alphabet mixed in, as an attachment; a zip of 10,000
members; 20 MB in 5,000 small parts.

As the shared measuring notes ask, the figures come from a fresh venv with a non-editable
`pip install` of this checkout, whose interpreter runs both the baseline and qmvc. The policy
is the shipped default without its scanner, so no clamd is needed. Peak memory is the child's
ru_maxrss from wait4 (`run_once` of bench_deliver.py). Linux counts in it the memory of this
parent at fork time, so this script writes every message in chunks and stays small itself;
the baseline row shows what that leaves.

Run: python3 bench/bench_memory.py [--venv DIR] [--only SHAPE]   (exit 1 when a limit is missed)
"""

from __future__ import annotations

import argparse
import base64
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from random import Random
from typing import BinaryIO

from bench_deliver import run_once
from common import qmail_environ

PROJECT = Path(__file__).resolve().parent.parent
DEFAULT_POLICY = PROJECT / "policies" / "default.qmvc"
MB = 1_000_000
CHUNK = 1 << 20


def limit_bytes(message_size: int) -> float:
    return 4 * message_size + 60 * MB


# ---- the shapes, each written in chunks to a file ------------------------------------------


def headers(subject: str, content_type: str, encoding: str = "7bit") -> bytes:
    return (
        "Return-Path: <alice@example.org>\nDelivered-To: bob@example.com\n"
        "From: Alice <alice@example.org>\nTo: Bob <bob@example.com>\n"
        f"Subject: {subject}\nMessage-ID: <bench-memory@example.org>\nMIME-Version: 1.0\n"
        f"Content-Type: {content_type}\nContent-Transfer-Encoding: {encoding}\n\n"
    ).encode()


def repeated(out: BinaryIO, unit: bytes, size: int) -> None:
    """`unit` repeated up to `size` bytes, written a megabyte at a time."""
    chunk = unit * (CHUNK // len(unit))
    for _ in range(size // len(chunk)):
        out.write(chunk)
    out.write(unit * ((size % len(chunk)) // len(unit)))


def short_lines(out: BinaryIO) -> None:
    out.write(headers("Short lines", "text/plain; charset=us-ascii"))
    repeated(out, b"x\n", 20 * MB)


def soft_breaks(out: BinaryIO) -> None:
    out.write(headers("Soft breaks", "text/plain; charset=us-ascii", "quoted-printable"))
    repeated(out, b"=\n", 10 * MB)


def soft_breaks_after_a_letter(out: BinaryIO) -> None:
    out.write(headers("Soft breaks", "text/plain; charset=us-ascii", "quoted-printable"))
    repeated(out, b"a=\n", 10 * MB)


BOUNDARY = "=_bench_memory"


def with_attachment(out: BinaryIO, name: str, content_type: str) -> None:
    """The head of a two-part message up to the attachment's base64 body."""
    out.write(headers("Attachment", f'multipart/mixed; boundary="{BOUNDARY}"'))
    out.write(
        (
            f"--{BOUNDARY}\nContent-Type: text/plain\n\nThe file is attached.\n"
            f"--{BOUNDARY}\nContent-Type: {content_type}\nContent-Transfer-Encoding: base64\n"
            f'Content-Disposition: attachment; filename="{name}"\n\n'
        ).encode()
    )


def garbage_base64(out: BinaryIO) -> None:
    """20 MB of base64 lines, each with characters outside the alphabet in it."""
    with_attachment(out, "garbage.bin", "application/octet-stream")
    chance = Random(7)
    written = 0
    while written < 20 * MB:
        lines = base64.encodebytes(chance.randbytes(57 * 1000)).splitlines()
        chunk = b"".join(
            line[:20] + b"!*~" + line[20:60] + b"\xe4" + line[60:] + b"\n" for line in lines
        )
        out.write(chunk)
        written += len(chunk)
    out.write(f"--{BOUNDARY}--\n".encode())


def zip_of_many_members(out: BinaryIO) -> None:
    with tempfile.TemporaryFile() as archive_file:
        with zipfile.ZipFile(archive_file, "w", zipfile.ZIP_DEFLATED) as archive:
            for number in range(10_000):
                archive.writestr(f"docs/member_{number:05}.txt", f"member {number}\n")
        archive_file.seek(0)
        with_attachment(out, "many.zip", "application/zip")
        while block := archive_file.read(57 * 1000):
            out.write(base64.encodebytes(block))
    out.write(f"--{BOUNDARY}--\n".encode())


def many_small_parts(out: BinaryIO) -> None:
    """5,000 parts of 4 KB, every tenth one a named attachment."""
    out.write(headers("Many parts", f'multipart/mixed; boundary="{BOUNDARY}"'))
    line = b"The quick brown fox jumps over the lazy dog, again and again.\n"
    body = line * (4000 // len(line))
    for number in range(5_000):
        named = f'Content-Disposition: attachment; filename="part{number}.txt"\n' * (
            number % 10 == 0
        )
        out.write(f"--{BOUNDARY}\nContent-Type: text/plain\n{named}\n".encode() + body)
    out.write(f"--{BOUNDARY}--\n".encode())


SHAPES: dict[str, Callable[[BinaryIO], None]] = {
    "20 MB of 'x' lines, plain body": short_lines,
    "10 MB of '=' soft breaks (QP)": soft_breaks,
    "10 MB of 'a=' soft breaks (QP)": soft_breaks_after_a_letter,
    "20 MB garbage base64 attachment": garbage_base64,
    "zip of 10,000 members": zip_of_many_members,
    "20 MB in 5,000 small parts": many_small_parts,
}


# ---- the venv and the runs -----------------------------------------------------------------


def fresh_venv(directory: Path) -> Path:
    """A venv with qmvc installed from this checkout, not editable; its interpreter."""
    subprocess.run([sys.executable, "-m", "venv", str(directory)], check=True)
    python = directory / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(PROJECT)],
        check=True,
    )
    return python


def policy_without_scanner(directory: Path) -> Path:
    """The shipped default policy with its scanner and scan lines left out, lists beside it."""
    text = DEFAULT_POLICY.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^\s*(scanner|scan) .*\n", "", text)
    policy = directory / "policy.qmvc"
    policy.write_text(text, encoding="utf-8")
    shutil.copytree(DEFAULT_POLICY.parent / "lists", directory / "lists")
    return policy


def measure(argv: list[str], stdin: Path | None, environ: dict[str, str]) -> tuple[int, float, int]:
    """(peak bytes, seconds, exit code) of one child."""
    seconds, _, max_rss_kb, code = run_once(argv, stdin, environ)
    return max_rss_kb * 1024, seconds, code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, help="reuse this venv (made and filled if absent)")
    parser.add_argument("--only", help="run the shapes whose name contains this text")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="qmvc-bench-memory-"))
    try:
        venv = args.venv or work / "venv"
        python = venv / "bin" / "python"
        if not (venv / "bin" / "qmvc").exists():
            print(f"installing qmvc into a fresh venv at {venv} ...", flush=True)
            python = fresh_venv(venv)
        return bench(work, python, venv / "bin" / "qmvc", args.only or "")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench(work: Path, python: Path, qmvc: Path, only: str) -> int:
    (work / "home").mkdir()
    policy = policy_without_scanner(work)
    environ = qmail_environ(work / "home", work / "home" / "qmvc", policy)
    bare, bare_seconds, _ = measure([str(python), "-c", "pass"], None, environ)
    rows = [("baseline  python3 -c pass (the venv's)", 0, bare, bare_seconds, 0, None)]
    for shape, write in SHAPES.items():
        if only not in shape:
            continue
        message = work / "message.eml"
        with message.open("wb") as out:
            write(out)
        size = message.stat().st_size
        explain = [str(qmvc), "explain", "--policy", str(policy), "--format", "json", str(message)]
        for command, argv, stdin in (
            ("explain", explain, None),
            ("deliver", [str(qmvc), "deliver"], message),
        ):
            peak, seconds, code = measure(argv, stdin, environ)
            rows.append((f"{command:8}  {shape}", size, peak, seconds, code, limit_bytes(size)))
        message.unlink()

    print(f"peak memory (ru_maxrss), limit 4 x message + 60 MB; interpreter {python}")
    print(f"{'command   shape':52} {'message':>9} {'peak':>8} {'limit':>8} {'time':>7} exit")
    missed = []
    for label, size, peak, seconds, code, limit in rows:
        verdict = "" if limit is None else ("ok" if peak <= limit else "MISSED")
        if verdict == "MISSED":
            missed.append(label)
        shown_size = f"{size / MB:7.1f}MB" if size else ""
        shown_limit = f"{limit / MB:6.0f}MB" if limit else ""
        print(
            f"{label:52} {shown_size:>9} {peak / MB:6.0f}MB {shown_limit:>8} {seconds:6.2f}s "
            f"{code if limit else '':>4} {verdict}"
        )
    if missed:
        print(f"\nmissed: {len(missed)} of {len(rows) - 1}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
