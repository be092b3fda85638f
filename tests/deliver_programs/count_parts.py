"""A scanner that finds nothing: checks each part it was given is a plain file inside DIR."""

import os
import sys

directory = os.path.realpath(sys.argv[1])
for entry in os.scandir(directory):
    if not entry.is_file(follow_symlinks=False):
        print(f"{entry.name!r} is not a plain file")
        sys.exit(3)
print(f"{len(os.listdir(directory))} parts, nothing found")
