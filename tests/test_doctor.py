"""`qmvc doctor` run for real: a real unprivileged user, real clamd, a real SMTP server.

Each test builds a deployment under a directory the test user can enter and runs
`python -m qmvc.cli doctor` as a subprocess: as root with `--user NAME`, and, where the
user's own view matters, as that user itself (uid and one group, as qmail-local runs).
"""

from __future__ import annotations

import grp
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.clamd_support import EICAR_HDB, ClamdUnavailable, RunningClamd, running_clamd
from tests.doctor_support import (
    REPO,
    CannotTest,
    UnprivilegedUser,
    run_as,
    unprivileged_user,
    user_python,
    write_daily_database,
)
from tests.smtp_support import SmtpServer, running_smtp_server

pytest_plugins = ["tests.clamd_support"]

HOUR = 3600.0


@pytest.fixture(scope="module")
def user() -> Iterator[UnprivilegedUser]:
    try:
        with unprivileged_user() as created:
            yield created
    except CannotTest as reason:
        pytest.skip(str(reason))


@pytest.fixture(scope="module")
def user_interpreter(user: UnprivilegedUser) -> tuple[str, str]:
    try:
        return user_python(user)
    except CannotTest as reason:
        pytest.skip(str(reason))


def clamd_with_daily_database(workdir: Path, created: float) -> Iterator[RunningClamd]:
    """clamd on a socket the test user can reach, its daily database made at `created`."""
    database = write_daily_database(workdir / "db", EICAR_HDB, created)
    try:
        with running_clamd(workdir, database.parent) as server:
            yield server
    except ClamdUnavailable as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="module")
def fresh_clamd(user: UnprivilegedUser) -> Iterator[RunningClamd]:
    yield from clamd_with_daily_database(user.shared / "clamd-fresh", time.time() - HOUR)


@pytest.fixture(scope="module")
def stale_clamd(user: UnprivilegedUser) -> Iterator[RunningClamd]:
    yield from clamd_with_daily_database(user.shared / "clamd-stale", time.time() - 5 * 24 * HOUR)


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def site(user: UnprivilegedUser) -> Path:
    """A directory of this test's files, readable by the user, owned by root."""
    directory = user.shared / f"site-{uuid.uuid4().hex[:8]}"
    directory.mkdir(mode=0o755)
    return directory


def good_policy(site: Path, clamd: RunningClamd, smtp: SmtpServer, **overrides: str) -> Path:
    """A policy every check passes with: clamd, a command engine, quarantines under QMVC_DIR,
    notices through the SMTP server, the shipped templates. `overrides` replace lines."""
    lines = {
        "clamd_scanner": f'scanner clamav clamd socket "{clamd.socket_path}" timeout 10s',
        "command_scanner": 'scanner lister command run "/bin/ls {dir}" clean 0 infected 1',
        "injector": f'injector "smtp:{smtp.host}:{smtp.port}"',
        "templates": "",
        "keep": 'keep "quarantine/virus"',
    }
    lines.update(overrides)
    policy = site / "policy.qmvc"
    settings = "\n".join(lines[key] for key in ("clamd_scanner", "command_scanner", "injector"))
    policy.write_text(
        f"{settings}\n{lines['templates']}\n"
        'guard av "postmaster@example.org"\n'
        "profile standard default {\n"
        '  badmail exe when any attachment.name matches "*.exe"\n'
        "  scan clamav, lister\n"
        f"  on virus {{ {lines['keep']}; notify av }}\n"
        '  on badmail { keep "quarantine/badmail" }\n'
        "  on clean { deliver }\n"
        "}\n"
    )
    return policy


def database_created(server: RunningClamd) -> datetime:
    """The creation time in the daily database's header (its ninth field)."""
    header = (Path(server.db_dir) / "daily.cud").read_bytes()[:512].decode().rstrip()
    return datetime.fromtimestamp(int(header.split(":")[8]))


