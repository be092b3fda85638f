"""The `forward` action as qmail's own forward does it: the envelope sender qmail gives
(NEWSENDER, else SENDER, else the null sender), DTLINE on top of the bytes as they came
(surrogate-escaped environment bytes back as they were), through a real SMTP server or a
real command, and a failure named with every recipient, in time."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import qmvc.actions.perform
from qmvc.actions.perform import ActionFailed, _forward
from qmvc.engine.tree import DecisionTree
from qmvc.policy.policy import Policy
from tests.smtp_support import SmtpServer, free_port, running_smtp_server

RAW = b"From: a@example.org\nSubject: hi\n\nbody\n"


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


def tree_with(tmp_path: Path, injector: str) -> DecisionTree:
    policy = tmp_path / "policy.qmvc"
    policy.write_text(f'injector "{injector}"\nprofile only default {{\n}}\n')
    return Policy.load(policy).compile()


@pytest.mark.parametrize(
    ("environ", "envelope_sender"),
    [
        ({"NEWSENDER": "new@example.org", "SENDER": "old@example.org"}, "new@example.org"),
        ({"SENDER": "old@example.org"}, "old@example.org"),
        ({}, "<>"),
    ],
)
def test_the_envelope_sender_is_newsender_else_sender_else_null(
    tmp_path: Path, smtp_server: SmtpServer, environ: dict[str, str], envelope_sender: str
) -> None:
    tree = tree_with(tmp_path, f"smtp:{smtp_server.host}:{smtp_server.port}")
    _forward(RAW, ["x@example.net"], tree, environ)
    [mail] = smtp_server.received
    assert (mail.mail_from, mail.rcpt_tos) == (envelope_sender, ("x@example.net",))
    assert mail.content == RAW.replace(b"\n", b"\r\n")


def test_dtline_goes_on_top_with_the_bytes_qmail_gave(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """An address that is not UTF-8 reaches Python's environment as surrogate escapes; the
    forwarded header must carry the original byte, not fail or change it."""
    tree = tree_with(tmp_path, f"smtp:{smtp_server.host}:{smtp_server.port}")
    dtline = b"Delivered-To: b\xff@example.com\n".decode("utf-8", "surrogateescape")
    _forward(RAW, ["x@example.net"], tree, {"SENDER": "a@example.org", "DTLINE": dtline})
    [mail] = smtp_server.received
    assert mail.content == (b"Delivered-To: b\xff@example.com\n" + RAW).replace(b"\n", b"\r\n")


def test_a_failed_forward_names_every_recipient(tmp_path: Path) -> None:
    tree = tree_with(tmp_path, f"smtp:127.0.0.1:{free_port()}")
    with pytest.raises(ActionFailed) as raised:
        _forward(RAW, ["x@example.net", "y@example.net"], tree, {"SENDER": "a@example.org"})
    assert str(raised.value).startswith("forward to x@example.net, y@example.net: smtp 127.0.0.1:")


def test_a_forward_command_that_hangs_fails_at_the_action_time_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(qmvc.actions.perform, "ACTION_TIMEOUT_SECONDS", 0.5)
    hang = tmp_path / "hang.py"
    hang.write_text("import time\ntime.sleep(5)\n")
    tree = tree_with(tmp_path, f"{sys.executable} {hang}")
    with pytest.raises(ActionFailed) as raised:
        _forward(RAW, ["x@example.net"], tree, {"SENDER": "a@example.org"})
    assert str(raised.value) == (
        f"forward to x@example.net: {sys.executable} did not finish within 0.5 s"
    )
