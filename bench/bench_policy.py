"""Policy benchmark: parse+check+compile of a 1,000-rule policy, and loading its cached tree.

Every figure is printed beside a bare `python3 -c pass` measured in the same run, so
the numbers mean the same on a fast and a slow machine. Target: loading the cached
compiled tree in a fresh process costs under 10 ms over that baseline.

    python3 bench/bench_policy.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

TARGET_MS_OVER_BASELINE = 10.0
PROFILES = 10
RULES_PER_PROFILE = 100


def thousand_rule_policy() -> str:
    """10 profiles × 100 rules over lists, globs, regexes, headers, bodies and attachments."""
    lines = [
        'guard av "virus-team@example.org"',
        'scanner clamav clamd socket "/run/clamav/clamd.ctl" timeout 30s + 5s per MB',
        'list names = "*.exe" "*.scr" "*.pif" /\\.(pdf|docx?)\\.[a-z0-9]{2,4}$/i',
        'list types = "application/x-dosexec" "application/x-ms*"',
    ]
    for p in range(PROFILES):
        default = " default" if p == 0 else ""
        lines.append(f"profile p{p}{default} {{")
        for r in range(RULES_PER_PROFILE):
            lines.append(f"  badmail r{r} when {_condition(p, r)}")
        lines += [
            "  scan clamav unless badmail first",
            '  on virus { keep "quarantine/virus"; notify av, recipient }',
            '  on badmail { keep "quarantine/badmail"; notify av }',
            "}",
        ]
        if p:
            lines.append(f'domain "d{p}.example.org" "*.d{p}.example.org" uses p{p}')
    return "\n".join(lines) + "\n"


def _condition(p: int, r: int) -> str:
    kind = r % 6
    if kind == 0:
        return f'subject contains "offer {p}-{r}" nocase'
    if kind == 1:
        return f'header "X-Mailer" matches /bulk ?mailer {p}\\.{r}/i'
    if kind == 2:
        return f"any attachment.name matches list names and message.size > {r + 1}KB"
    if kind == 3:
        return f'body contains "unsubscribe {r}" and not sender is empty'
    if kind == 4:
        return f'any attachment.type matches list types or any attachment.name matches "*.{p}{r}"'
    return (
        f'(subject matches "*invoice {r}*" or body matches /pay(ment)? {p}-{r}/) and any attachment'
    )


def median_ms(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs

    with tempfile.TemporaryDirectory(prefix="qmvc-bench-") as scratch:
        policy = Path(scratch) / "big.qmvc"
        policy.write_text(thousand_rule_policy(), encoding="utf-8")
        cache_dir = Path(scratch) / "cache"

        baseline = median_ms([sys.executable, "-c", "pass"], runs)

        from qmvc.policy.policy import Policy

        start = time.perf_counter()
        loaded = Policy.load(policy)
        errors = [d for d in loaded.check() if d.severity == "error"]
        tree = loaded.compile()
        in_process = (time.perf_counter() - start) * 1000
        rules = sum(len(p.criteria) for p in tree.profiles.values())
        assert not errors and rules == PROFILES * RULES_PER_PROFILE

        check_policy = median_ms(
            [sys.executable, "-m", "qmvc.cli", "check-policy", str(policy)], max(3, runs // 4)
        )

        load_cached = (
            f"from pathlib import Path; from qmvc.policy.cache import load_tree; "
            f"load_tree(Path({str(policy)!r}), Path({str(cache_dir)!r}))"
        )
        subprocess.run([sys.executable, "-c", load_cached], check=True, cwd=REPO_ROOT)  # fills it
        cached = median_ms([sys.executable, "-c", load_cached], runs)
        import_only = median_ms([sys.executable, "-c", "import qmvc.policy.cache"], runs)
        cache_bytes = sum(f.stat().st_size for f in cache_dir.iterdir())

    over = cached - baseline
    print(f"policy: {rules} rules in {PROFILES} profiles; medians of {runs} runs")
    print(f"{'bare python3 -c pass (baseline)':44s} {baseline:8.1f} ms   1.00× baseline")
    _row("parse+check+compile, in process", in_process, baseline)
    _row("qmvc check-policy, subprocess", check_policy, baseline)
    _row("cached tree load, subprocess", cached, baseline)
    _row("  of which: import qmvc.policy.cache", import_only, baseline)
    print(f"cached entry: {cache_bytes / 1024:.0f} KiB")
    met = "met" if over < TARGET_MS_OVER_BASELINE else "NOT met"
    print(
        f"cached load over baseline: {over:.1f} ms; target < {TARGET_MS_OVER_BASELINE:g} ms: {met}"
    )
    return 0 if over < TARGET_MS_OVER_BASELINE else 1


def _row(label: str, milliseconds: float, baseline: float) -> None:
    print(f"{label:44s} {milliseconds:8.1f} ms {milliseconds / baseline:6.2f}× baseline")


if __name__ == "__main__":
    sys.exit(main())
