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

from qmvc.engine.verdict import EXIT_BOUNCE, EXIT_DEFER, Verdict
from qmvc.paths import policy_path, qmvc_dir
from qmvc.record import replace

if TYPE_CHECKING:
    from qmvc.engine.tree import DecisionTree
    from qmvc.message.facts import MessageFacts
    from qmvc.state.factory import LazyStore


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
MAX_BOUNCE_TEXT = 500
PERFORMED_ACTIONS = ("keep", "forward", "notify")
"""The actions qmvc.actions.perform carries out; a verdict without any skips its imports."""


USAGE = """usage: qmvc deliver [--policy FILE]

Run by qmail-local from a .qmail file (|qmvc deliver): the message on stdin, qmail's
environment (SENDER, RECIPIENT, HOST, LOCAL, EXT, DTLINE, RPLINE) in. Exit 0 deliver on,
99 handled, 100 bounce (only when the policy says so), 111 defer.

  --policy FILE   the policy (else QMVC_POLICY, /etc/qmvc/policy.qmvc, the shipped default)
  -h, --help      this text; stdin is not read
"""


class UsageError(Exception):
    """An option deliver does not know: never a delivery, always a deferral (111)."""


def policy_option(argv: Sequence[str]) -> str | None:
    """The value of --policy (also `--policy=FILE`); anything else is a UsageError."""
    policy: str | None = None
    arguments = list(argv)
    while arguments:
        argument = arguments.pop(0)
        if argument == "--policy" and arguments:
            policy = arguments.pop(0)
        elif argument.startswith("--policy="):
            policy = argument.removeprefix("--policy=")
        else:
            raise UsageError(f"unknown option or argument {argument!r}; see qmvc deliver --help")
    return policy


class Delivery:
    """What one delivery found and did, filled in as it happens, so that whatever an
    exception interrupts still reaches the log and the report."""

    def __init__(self) -> None:
        self.facts: MessageFacts | None = None
        self.verdict: Verdict | None = None
        self.problems: list[str] = []
        self.performed: list[tuple[str, str]] = []
        self.action_failed = False
        self.hostname = ""
        """The policy's `hostname` setting, once the policy is known."""


def main(argv: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> int:
    """Run one delivery; returns qmail's exit code and never raises."""
    global _armed
    if any(argument in ("-h", "--help") for argument in argv):
        sys.stdout.write(USAGE)
        return 0
    environ = os.environ if environ is None else environ
    started = datetime.now()
    clock = time.monotonic()
    base_dir = qmvc_dir(environ)
    raw = b""
    delivery = Delivery()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGALRM, _interrupt)
    _armed = True
    try:
        option = policy_option(argv)
        raw = sys.stdin.buffer.read()
        _filter(raw, environ, base_dir, policy_path(option, environ), delivery)
        assert delivery.verdict is not None
        exit_code = delivery.verdict.exit_code
        error = "; ".join(delivery.problems)
    except BaseException as exc:  # noqa: BLE001 — every failure is a deferral, never a loss
        _armed = False
        exit_code = EXIT_DEFER
        error = "; ".join([*delivery.problems, f"{type(exc).__name__}: {exc}"])
        if isinstance(exc, UsageError):
            error = str(exc)
        from qmvc.engine.evaluate import stop_abandoned_engines

        stop_abandoned_engines()  # a parallel scan's engines run in threads the signal missed
    finally:
        _armed = False  # from here a SIGTERM waits: the log line must still be written
    signal.alarm(0)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    log_problem = _log(base_dir, started, clock, environ, raw, delivery, exit_code, error)
    said = "; ".join(text for text in (error, log_problem) if text)
    if said:
        print(f"qmvc: {said}", file=sys.stderr)  # qmail-local puts this in its log
    if exit_code == EXIT_BOUNCE and delivery.verdict is not None:
        print(bounce_text(delivery.verdict))  # qmail-local puts this in the bounce
    return exit_code


def bounce_text(verdict: Verdict) -> str:
    """The policy's `bounce "reason"`, else a sentence naming what was found: one line."""
    reason = next((a.targets[0] for a in verdict.actions if a.kind == "bounce" and a.targets), "")
    if not reason:
        found = [f"virus {v}" for r in verdict.scanners for v in r.viruses]
        found += [f"{match.name}: {match.evidence}" for match in verdict.criteria]
        what = "; ".join(found) or verdict.outcome
        reason = f"Your message was not accepted by the mail filter ({what})."
    text = "".join(char if char.isprintable() else " " for char in reason)
    return text[:MAX_BOUNCE_TEXT]


