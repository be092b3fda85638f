#!/usr/bin/env python3
"""An engine whose answer and timing a test chooses: `answer_when_told.py DIR VERDICT [options]`.

VERDICT is clean (exit 0) or infected (exit 1, printing `FOUND: Told.Test.Virus`). Before
answering it waits for the file named by --after (when given), then --sleep seconds, and
last writes the file named by --done, so a test can put several engines' answers in order.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

arguments = argparse.ArgumentParser()
arguments.add_argument("directory")
arguments.add_argument("verdict", choices=["clean", "infected"])
arguments.add_argument("--after", type=Path)
arguments.add_argument("--sleep", type=float, default=0.0)
arguments.add_argument("--done", type=Path)
told = arguments.parse_args()

while told.after is not None and not told.after.exists():
    time.sleep(0.01)
time.sleep(told.sleep)
if told.done is not None:
    told.done.write_text("answered\n")
if told.verdict == "infected":
    print("FOUND: Told.Test.Virus")
    sys.exit(1)
print("nothing found")
