"""The attack corpus (tests/corpus/attacks) through the shipped default policy, as qmail runs it.

Each message hides an attachment or payload the way hostile mail does; the table ATTACKS in
make_attacks.py says what the default policy must make of it. Every message goes through a
real `qmvc deliver` (qmail-local's environment, exit code, its qmvc.log line) and a real
`qmvc explain --format json`, both with policies/default.qmvc as shipped (its dangerous-names
list included), only the clamd socket pointed at the tests' own clamd.

The processes of all selected messages run a few at a time before the first assertion (the
deliveries in one QMVC_DIR, so the compiled policy is cached once, their log lines matched by
pid); each message is still its own test and fails alone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from qmvc.logs.line import LogRecord
from tests.clamd_support import RunningClamd
from tests.corpus.attacks.make_attacks import ANY, ATTACKS, ATTACKS_DIR, Attack, main
from tests.deliver_support import PROJECT, RECIPIENT, QmailSetup, clean_message, log_records

pytest_plugins = ["tests.clamd_support"]

TIMEOUT_SECONDS = 60.0
WORKERS = max(2, min(4, (os.cpu_count() or 2) + 1))
NOT_DEFERRED = {"clean", "badmail", "virus"}


def test_generator_is_deterministic(tmp_path: Path) -> None:
    main(tmp_path)
    built = sorted(path.name for path in tmp_path.iterdir())
    committed = sorted(
        path.name for path in ATTACKS_DIR.iterdir() if path.suffix in (".eml", ".md")
    )
    assert built == committed
    for name in built:
        assert (tmp_path / name).read_bytes() == (ATTACKS_DIR / name).read_bytes(), name


def test_the_table_is_large_and_its_names_unique() -> None:
    names = [attack.name for attack in ATTACKS]
    assert len(names) == len(set(names)) >= 70
    for attack in ATTACKS:
        assert attack.outcome in (*NOT_DEFERRED, ANY), attack.name
        assert attack.outcome == ANY or attack.exit in (0, 99), attack.name


@dataclass(frozen=True)
class Delivered:
    """What one message's `qmvc deliver` left: exit code, stderr, its qmvc.log lines."""

    returncode: int
    stderr: str
    records: list[LogRecord]


@dataclass(frozen=True)
class Explained:
    """What one message's `qmvc explain --format json` printed, and its exit code."""

    returncode: int
    stdout: bytes
    stderr: str


@pytest.fixture(scope="module")
def default_policy(tmp_path_factory: pytest.TempPathFactory, clamd_server: RunningClamd) -> Path:
    """policies/ copied as it is, the default's clamd socket replaced by the test clamd's."""
    directory = tmp_path_factory.mktemp("policies")
    shutil.copytree(PROJECT / "policies", directory, dirs_exist_ok=True)
    policy = directory / "default.qmvc"
    text = policy.read_text()
    pattern = r'(scanner\s+clamav\s+clamd\s+socket\s+)"[^"]*"'
    replaced, count = re.subn(pattern, rf'\1"{clamd_server.socket_path}"', text)
    assert count == 1, "the default policy no longer has one `scanner clamav clamd socket`"
    policy.write_text(replaced)
    return policy


def selected_attacks(request: pytest.FixtureRequest, test_name: str) -> list[Attack]:
    """The attacks whose `test_name` case this session runs (all, unless -k narrows it)."""
    return [
        item.callspec.params["attack"]
        for item in request.session.items
        if item.module is request.module
        and getattr(item, "originalname", "") == test_name
        and "attack" in item.callspec.params  # type: ignore[attr-defined]
    ]


