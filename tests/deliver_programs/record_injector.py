"""A sendmail-compatible injector that files each message: `record_injector.py DIR -f S R...`.

It is a real program run the way qmvc runs qmail-inject; it writes the arguments it got
and the message it read to DIR/<n>.args and DIR/<n>.eml, so a test can see what qmvc sent.
"""

import json
import os
import sys

directory = sys.argv[1]
os.makedirs(directory, exist_ok=True)
number = len([name for name in os.listdir(directory) if name.endswith(".eml")])
with open(os.path.join(directory, f"{number}.args"), "w") as handle:
    json.dump(sys.argv[2:], handle)
with open(os.path.join(directory, f"{number}.eml"), "wb") as handle:
    handle.write(sys.stdin.buffer.read())
