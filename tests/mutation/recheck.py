"""Mark mutmut's survivors and timeouts unchecked, so that a resumed run tests them again.

Why: a survivor of a run at a small test budget may be killed by a test the budget left out, and
a timeout may be a worker starved of CPU rather than a mutant that hangs. mutmut keeps every
result until the mutated function changes; this is the second pass over the doubtful ones:

    python3 -m tests.mutation.recheck              # then, e.g.:
    QMVC_MUTATION_BUDGET=60 bash tests/mutation/run --no-install

(`bash tests/mutation/run --recheck` does both steps.) Killed, type-checked and unchecked
mutants keep their result. Run from the project root.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from tests.mutation.report import STATUS

RECHECKED = {"survived", "no tests", "timeout"}


def recheck(mutants: Path) -> Counter[str]:
    """Reset the doubtful results in every `.meta` under `mutants`; count them by status."""
    reset: Counter[str] = Counter()
    for meta in sorted(mutants.rglob("*.meta")):
        data = json.loads(meta.read_text("utf-8"))
        results = data.get("exit_code_by_key", {})
        doubtful = [name for name, code in results.items() if STATUS.get(code) in RECHECKED]
        if not doubtful:
            continue
        for name in doubtful:
            reset[STATUS[results[name]]] += 1
            results[name] = None
        meta.write_text(json.dumps(data), "utf-8")
    return reset


def main() -> int:
    reset = recheck(Path("mutants"))
    print(
        "mutation: reset to unchecked: "
        + (", ".join(f"{n} {s}" for s, n in sorted(reset.items())) or "none")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
