"""The doctor's checks: one function per check, registered under the name its findings carry.

`run_checks` runs them in registration order, which is the order of the report: who is
checked, the policy, qmvc's own files, the quarantines, the scanners, the injector, the
templates. A check that needs the compiled policy finds nothing when it does not compile:
the policy's own findings already fail the run.
"""

from __future__ import annotations

import grp
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from qmvc.actions.inject import parse_injector
from qmvc.actions.perform import DEFAULT_INJECTOR
from qmvc.doctor import access
from qmvc.doctor.access import Access
from qmvc.doctor.finding import Finding, fail, ok, warn
from qmvc.doctor.probes import ProbeError, clamd_command, parse_version, smtp_greeting
from qmvc.doctor.user import DeliveringUser, UserSwitchFailed, as_user
from qmvc.engine.tree import DecisionTree
from qmvc.message.received import QMAIL_ME, our_hostname
from qmvc.paths import resolve_under
from qmvc.policy.bank_checks import client_address_uses
from qmvc.policy.check import templates_of
from qmvc.policy.diagnostics import Diagnostic, PolicyError, render_text
from qmvc.policy.policy import Policy
from qmvc.policy.template_check import check_templates
from qmvc.scanners.clamd import MAX_SCAN_SECONDS
from qmvc.scanners.spec import ClamdAddress, ClamdSpec, CommandSpec

LOG_NAME, REPORT_NAME = "qmvc.log", "qmvc.rep"  # as qmvc.deliver writes them
STATE_DIR_NAME, CACHE_DIR_NAME = "state", "cache"
STALE_SIGNATURES = timedelta(days=2)
SMTP_GREETING_SECONDS = 10.0
SHOWN_DIAGNOSTICS = 5
INJECTING_ACTIONS = {"forward", "notify"}
Asked = TypeVar("Asked", str, tuple[str, str])
SCAN_FAILS = "every scan it is asked for fails (outcome scanner-failure: deferred by default)"


@dataclass
class Deployment:
    """What the checks look at: the delivering user, where qmvc keeps its files, the policy
    (None when it does not load) and its tree (None when it does not compile)."""

    user: DeliveringUser
    policy_path: Path
    base_dir: Path
    search_path: str
    policy: Policy | None = None
    tree: DecisionTree | None = None
    problems: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    _answers: dict[tuple[str, object], Access] = field(default_factory=dict)

    @classmethod
    def inspect(
        cls, policy_path: Path, user: DeliveringUser, base_dir: Path, search_path: str
    ) -> Deployment:
        deployment = cls(user, policy_path, base_dir, search_path)
        try:
            deployment.policy = Policy.load(policy_path)
            deployment.tree = deployment.policy.compile()
        except PolicyError as error:
            deployment.problems = error.diagnostics
            deployment.sources = error.sources
        return deployment

    def access(self, question: Callable[[str], Access], target: str | Path) -> Access:
        """The user's answer to `question` about `target`, asked once per run."""
        return self._ask(question, str(target))

    def program(self, program: str) -> Access:
        """Whether the user can run `program`, found on PATH as execvp finds it."""
        return self._ask(access.executable_program, (program, self.search_path))

    def _ask(self, question: Callable[[Asked], Access], argument: Asked) -> Access:
        key = (question.__name__, argument)
        if key not in self._answers:
            try:
                self._answers[key] = as_user(self.user, question, argument)
            except UserSwitchFailed as error:
                self._answers[key] = Access(False, str(error))
        return self._answers[key]

    @property
    def group(self) -> str:
        return _group_name(self.user.gid)


Check = Callable[[Deployment], Iterable[Finding]]
CHECKS: dict[str, Check] = {}


def check(name: str) -> Callable[[Check], Check]:
    def register(function: Check) -> Check:
        CHECKS[name] = function
        return function

    return register


def run_checks(deployment: Deployment) -> list[Finding]:
    return [finding for function in CHECKS.values() for finding in function(deployment)]


# ---- who ----


@check("user")
def delivering_user(deployment: Deployment) -> Iterator[Finding]:
    user = deployment.user
    if user.uid == 0:
        yield warn(
            "user",
            "checking as root: qmail-local never delivers as root, so these are not the "
            "permissions a delivery has",
            "run qmvc doctor as the delivering user, or as root with --user NAME",
        )
        return
    extra = [gid for gid in os.getgroups() if gid != user.gid] if user.is_current else []
    if extra:
        names = ", ".join(_group_name(gid) for gid in extra)
        yield warn(
            "user",
            f"checking as {user} with the supplementary groups {names}, which qmail-local "
            "does not give a delivery (it keeps only the user's own group)",
            "run as root with --user NAME to check with qmail-local's identity",
        )
        return
    yield ok("user", f"checking as {user}, group {deployment.group}")


