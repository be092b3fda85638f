#!/usr/bin/env python3
"""An engine that hangs, with a child that hangs too: `hang.py DIR RECORD`.

It writes DIR and both process ids to RECORD first, so a test can check that the
timeout killed the whole process group and removed the directory.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
Path(sys.argv[2]).write_text(f"{sys.argv[1]}\n{child.pid}\n")
print("scanning...", flush=True)
time.sleep(3600)