@pytest.fixture(scope="module")
def deliveries(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, default_policy: Path
) -> dict[str, Delivered]:
    """Every selected attack through `qmvc deliver`, WORKERS at a time, in one QMVC_DIR."""
    attacks = selected_attacks(request, "test_deliver_gives_the_expected_outcome")
    qmail = QmailSetup(tmp_path_factory.mktemp("qmail"), default_policy)
    qmail.deliver(clean_message(), timeout=TIMEOUT_SECONDS)  # compiles and caches the policy
    with ThreadPoolExecutor(WORKERS) as pool:
        finished = dict(zip(attacks, pool.map(lambda a: deliver(qmail, a), attacks), strict=True))
    records = log_records(qmail.qmvc_dir / "qmvc.log")
    return {
        attack.name: Delivered(code, stderr, [record for record in records if record.pid == pid])
        for attack, (pid, code, stderr) in finished.items()
    }


@pytest.fixture(scope="module")
def explanations(request: pytest.FixtureRequest, default_policy: Path) -> dict[str, Explained]:
    """Every selected attack through `qmvc explain FILE --format json`, WORKERS at a time."""
    attacks = selected_attacks(request, "test_explain_gives_the_expected_verdict")
    with ThreadPoolExecutor(WORKERS) as pool:
        done = pool.map(lambda attack: explain(default_policy, attack), attacks)
        return {attack.name: result for attack, result in zip(attacks, done, strict=True)}


def deliver(qmail: QmailSetup, attack: Attack) -> tuple[int, int, str]:
    """pid, exit code and stderr of `qmvc deliver` run as qmail-local runs it."""
    process = qmail.start(
        (ATTACKS_DIR / attack.name).read_bytes(), qmail.environ(sender=attack.sender)
    )
    try:
        _, stderr = process.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
    return process.pid, process.returncode, stderr.decode("utf-8", "replace")


def explain(policy: Path, attack: Attack) -> Explained:
    """`qmvc explain FILE --format json` with the envelope qmail would have given."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("QMVC_")}
    environment["PYTHONPATH"] = str(PROJECT)
    command = [
        sys.executable, "-m", "qmvc.cli", "explain", str(ATTACKS_DIR / attack.name),
        "--format", "json", "--policy", str(policy),
        "--sender", attack.sender or "<>", "--recipient", RECIPIENT,
    ]  # fmt: skip
    try:
        done = subprocess.run(
            command, cwd=PROJECT, capture_output=True, env=environment, timeout=TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired:
        return Explained(-1, b"", f"explain did not finish within {TIMEOUT_SECONDS:g}s")
    return Explained(done.returncode, done.stdout, done.stderr.decode("utf-8", "replace"))


def ids(attack: Attack) -> str:
    return attack.name.removesuffix(".eml")


def expect(attack: Attack, outcome: str, exit_code: int) -> None:
    if attack.outcome == ANY:
        assert outcome in NOT_DEFERRED and exit_code in (0, 99, 100), (outcome, exit_code)
    else:
        assert (outcome, exit_code) == (attack.outcome, attack.exit)


@pytest.mark.parametrize("attack", ATTACKS, ids=ids)
def test_deliver_gives_the_expected_outcome(
    deliveries: dict[str, Delivered], attack: Attack
) -> None:
    delivery = deliveries[attack.name]
    assert "Traceback" not in delivery.stderr, delivery.stderr
    assert len(delivery.records) == 1, (delivery.returncode, delivery.stderr)
    [record] = delivery.records
    assert record.exit_code == delivery.returncode
    assert delivery.returncode != 111, f"deferred: {record.outcome}: {delivery.stderr}"
    expect(attack, record.outcome, delivery.returncode)
    if attack.rule is not None:
        assert (attack.rule, "1") in record.criteria, record.criteria


@pytest.mark.parametrize("attack", ATTACKS, ids=ids)
def test_explain_gives_the_expected_verdict(
    explanations: dict[str, Explained], attack: Attack
) -> None:
    explained = explanations[attack.name]
    assert "Traceback" not in explained.stderr, explained.stderr
    assert explained.returncode == 0, explained.stderr
    verdict = json.loads(explained.stdout)
    expect(attack, verdict["outcome"], verdict["exit_code"])
    if attack.rule is not None:
        assert [criterion["name"] for criterion in verdict["criteria"]] == [attack.rule]