# ---- the policy ----


@check("policy")
def policy_compiles(deployment: Deployment) -> Iterator[Finding]:
    path = deployment.policy_path
    if deployment.tree is None:
        errors = [d for d in deployment.problems if d.severity == "error"]
        for diagnostic in errors[:SHOWN_DIAGNOSTICS]:
            yield fail(
                "policy",
                render_text(diagnostic, deployment.sources).splitlines()[0],
                diagnostic.hint or f"run qmvc check-policy {path} for the whole report",
            )
        if len(errors) > SHOWN_DIAGNOSTICS:
            more = len(errors) - SHOWN_DIAGNOSTICS
            yield fail("policy", f"and {more} more error(s)", f"run qmvc check-policy {path}")
        return
    tree = deployment.tree
    yield ok(
        "policy",
        f"{path} compiles: {len(tree.profiles)} profile(s), {len(tree.scanners)} scanner(s)",
    )
    assert deployment.policy is not None  # a tree comes from a loaded policy
    for source in deployment.policy.stamps:
        answer = deployment.access(access.readable_file, source)
        if not answer.ok:
            yield fail(
                "policy",
                f"{answer.detail}: deliveries as {deployment.user.name} cannot read the policy",
                f"make it readable: chgrp {deployment.group} {source} && chmod g+r {source}, "
                "or chmod a+r",
            )


# ---- qmvc's own files ----


@check("qmvc-dir")
def qmvc_dir(deployment: Deployment) -> Iterator[Finding]:
    yield _writable_directory(deployment, "qmvc-dir", deployment.base_dir, "QMVC_DIR")


@check("log-file")
def log_file(deployment: Deployment) -> Iterator[Finding]:
    yield _writable_file(deployment, "log-file", deployment.base_dir / LOG_NAME)


@check("report-file")
def report_file(deployment: Deployment) -> Iterator[Finding]:
    yield _writable_file(deployment, "report-file", deployment.base_dir / REPORT_NAME)


@check("state-dir")
def state_dir(deployment: Deployment) -> Iterator[Finding]:
    path = deployment.base_dir / STATE_DIR_NAME
    yield _writable_directory(deployment, "state-dir", path, "the notices limit's state")


@check("cache-dir")
def cache_dir(deployment: Deployment) -> Iterator[Finding]:
    path = deployment.base_dir / CACHE_DIR_NAME
    yield _writable_directory(deployment, "cache-dir", path, "the compiled-policy cache")


@check("quarantine")
def quarantines(deployment: Deployment) -> Iterator[Finding]:
    if deployment.tree is None:
        return
    user, group = deployment.user.name, deployment.group
    for path, uses in _quarantines(deployment.tree, deployment.base_dir).items():
        answer = deployment.access(access.writable_maildir, path)
        kept = f"kept {', '.join(uses)}"
        if answer.ok:
            yield ok("quarantine", f"{answer.detail} ({kept})")
            continue
        maildir = " ".join(str(path / sub) for sub in access.MAILDIR_SUBDIRS)
        yield fail(
            "quarantine",
            f"{answer.detail}: deliveries as {user} cannot keep messages there ({kept}), so "
            "each such message is deferred until qmail gives up",
            f"create it for the user: install -d -o {user} -g {group} -m 700 {maildir}; "
            "or keep under QMVC_DIR with a relative path",
        )


def _quarantines(tree: DecisionTree, base_dir: Path) -> dict[Path, list[str]]:
    """Each Maildir a `keep` names, resolved as a delivery does, with where it is named."""
    found: dict[Path, list[str]] = {}
    for profile in tree.profiles.values():
        for outcome, actions in profile.actions:
            for action in actions:
                if action.kind == "keep":
                    for target in action.targets:
                        where = f"on {outcome} in profile {profile.name}"
                        found.setdefault(resolve_under(base_dir, target), []).append(where)
    return found


def _writable_directory(deployment: Deployment, name: str, path: Path, what: str) -> Finding:
    answer = deployment.access(access.writable_directory, path)
    if answer.ok:
        return ok(name, answer.detail)
    user, group = deployment.user.name, deployment.group
    return fail(
        name,
        f"{answer.detail}: deliveries as {user} cannot write {what} there",
        f"create it for the user: install -d -o {user} -g {group} -m 700 {path}"
        if not os.path.lexists(path)
        else f"give it to the user: chown {user}:{group} {path}",
    )


