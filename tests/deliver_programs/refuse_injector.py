"""A sendmail-compatible injector that refuses everything: reads the message, exits 1."""

import sys

sys.stdin.buffer.read()
print("refuse_injector: queue is broken", file=sys.stderr)
sys.exit(1)
