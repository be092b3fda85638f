"""A scanner that reports a virus in the first file it finds: `report_virus.py DIR`."""

import os
import sys

first = sorted(os.listdir(sys.argv[1]))[0]
print(f"{first}: FOUND: Test.Deliver.Virus")
sys.exit(1)