def _writable_file(deployment: Deployment, name: str, path: Path) -> Finding:
    answer = deployment.access(access.writable_file, path)
    if answer.ok:
        return ok(name, answer.detail)
    user, group = deployment.user.name, deployment.group
    return fail(
        name,
        f"{answer.detail}: deliveries as {user} cannot write {path.name} there",
        f"make QMVC_DIR {deployment.base_dir} the user's: "
        f"install -d -o {user} -g {group} -m 700 {deployment.base_dir}"
        if not os.path.lexists(path)
        else f"give it to the user: chown {user}:{group} {path}",
    )


# ---- scanners ----


@check("clamd")
def clamd_scanners(deployment: Deployment) -> Iterator[Finding]:
    if deployment.tree is None:
        return
    for spec in deployment.tree.scanners.values():
        if isinstance(spec, ClamdSpec):
            yield from _clamd(deployment, spec)


def _clamd(deployment: Deployment, spec: ClamdSpec) -> Iterator[Finding]:
    """Each address in turn; one that does not answer fails the scanner only when no other
    address does (deliveries go on to the next address of a farm)."""
    seconds = min(spec.timeout.base_seconds, MAX_SCAN_SECONDS)
    answers = {address: _ask_clamd(address, seconds) for address in spec.addresses}
    reachable = any(isinstance(answer, tuple) for answer in answers.values())
    for address, answer in answers.items():
        where = f"{spec.name} at {address}"
        if isinstance(answer, str):
            fix = f"start clamd there, or correct the address of scanner {spec.name} in the policy"
            if reachable:
                yield warn("clamd", f"{where}: {answer}; another address answers", fix)
            else:
                yield fail("clamd", f"{where}: {answer}; {SCAN_FAILS}", fix)
            continue
        yield from _clamd_answer(deployment, where, address, answer)


def _ask_clamd(address: ClamdAddress, seconds: float) -> tuple[str, str] | str:
    """(PING's reply, VERSION's reply), or why clamd did not answer them."""
    try:
        pong = clamd_command(address, "PING", seconds)
        if pong != "PONG":
            return f"answered PING with {pong[:200]!r}"
        return pong, clamd_command(address, "VERSION", seconds)
    except TimeoutError:
        return f"no answer within {seconds:g} s"
    except OSError as error:
        return f"cannot connect ({error.strerror or error})"
    except ProbeError as error:
        return str(error)


def _clamd_answer(
    deployment: Deployment, where: str, address: ClamdAddress, replies: tuple[str, str]
) -> Iterator[Finding]:
    try:
        version = parse_version(replies[1])
    except ProbeError as error:
        yield fail("clamd", f"{where}: {error}", "is this address clamd's?")
        return
    update = "update the signatures (qmvc update-signatures runs freshclam) and check that "
    update += "the updates run regularly"
    if version.database_date is None:
        yield warn(
            "clamd",
            f"{where}: answers PING, {version.engine}, but names no daily signature "
            "database, so the age of its signatures is unknown",
            "install ClamAV's databases with freshclam",
        )
    else:
        age = datetime.now() - version.database_date
        said = (
            f"{where}: answers PING, {version.engine}, signatures {version.database} of "
            f"{version.database_date:%Y-%m-%d %H:%M} ({_age(age)} old)"
        )
        if age > STALE_SIGNATURES:
            yield warn("clamd", f"{said}: older than {STALE_SIGNATURES.days} days", update)
        else:
            yield ok("clamd", said)
    if address.socket_path is not None and not deployment.user.is_current:
        answer = deployment.access(access.connectable_socket, address.socket_path)
        if not answer.ok:
            yield fail(
                "clamd",
                f"{where}: {answer.detail}: deliveries as {deployment.user.name} cannot "
                f"connect; {SCAN_FAILS}",
                "let the user connect: LocalSocketMode 666 in clamd.conf, or LocalSocketGroup "
                f"{deployment.group}",
            )


