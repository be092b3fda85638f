"""A scanner that never answers: `sleep_forever.py DIR`."""

import time

time.sleep(3600)
