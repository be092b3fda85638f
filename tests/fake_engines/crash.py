#!/usr/bin/env python3
"""An engine that dies of a signal (SIGSEGV) halfway through, as a buggy one does."""

from __future__ import annotations

import os
import signal

print("scanning...", flush=True)
os.kill(os.getpid(), signal.SIGSEGV)
