"""A scanner that answers clean, but only after 5 seconds: `slow_clean.py DIR`."""

import time

time.sleep(5)
