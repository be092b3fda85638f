"""A scanner that never answers: `sleep_forever.py DIR`.

With SCANNER_PID_FILE in the environment it writes its pid there first, so a test can
check that whoever gave up on it also ended it."""

import os
import time

if os.environ.get("SCANNER_PID_FILE"):
    with open(os.environ["SCANNER_PID_FILE"], "w") as pid_file:
        pid_file.write(str(os.getpid()))
time.sleep(3600)
