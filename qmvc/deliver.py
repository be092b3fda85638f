"""`qmvc deliver`: qmail-local's entry point. Message on stdin, qmail's environment in.

Exit codes are qmail's: 0 deliver on, 99 handled, 100 bounce (only when the policy says
so), 111 defer. Anything that goes wrong, from an unreadable policy to a full disk, ends
in 111 with a log line: qmail keeps the message and retries, so nothing is ever lost.

This module is the hot path: at import it loads only the standard library pieces a clean
message needs; lark, rich and jinja2 are never imported for a message whose policy is
cached, and libmagic only when an attachment's type is tested.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from qmvc.engine.verdict import EXIT_DEFER, Verdict
from qmvc.paths import policy_path, qmvc_dir
from qmvc.record import replace

if TYPE_CHECKING:
    from qmvc.message.facts import MessageFacts


class Interrupted(BaseException):
    """SIGTERM or the policy's time budget ran out: defer, with a log line.

    A BaseException, so that no `except Exception` on the way (the MIME parser's fallback,
    the cache reader) can swallow it and let the message through as clean."""


_armed = False
"""True while an interruption can still turn into a deferral; after that it waits."""


def _interrupt(signum: int, frame: object) -> None:
    if _armed:
        raise Interrupted("SIGTERM" if signum == signal.SIGTERM else "time budget exceeded")


LOG_NAME = "qmvc.log"
REPORT_NAME = "qmvc.rep"
CACHE_DIR_NAME = "cache"
PERFORMED_ACTIONS = ("keep", "forward", "notify")
"""The actions qmvc.actions.perform carries out; a verdict without any skips its imports."""


def main(argv: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> int:
    """Run one delivery; returns qmail's exit code and never raises."""
    global _armed
    environ = os.environ if environ is None else environ
    started = datetime.now()
    clock = time.monotonic()
    base_dir = qmvc_dir(environ)
    raw = b""
    verdict: Verdict | None = None
    facts = None
    notices: list[str] = []
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGALRM, _interrupt)
    _armed = True
    try:
        option = argv[argv.index("--policy") + 1] if "--policy" in argv else None
        raw = sys.stdin.buffer.read()
        facts, verdict, problems = _filter(
            raw, environ, base_dir, policy_path(option, environ), notices
        )
        exit_code = verdict.exit_code
        error = "; ".join(problems)
    except BaseException as exc:  # noqa: BLE001 — every failure is a deferral, never a loss
        _armed = False
        exit_code, error = EXIT_DEFER, f"{type(exc).__name__}: {exc}"
        from qmvc.engine.evaluate import stop_abandoned_engines

        stop_abandoned_engines()  # a parallel scan's engines run in threads the signal missed
    finally:
        _armed = False  # from here a SIGTERM waits: the log line must still be written
    signal.alarm(0)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if not _log(base_dir, started, clock, environ, raw, facts, verdict, exit_code, error, notices):
        print(f"qmvc: cannot write {base_dir / LOG_NAME}; {error}", file=sys.stderr)
    if error:
        print(f"qmvc: {error}", file=sys.stderr)  # qmail-local puts this in its log
    return exit_code


def _filter(
    raw: bytes, environ: Mapping[str, str], base_dir: Path, policy: Path, notices: list[str]
) -> tuple[MessageFacts, Verdict, list[str]]:
    """Evaluate and act; what became of each notice is appended to `notices` as it happens,
    so that a later deferral still reports notices already sent."""
    from qmvc.engine.evaluate import evaluate
    from qmvc.engine.scanning import scanner_provider
    from qmvc.message.envelope import Envelope
    from qmvc.message.facts import MessageFacts
    from qmvc.policy.cache import load_tree

    loaded = load_tree(policy, base_dir / CACHE_DIR_NAME)
    signal.alarm(max(1, int(loaded.tree.budget_seconds)))
    problems = [loaded.stale_reason] if loaded.stale_reason else []
    facts = MessageFacts(raw, Envelope.from_environ(environ))
    verdict = evaluate(loaded.tree, facts, scanner_provider(loaded.tree))
    problems += [
        f"scanner {r.name} {r.status}: {r.reason}"
        for r in verdict.scanners
        if r.status in ("failed", "unavailable", "too-large")
    ]
    if not any(action.kind in PERFORMED_ACTIONS for action in verdict.actions):
        return facts, verdict, problems  # deliver, defer, bounce: only the exit code
    from qmvc.actions.perform import ActionFailed, perform

    try:
        report = perform(verdict, facts, loaded.tree, environ, base_dir)
    except ActionFailed as exc:
        verdict = replace(verdict, exit_code=EXIT_DEFER)
        problems.append(str(exc))
        return facts, verdict, problems
    problems.extend(report.problems)
    notices += [outcome.describe() for outcome in report.notices]
    return facts, verdict, problems


def _log(
    base_dir: Path,
    started: datetime,
    clock: float,
    environ: Mapping[str, str],
    raw: bytes,
    facts: object,
    verdict: Verdict | None,
    exit_code: int,
    error: str,
    notices: Sequence[str],
) -> bool:
    """One line in qmvc.log, and a report entry for badmail and viruses. False if it failed."""
    from qmvc.logs.line import LogRecord, append_line, format_line, scanner_code

    try:
        base_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        message_id = ""
        if verdict is not None and facts is not None:
            message_id = getattr(facts, "message_id", "")
        record = LogRecord(
            pid=os.getpid(),
            start=started,
            end=datetime.now(),
            sender=environ.get("SENDER", ""),
            recipient=environ.get("RECIPIENT", ""),
            criteria=_criteria_flags(verdict),
            scanners=tuple((r.name, scanner_code(r)) for r in verdict.scanners) if verdict else (),
            exit_code=exit_code,
            profile=verdict.profile if verdict else "",
            outcome=verdict.outcome if verdict else "deferred",
            message_id=message_id,
            size=len(raw),
            duration_ms=int((time.monotonic() - clock) * 1000),
            viruses=tuple(v for r in verdict.scanners for v in r.viruses) if verdict else (),
        )
        append_line(base_dir / LOG_NAME, format_line(record))
        if verdict is not None and verdict.outcome in ("virus", "badmail"):
            from qmvc.logs.rep import append_report, format_report

            append_report(
                base_dir / REPORT_NAME,
                format_report(verdict, record, getattr(facts, "subject", ""), notices),
            )
        return True
    except Exception:  # noqa: BLE001 — the log is not worth a lost message
        return False


def _criteria_flags(verdict: Verdict | None) -> tuple[tuple[str, str], ...]:
    """Each badmail rule: 1 matched, 0 did not, - not tested (the outcome was already known)."""
    if verdict is None:
        return ()
    codes = {"true": "1", "false": "0"}
    return tuple(
        (step.node.removeprefix("badmail "), codes.get(step.result, "-"))
        for step in verdict.trace
        if step.depth == 0 and step.node.startswith("badmail ")
    )