def _age(age: timedelta) -> str:
    hours = max(0, int(age.total_seconds() // 3600))
    return f"{hours} hour(s)" if hours < 48 else f"{hours // 24} days"


@check("command-engine")
def command_engines(deployment: Deployment) -> Iterator[Finding]:
    if deployment.tree is None:
        return
    for spec in deployment.tree.scanners.values():
        if not isinstance(spec, CommandSpec):
            continue
        program = spec.argv[0]
        answer = deployment.program(program)
        if answer.ok:
            yield ok("command-engine", f"{spec.name}: {answer.detail}")
        else:
            yield fail(
                "command-engine",
                f"{spec.name}: {answer.detail}: deliveries as {deployment.user.name} cannot "
                f"run it; {SCAN_FAILS}",
                f"install {os.path.basename(program)}, or give its full path with run in "
                f"scanner {spec.name}",
            )


# ---- the injector ----


@check("injector")
def injector(deployment: Deployment) -> Iterator[Finding]:
    tree = deployment.tree
    if tree is None:
        return
    text = tree.settings.get("injector", DEFAULT_INJECTOR)
    used = any(
        action.kind in INJECTING_ACTIONS
        for profile in tree.profiles.values()
        for _, actions in profile.actions
        for action in actions
    )
    problem = warn if not used else fail
    unused = "" if used else " (the policy neither forwards nor notifies, so it is not used)"
    fix = "set injector in the policy: a sendmail-compatible program or smtp:HOST:PORT"
    try:
        config = parse_injector(text)
    except ValueError as error:
        yield problem("injector", f"injector {text!r}: {error}{unused}", fix)
        return
    if config.kind == "smtp":
        where = f"smtp {config.host}:{config.port}"
        try:
            greeting = smtp_greeting(config.host, config.port, SMTP_GREETING_SECONDS)
        except TimeoutError:
            waited = f"no greeting within {SMTP_GREETING_SECONDS:g} s"
            yield problem("injector", f"{where}: {waited}{unused}", f"start the server, or {fix}")
        except (OSError, ProbeError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            yield problem("injector", f"{where}: {reason}{unused}", f"start the server, or {fix}")
        else:
            yield ok("injector", f"{where} greets: {greeting[:120]}{unused}")
        return
    answer = deployment.program(config.argv[0])
    if answer.ok:
        yield ok("injector", f"{answer.detail}{unused}")
    else:
        yield problem(
            "injector",
            f"{answer.detail}: deliveries as {deployment.user.name} cannot forward (deferred) "
            f"or send notices{unused}",
            f"install qmail's qmail-inject there, or {fix}",
        )


# ---- notice templates ----


@check("templates")
def templates(deployment: Deployment) -> Iterator[Finding]:
    if deployment.tree is None or deployment.policy is None:
        return
    model = deployment.policy.model
    directory = templates_of(model)
    problems, sources = check_templates(model)
    for diagnostic in problems:
        yield fail(
            "templates",
            render_text(diagnostic, sources).splitlines()[0],
            diagnostic.hint or "see templates/README.md",
        )
    answer = deployment.access(access.readable_tree, directory)
    if not answer.ok:
        yield fail(
            "templates",
            f"{answer.detail}: deliveries as {deployment.user.name} cannot send notices",
            f"make the templates readable: chmod -R a+rX {directory}",
        )
    elif not problems:
        yield ok("templates", f"every notice the policy can send renders ({directory})")


# ---- the SMTP client's address ----


@check("client-ip")
def client_address(deployment: Deployment) -> Iterator[Finding]:
    """`client.ip`, network selectors and bombers by client read the address our own
    qmail-smtpd wrote in its Received line, found by this host's name after `by`: with no
    name known they never match, and no delivery says so."""
    if deployment.tree is None or deployment.policy is None:
        return
    uses = client_address_uses(deployment.policy.model)
    if not uses:
        return
    what, span = uses[0]
    where = f"{what} ({span.file}:{span.line})" + (
        f" and {len(uses) - 1} more" if len(uses) > 1 else ""
    )
    hostname = deployment.tree.settings.get("hostname", "")
    if hostname:
        yield ok("client-ip", f"{where}: read from Received lines by {hostname} (hostname)")
        return
    answer = deployment.access(access.readable_file, QMAIL_ME)
    name = our_hostname("") if answer.ok else ""
    if name:
        yield ok("client-ip", f"{where}: read from Received lines by {name} ({QMAIL_ME})")
        return
    seen = answer.detail if not answer.ok else f"{QMAIL_ME} is empty"
    yield warn(
        "client-ip",
        f"{where}: no hostname setting, and {seen}: the client's address is never known, "
        "so these never match",
        'set hostname "NAME" in the policy, NAME as qmail-smtpd writes it after "by" in '
        f"its Received line, or make {QMAIL_ME} readable",
    )


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
