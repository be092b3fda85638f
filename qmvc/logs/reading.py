"""Finding and opening qmvc's logs as qmail sites keep them: plain or gzip-compressed,
rotated (`qmvc.log.1`, `qmvc.log.2.gz`, `qmvc.log-20261124.gz`), or in a daemontools
multilog directory (`current` and `@4000….s` files, each line stamped with TAI64N).

Files are given oldest first, so a reader sees the log in the order it was written.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

LOG_NAMES = ("qmvc.log", "qmvc.rep")
GZIP_MAGIC = b"\x1f\x8b"
TAI64N_LENGTH = 25
"""`@` and 24 hex digits; multilog writes a space after it."""

_ROTATION_SUFFIX = re.compile(r"\.(\d+)(\.gz)?$|-(\d{8,})(\.gz)?$")


def strip_stamp(line: str) -> str:
    """The line without multilog's TAI64N stamp (qmvc's own lines carry their time)."""
    if line.startswith("@4000") and line[TAI64N_LENGTH : TAI64N_LENGTH + 1] == " ":
        return line[TAI64N_LENGTH + 1 :]
    return line


def rotations(current: Path) -> list[Path]:
    """`current` and its rotated copies beside it, oldest first: numbered ones (a higher
    number is older, as logrotate and savelog number them), then dated ones, then `current`."""
    numbered: list[tuple[int, Path]] = []
    dated: list[tuple[str, Path]] = []
    for sibling in current.parent.glob(current.name + "[.-]*"):
        match = _ROTATION_SUFFIX.fullmatch(sibling.name[len(current.name) :])
        if match and match[1]:
            numbered.append((int(match[1]), sibling))
        elif match:
            dated.append((match[3], sibling))
    return [
        *(path for _, path in sorted(numbered, reverse=True)),
        *(path for _, path in sorted(dated)),
        *([current] if current.exists() else []),
    ]


def multilog_files(directory: Path) -> list[Path]:
    """A multilog directory's finished files (named by their TAI64N stamp, so by name is by
    time) and then `current`."""
    finished = sorted(p for p in directory.glob("@*") if p.suffix in (".s", ".u"))
    return [*finished, directory / "current"]


def log_files(paths: Sequence[Path], qmvc_dir: Path) -> list[Path]:
    """The files to read: each file given; for a multilog directory its files; for any other
    directory (and, with no paths, for QMVC_DIR) qmvc.log and qmvc.rep with their rotations."""
    found: list[Path] = []
    for path in paths or [qmvc_dir]:
        if not path.is_dir():
            found.append(path)
        elif (path / "current").is_file():
            found += multilog_files(path)
        else:
            found += [file for name in LOG_NAMES for file in rotations(path / name)]
    return found


@dataclass
class OpenLog:
    """An open log: its text (iterating gives its lines), and how far into the file
    (compressed bytes for gzip) reading has come, for a progress bar."""

    text: TextIO
    raw: BinaryIO
    size: int

    def position(self) -> int:
        return self.raw.tell()


@contextmanager
def open_log(path: Path) -> Iterator[OpenLog]:
    """Lines as written (newline kept, only `\\n` ends one); gzip is told by its magic number,
    not its name; bytes that are not UTF-8 become U+FFFD (such a line is reported malformed)."""
    with path.open("rb") as raw:
        binary: BinaryIO = raw
        if raw.read(2) == GZIP_MAGIC:
            raw.seek(0)
            binary = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        else:
            raw.seek(0)
        with io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="\n") as text:
            yield OpenLog(text, raw, path.stat().st_size)