def doctor_as_root(
    policy: Path, *options: str, qmvc_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("QMVC_")}
    if qmvc_dir is not None:
        environment["QMVC_DIR"] = str(qmvc_dir)
    return subprocess.run(
        [sys.executable, "-m", "qmvc.cli", "doctor", "--policy", str(policy), *options],
        env=environment,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def doctor_for(
    user: UnprivilegedUser, policy: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    """As root, for the user: `qmvc doctor --user NAME`."""
    return doctor_as_root(policy, "--user", user.name, *options)


def doctor_by(
    user: UnprivilegedUser, interpreter: tuple[str, str], policy: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    """As the user itself."""
    python, pythonpath = interpreter
    argv = [python, "-m", "qmvc.cli", "doctor", "--policy", str(policy), *options]
    return run_as(user, argv, pythonpath)


def report(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def statuses(done: subprocess.CompletedProcess[str], check: str) -> list[tuple[str, str, str]]:
    """(status, detail, fix) of each finding of one check."""
    return [
        (c["status"], c["detail"], c["fix"]) for c in report(done)["checks"] if c["check"] == check
    ]


def failures(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [f"{c['check']}: {c['detail']}" for c in report(done)["checks"] if c["status"] == "fail"]


# ---- a deployment that works ----


def test_a_good_deployment_passes_when_run_as_the_user(
    user: UnprivilegedUser,
    user_interpreter: tuple[str, str],
    site: Path,
    fresh_clamd: RunningClamd,
    smtp_server: SmtpServer,
) -> None:
    policy = good_policy(site, fresh_clamd, smtp_server)
    done = doctor_by(user, user_interpreter, policy, "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    document = report(done)
    assert document["ok"] is True
    assert {c["status"] for c in document["checks"]} == {"ok"}, document
    checks = [c["check"] for c in document["checks"]]
    assert checks == [
        "user",
        "policy",
        "qmvc-dir",
        "log-file",
        "report-file",
        "state-dir",
        "cache-dir",
        "quarantine",
        "quarantine",
        "clamd",
        "command-engine",
        "injector",
        "templates",
    ]
    assert statuses(done, "qmvc-dir")[0][1].startswith(f"{user.home}/.qmvc does not exist yet")
    assert not (user.home / ".qmvc").exists()  # checked, not created


def test_a_good_deployment_passes_for_the_user_when_root_asks(
    user: UnprivilegedUser, site: Path, fresh_clamd: RunningClamd, smtp_server: SmtpServer
) -> None:
    policy = good_policy(site, fresh_clamd, smtp_server)
    done = doctor_for(user, policy, "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert report(done)["ok"] is True and not failures(done)
    [(status, detail, _)] = statuses(done, "user")
    assert status == "ok" and f"checking as {user.name} (uid {user.uid})" in detail
    assert statuses(done, "qmvc-dir")[0][1].startswith(str(user.home / ".qmvc"))
    assert not (user.home / ".qmvc").exists()


def test_text_output_is_one_line_per_finding_with_status_first(
    user: UnprivilegedUser, site: Path, fresh_clamd: RunningClamd, smtp_server: SmtpServer
) -> None:
    policy = good_policy(site, fresh_clamd, smtp_server, injector='injector "/nonexistent/inject"')
    done = doctor_for(user, policy)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"ok    user: checking as {user.name}")
    assert any(line.startswith("ok    clamd: clamav at ") for line in lines)
    [injector] = [line for line in lines if "injector:" in line]
    assert injector.startswith("FAIL  injector: /nonexistent/inject") and " — install " in injector
    assert lines[-1].startswith("qmvc doctor: 1 failed, 0 warning(s), ")


# ---- directories ----


def test_an_unwritable_quarantine_fails_for_the_user_though_root_could_write_it(
    user: UnprivilegedUser,
    user_interpreter: tuple[str, str],
    site: Path,
    fresh_clamd: RunningClamd,
    smtp_server: SmtpServer,
) -> None:
    quarantine = site / "root-only" / "virus"
    (site / "root-only").mkdir(mode=0o755)
    policy = good_policy(site, fresh_clamd, smtp_server, keep=f'keep "{quarantine}"')
    as_root = doctor_as_root(policy, "--format", "json")
    assert [s for s, _, _ in statuses(as_root, "quarantine")] == ["ok", "ok"]
    for done in (
        doctor_for(user, policy, "--format", "json"),
        doctor_by(user, user_interpreter, policy, "--format", "json"),
    ):
        assert done.returncode == 1, done.stdout + done.stderr
        assert report(done)["ok"] is False
        [(status, detail, fix)] = [
            f for f in statuses(done, "quarantine") if str(quarantine) in f[1]
        ]
        assert status == "fail"
        assert f"{quarantine} does not exist and cannot be created" in detail
        assert f"{site / 'root-only'} is not writable" in detail and "on virus" in detail
        assert f"install -d -o {user.name}" in fix
        assert failures(done) == [f"quarantine: {detail}"]
    assert not quarantine.exists()


def test_a_quarantine_writable_only_through_a_supplementary_group_fails_for_the_user(
    user: UnprivilegedUser, site: Path, fresh_clamd: RunningClamd, smtp_server: SmtpServer
) -> None:
    """qmail-local keeps only the user's own group: other groups from /etc/group do not count."""
    group = f"qg{uuid.uuid4().hex[:12]}"
    subprocess.run(["groupadd", group], check=True, capture_output=True)
    try:
        subprocess.run(["usermod", "-aG", group, user.name], check=True, capture_output=True)
        shared_dir = site / "group-writable"
        shared_dir.mkdir()
        os.chown(shared_dir, 0, grp.getgrnam(group).gr_gid)
        shared_dir.chmod(0o775)
        policy = good_policy(site, fresh_clamd, smtp_server, keep=f'keep "{shared_dir / "virus"}"')
        done = doctor_for(user, policy, "--format", "json")
        assert done.returncode == 1
        [failure] = failures(done)
        assert failure.startswith(f"quarantine: {shared_dir / 'virus'} does not exist and cannot")
        assert f"{shared_dir} is not writable" in failure
    finally:
        subprocess.run(["gpasswd", "-d", user.name, group], capture_output=True)
        subprocess.run(["groupdel", group], capture_output=True)


def test_an_existing_qmvc_dir_owned_by_root_fails_each_file_in_it(
    user: UnprivilegedUser, site: Path, fresh_clamd: RunningClamd, smtp_server: SmtpServer
) -> None:
    base = site / "qmvc"
    base.mkdir(mode=0o755)
    policy = good_policy(site, fresh_clamd, smtp_server)
    done = doctor_as_root(policy, "--user", user.name, "--format", "json", qmvc_dir=base)
    assert done.returncode == 1
    failed = {c["check"]: c for c in report(done)["checks"] if c["status"] == "fail"}
    assert set(failed) == {
        "qmvc-dir",
        "log-file",
        "report-file",
        "state-dir",
        "cache-dir",
        "quarantine",
    }
    assert failed["qmvc-dir"]["detail"].startswith(f"{base} is not writable")
    assert failed["qmvc-dir"]["fix"] == f"give it to the user: chown {user.name}:{user.name} {base}"


# ---- scanners ----


def test_a_live_clamd_passes_and_shows_the_date_of_its_signatures(
    user: UnprivilegedUser, site: Path, fresh_clamd: RunningClamd, smtp_server: SmtpServer
) -> None:
    done = doctor_for(user, good_policy(site, fresh_clamd, smtp_server), "--format", "json")
    [(status, detail, _)] = statuses(done, "clamd")
    assert status == "ok"
    shown = f"{database_created(fresh_clamd):%Y-%m-%d %H:%M}"  # clamd's local time, as doctor's
    assert f"signatures 27461 of {shown}" in detail
    assert re.search(r"answers PING, ClamAV \d+\.\d+", detail) and "(1 hour(s) old)" in detail


def test_signatures_older_than_two_days_are_a_warning(
    user: UnprivilegedUser, site: Path, stale_clamd: RunningClamd, smtp_server: SmtpServer
) -> None:
    done = doctor_for(user, good_policy(site, stale_clamd, smtp_server), "--format", "json")
    assert done.returncode == 0, done.stdout
    [(status, detail, fix)] = statuses(done, "clamd")
    assert status == "warn" and "(5 days old): older than 2 days" in detail
    assert "freshclam" in fix


@pytest.mark.parametrize("leftover", [False, True], ids=["no-socket", "socket-nobody-listens-on"])
def test_a_dead_clamd_socket_fails(
    user: UnprivilegedUser,
    site: Path,
    fresh_clamd: RunningClamd,
    smtp_server: SmtpServer,
    leftover: bool,
) -> None:
    dead = site / "clamd.ctl"
    if leftover:  # what a crashed clamd leaves behind
        with socket.socket(socket.AF_UNIX) as bound:
            bound.bind(str(dead))
    clamd_line = f'scanner clamav clamd socket "{dead}" timeout 3s'
    done = doctor_for(
        user,
        good_policy(site, fresh_clamd, smtp_server, clamd_scanner=clamd_line),
        "--format",
        "json",
    )
    assert done.returncode == 1
    [(status, detail, fix)] = statuses(done, "clamd")
    reason = "Connection refused" if leftover else "No such file or directory"
    assert status == "fail" and detail.startswith(f"clamav at {dead}: cannot connect ({reason})")
    assert "scanner clamav" in fix


def test_a_clamd_socket_the_user_cannot_reach_fails_for_the_user(
    user: UnprivilegedUser, site: Path, fresh_clamd: RunningClamd, smtp_server: SmtpServer
) -> None:
    policy = good_policy(site, fresh_clamd, smtp_server)
    socket_dir = Path(fresh_clamd.socket_path).parent
    socket_dir.chmod(0o700)
    try:
        as_root = doctor_as_root(policy, "--format", "json")
        done = doctor_for(user, policy, "--format", "json")
    finally:
        socket_dir.chmod(0o755)
    assert [status for status, _, _ in statuses(as_root, "clamd")] == ["ok"]
    assert done.returncode == 1
    [failure] = failures(done)
    assert failure.startswith(f"clamd: clamav at {fresh_clamd.socket_path}: ")
    assert f"{socket_dir} cannot be entered (no search permission)" in failure


def test_a_missing_command_engine_program_fails(
    user: UnprivilegedUser, site: Path, fresh_clamd: RunningClamd, smtp_server: SmtpServer
) -> None:
    missing = 'scanner lister command run "/nonexistent/avscan {dir}" clean 0 infected 1'
    done = doctor_for(
        user,
        good_policy(site, fresh_clamd, smtp_server, command_scanner=missing),
        "--format",
        "json",
    )
    assert done.returncode == 1
    [(status, detail, fix)] = statuses(done, "command-engine")
    assert status == "fail" and detail.startswith("lister: /nonexistent/avscan: No such file")
    assert fix.startswith("install avscan")


def test_a_catalogued_engine_not_on_path_fails(
    user: UnprivilegedUser, site: Path, fresh_clamd: RunningClamd, smtp_server: SmtpServer
) -> None:
    engine = "scanner lister command engine uvscan"
    done = doctor_for(
        user,
        good_policy(site, fresh_clamd, smtp_server, command_scanner=engine),
        "--format",
        "json",
    )
    [(status, detail, _)] = statuses(done, "command-engine")
    assert status == "fail" and detail.startswith("lister: uvscan is not on PATH (")


def test_a_program_the_user_may_not_execute_fails(
    user: UnprivilegedUser, site: Path, fresh_clamd: RunningClamd, smtp_server: SmtpServer
) -> None:
    program = site / "avscan"
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o744)  # root may run it, the user may not
    line = f'scanner lister command run "{program} {{dir}}" clean 0 infected 1'
    policy = good_policy(site, fresh_clamd, smtp_server, command_scanner=line)
    assert statuses(doctor_as_root(policy, "--format", "json"), "command-engine")[0][0] == "ok"
    [(status, detail, _)] = statuses(doctor_for(user, policy, "--format", "json"), "command-engine")
    assert status == "fail" and f"{program} is not executable (no execute permission)" in detail


# ---- the injector ----


def test_an_injector_that_does_not_exist_fails_when_the_policy_notifies(
    user: UnprivilegedUser, site: Path, fresh_clamd: RunningClamd, smtp_server: SmtpServer
) -> None:
    missing = 'injector "/var/qmail-nonexistent/bin/qmail-inject"'
    done = doctor_for(
        user, good_policy(site, fresh_clamd, smtp_server, injector=missing), "--format", "json"
    )
    assert done.returncode == 1
    [(status, detail, fix)] = statuses(done, "injector")
    assert status == "fail"
    assert detail.startswith("/var/qmail-nonexistent/bin/qmail-inject: No such file or directory")
    assert "qmail-inject" in fix and "smtp:HOST:PORT" in fix


def test_an_smtp_injector_nobody_answers_on_fails(
    user: UnprivilegedUser, site: Path, fresh_clamd: RunningClamd, smtp_server: SmtpServer
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        line = f'injector "smtp:127.0.0.1:{port}"'
        done = doctor_for(
            user, good_policy(site, fresh_clamd, smtp_server, injector=line), "--format", "json"
        )
    [(status, detail, _)] = statuses(done, "injector")
    assert status == "fail" and detail == f"smtp 127.0.0.1:{port}: Connection refused"


def test_a_missing_injector_is_a_warning_when_the_policy_never_injects(
    user: UnprivilegedUser, site: Path, fresh_clamd: RunningClamd, smtp_server: SmtpServer
) -> None:
    policy = site / "policy.qmvc"
    policy.write_text(
        'injector "/nonexistent/inject"\n'
        'profile p default { badmail exe when any attachment.name matches "*.exe"\n'
        '  on badmail { keep "quarantine" } }\n'
    )
    done = doctor_for(user, policy, "--format", "json")
    assert done.returncode == 0
    [(status, detail, _)] = statuses(done, "injector")
    assert status == "warn" and detail.endswith(
        "(the policy neither forwards nor notifies, so it is not used)"
    )


# ---- templates and the policy ----


def test_a_misspelt_template_variable_fails_with_its_file_and_line(
    user: UnprivilegedUser, site: Path, fresh_clamd: RunningClamd, smtp_server: SmtpServer
) -> None:
    templates = site / "templates" / "en"
    templates.mkdir(parents=True)
    shipped = REPO / "templates" / "en"
    for template in shipped.glob("*.j2"):
        (templates / template.name).write_text(template.read_text())
    (templates / "av_guard.j2").write_text("Subject: virus for {{ recipient }}\n\n{{ sendr }}\n")
    policy = good_policy(
        site, fresh_clamd, smtp_server, templates=f'templates "{templates.parent}"'
    )
    done = doctor_for(user, policy, "--format", "json")
    assert done.returncode == 1
    [(status, detail, fix)] = statuses(done, "templates")
    assert status == "fail"
    assert detail.startswith(f"{templates / 'av_guard.j2'}:3:1: error[template-error]: ")
    assert "'sendr' is undefined" in detail and "templates/README.md" in fix


def test_a_policy_that_does_not_compile_fails_with_its_first_diagnostics(
    user: UnprivilegedUser, site: Path
) -> None:
    policy = site / "policy.qmvc"
    policy.write_text("profile p default {\n  scan nosuchscanner\n  on virus { defer }\n}\n")
    done = doctor_for(user, policy, "--format", "json")
    assert done.returncode == 1
    [(status, detail, _)] = statuses(done, "policy")
    assert status == "fail" and detail.startswith(f"{policy}:2:8: error[undefined-scanner]: ")
    assert {c["check"] for c in report(done)["checks"]} == {
        "user",
        "policy",
        "qmvc-dir",
        "log-file",
        "report-file",
        "state-dir",
        "cache-dir",
    }


def test_a_policy_the_user_cannot_read_fails(
    user: UnprivilegedUser, site: Path, fresh_clamd: RunningClamd, smtp_server: SmtpServer
) -> None:
    policy = good_policy(site, fresh_clamd, smtp_server)
    policy.chmod(0o600)
    [(_, _, _), (status, detail, fix)] = statuses(
        doctor_for(user, policy, "--format", "json"), "policy"
    )
    assert status == "fail" and detail.startswith(f"{policy} is not readable")
    assert f"chgrp {user.name} {policy}" in fix


# ---- who may ask ----


def test_an_unknown_user_is_a_usage_error(site: Path) -> None:
    done = doctor_as_root(site / "policy.qmvc", "--user", "no-such-user-qmvc")
    assert done.returncode == 2 and "no such user: no-such-user-qmvc" in done.stderr


def test_only_root_checks_for_another_user(
    user: UnprivilegedUser, user_interpreter: tuple[str, str], site: Path
) -> None:
    python, pythonpath = user_interpreter
    argv = [python, "-m", "qmvc.cli", "doctor", "--user", "root"]
    done = run_as(user, argv, pythonpath)
    assert done.returncode == 2 and "only root can check as root" in done.stderr


def test_root_checking_as_itself_is_warned(site: Path) -> None:
    policy = site / "policy.qmvc"
    policy.write_text("profile p default { on clean { deliver } }\n")
    done = doctor_as_root(policy, "--format", "json")
    [(status, detail, fix)] = statuses(done, "user")
    assert status == "warn" and detail.startswith("checking as root") and "--user NAME" in fix


# ---- the SMTP client's address ----

CLIENT_POLICY = """\
list ours = 10.0.0.0/8
profile p default {
  bypass scan when client.ip in list ours
  badmail exe when any attachment.name matches "*.exe"
  on badmail { keep "quarantine" }
}
profile inside for client.ip in 192.168.0.0/16 { on clean { deliver } }
"""


def test_client_ip_is_found_by_the_policys_hostname(user: UnprivilegedUser, site: Path) -> None:
    policy = site / "policy.qmvc"
    policy.write_text('hostname "mx.example.org"\n' + CLIENT_POLICY)
    done = doctor_for(user, policy, "--format", "json")
    assert statuses(done, "client-ip") == [
        (
            "ok",
            f"a client.ip test ({policy}:4) and 1 more: read from Received lines by "
            "mx.example.org (hostname)",
            "",
        )
    ]


def test_client_ip_without_any_host_name_is_a_warning(user: UnprivilegedUser, site: Path) -> None:
    """qmail's `me` is absent here (no qmail is installed on the test machine): nothing can
    tell our qmail-smtpd's Received line from a forged one, so client.ip is never known."""
    if Path("/var/qmail/control/me").exists():
        pytest.skip("this machine has qmail's control/me: the warning cannot be shown here")
    policy = site / "policy.qmvc"
    policy.write_text(CLIENT_POLICY)
    done = doctor_for(user, policy, "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    [(status, detail, fix)] = statuses(done, "client-ip")
    assert status == "warn"
    assert detail.startswith(f"a client.ip test ({policy}:3) and 1 more: no hostname setting")
    assert detail.endswith("the client's address is never known, so these never match")
    assert 'set hostname "NAME" in the policy' in fix


def test_a_policy_that_never_reads_the_client_has_no_client_ip_line(
    user: UnprivilegedUser, site: Path
) -> None:
    policy = site / "policy.qmvc"
    policy.write_text(
        'profile p default { badmail exe when any attachment.name matches "*.exe"\n'
        '  on badmail { keep "quarantine" } }\n'
    )
    done = doctor_for(user, policy, "--format", "json")
    assert statuses(done, "client-ip") == []