def _filter(
    raw: bytes, environ: Mapping[str, str], base_dir: Path, policy: Path, delivery: Delivery
) -> None:
    """Evaluate and act, recording into `delivery` as it goes."""
    from qmvc.message.envelope import Envelope
    from qmvc.message.facts import MessageFacts
    from qmvc.policy.cache import load_tree
    from qmvc.state.factory import LazyStore

    private_directory(base_dir)
    loaded = load_tree(policy, base_dir / CACHE_DIR_NAME)
    signal.alarm(max(1, int(loaded.tree.budget_seconds)))
    if loaded.stale_reason:
        delivery.problems.append(loaded.stale_reason)
    delivery.facts = MessageFacts(raw, Envelope.from_environ(environ))
    state = LazyStore(*loaded.tree.state, base_dir)
    try:
        _evaluate_and_act(loaded.tree, environ, base_dir, delivery, state)
    finally:
        if state.problem:
            delivery.problems.append(state.problem)
        state.close()


def _evaluate_and_act(
    tree: DecisionTree,
    environ: Mapping[str, str],
    base_dir: Path,
    delivery: Delivery,
    state: LazyStore,
) -> None:
    from qmvc.engine.evaluate import evaluate
    from qmvc.engine.scanning import scanner_provider

    assert delivery.facts is not None
    delivery.hostname = tree.settings.get("hostname", "")
    verdict = evaluate(tree, delivery.facts, scanner_provider(tree), state, record=True)
    delivery.verdict = verdict
    delivery.problems += [
        f"scanner {r.name} {r.status}: {r.reason}"
        for r in verdict.scanners
        if r.status in ("failed", "unavailable", "too-large")
    ]
    delivery.problems += [  # a store that opened but then failed (Redis gone): say so
        step.detail for step in verdict.trace if step.node == "bombers" and step.result == "error"
    ]
    _end_bombings(tree, state, base_dir, delivery)
    performs = any(action.kind in PERFORMED_ACTIONS for action in verdict.actions)
    if not performs and verdict.bombing is None:
        return  # deliver, defer, bounce: only the exit code
    from qmvc.actions.perform import ActionFailed, ActionReport, perform

    report = ActionReport()
    try:
        perform(verdict, delivery.facts, tree, environ, base_dir, report)
    except ActionFailed as exc:
        delivery.verdict = replace(verdict, exit_code=EXIT_DEFER)
        delivery.action_failed = True
        delivery.problems.append(str(exc))
    finally:
        delivery.performed += report.performed()
    delivery.problems.extend(report.problems)


def _end_bombings(tree: DecisionTree, state: LazyStore, base_dir: Path, delivery: Delivery) -> None:
    """End summaries for bombings that have gone quiet, when this delivery has the store
    open anyway (an infected, badmail or attachment message): clean mail never opens it."""
    store = state.opened
    bombers = [bomber for profile in tree.profiles.values() for bomber in profile.bombers]
    if store is None or not bombers:
        return
    from qmvc.actions.notify import notify_bombing
    from qmvc.engine.bombers import ended_bombings

    for variables in ended_bombings(bombers, store):
        outcomes = notify_bombing("end", variables, tree, base_dir)
        delivery.performed += [("notice", outcome.describe()) for outcome in outcomes]


def private_directory(path: Path) -> None:
    """QMVC_DIR holds mail and addresses: created 0700 whatever the umask, as is anything
    above it that is missing; an existing directory is the admin's and left alone."""
    if path.is_dir():
        return
    missing = [path, *(p for p in path.parents if not p.exists())]
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(directory, 0o700)


def _log(
    base_dir: Path,
    started: datetime,
    clock: float,
    environ: Mapping[str, str],
    raw: bytes,
    delivery: Delivery,
    exit_code: int,
    error: str,
) -> str:
    """One line in qmvc.log, and a report entry for badmail and viruses (and for a
    deferral after something was already done). Returns what could not be written."""
    from qmvc.engine.evaluate import bypassed_targets
    from qmvc.logs.line import LogRecord, append_line, format_line, scanner_code

    verdict = delivery.verdict
    outcome = verdict.outcome if verdict and not delivery.action_failed else "deferred"
    target = base_dir / LOG_NAME
    try:
        private_directory(base_dir)
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
            outcome=outcome,
            message_id=delivery.facts.message_id if verdict and delivery.facts else "",
            size=len(raw),
            duration_ms=int((time.monotonic() - clock) * 1000),
            viruses=tuple(v for r in verdict.scanners for v in r.viruses) if verdict else (),
            bypassed=bypassed_targets(verdict) if verdict else (),
        )
        append_line(target, format_line(record))
        if verdict is not None and (verdict.outcome in ("virus", "badmail") or delivery.performed):
            from qmvc.engine.bombers import client_ip
            from qmvc.logs.rep import append_report, format_report
            from qmvc.message.received import our_hostname

            target = base_dir / REPORT_NAME
            subject = delivery.facts.subject if delivery.facts else ""
            client = (
                client_ip(delivery.facts, our_hostname(delivery.hostname)) if delivery.facts else ""
            )
            performed = list(delivery.performed)
            if delivery.action_failed:
                performed.append(("deferred", error))
            entry = format_report(verdict, record, subject, performed, client)
            append_report(target, entry)
        return ""
    except Exception as exc:  # noqa: BLE001 — the log is not worth a lost message
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        return f"cannot write {target}: {reason}"


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
