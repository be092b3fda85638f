#!/usr/bin/env python3
"""An engine that reports what it was given: `list_dir.py DIR RECORD`.

It writes DIR, its permission bits and its entries to RECORD as JSON and exits clean,
so a test can check the directory's privacy, the file names, and its removal.
"""

from __future__ import annotations

import json
import os
import sys

directory, record = sys.argv[1], sys.argv[2]
seen = {
    "dir": directory,
    "mode": f"{os.stat(directory).st_mode & 0o777:o}",
    "entries": sorted(os.listdir(directory)),
}
with open(record, "w") as file:
    json.dump(seen, file)
