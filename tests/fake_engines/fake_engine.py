#!/usr/bin/env python3
"""A stand-in for a commercial command-line engine: `fake_engine.py STYLE DIR`.

It walks DIR, calls a file infected when it contains the EICAR marker, and reports the
way the named engine does (its exit codes and output line, as documented in
qmvc/scanners/catalogue.py). Extra styles misbehave on purpose.
"""

from __future__ import annotations

import sys
from pathlib import Path

MARKER = b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE"

# style: (infected exit code, output line for a hit, with {path} and {name})
STYLES: dict[str, tuple[int, str]] = {
    "savscan": (3, ">>> Virus '{name}' found in file {path}"),
    "sweep": (3, ">>> Virus '{name}' found in file {path}"),
    "uvscan": (13, "{path} ... Found: {name} NOT a virus."),
    "fsav": (3, "{path}: Infected: {name} [Aquarius]"),
    "vscan": (1, "*** Found virus {name} in file {path}"),
    "inocucmd": (100, "File {path} was infected by virus {name}"),
    "silent-infected": (3, ""),
    "garbage-exit": (42, "licence expired, or something"),
    "clean-but-names-virus": (0, ">>> Virus '{name}' found in file {path}"),
}
VIRUS_NAMES = {"uvscan": "EICAR test file", "savscan": "EICAR-AV-Test"}


def infected_files(directory: Path) -> list[Path]:
    return sorted(
        path for path in directory.rglob("*") if path.is_file() and MARKER in path.read_bytes()
    )


def main(style: str, directory: Path) -> int:
    infected_code, line = STYLES[style]
    hits = infected_files(directory)
    if style == "garbage-exit":
        print(line)
        return infected_code
    for path in hits:
        if line:
            print(line.format(path=path, name=VIRUS_NAMES.get(style, "EICAR_Test_File")))
    return infected_code if hits else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
