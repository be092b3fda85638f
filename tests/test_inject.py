"""Forwarding through a real SMTP server and a real sendmail-like subprocess."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qmvc.actions.inject import ForwardError, InjectorConfig, forward, parse_injector
from tests.smtp_support import SmtpServer, free_port, running_smtp_server

MESSAGE = b"From: a@example.org\nTo: b@example.org\nSubject: hi\n\n.leading dot\n.\nend\n"

FAKE_SENDMAIL = """\
import json, sys
from pathlib import Path
record = Path(sys.argv[0]).with_suffix(".json")
record.write_text(json.dumps({"args": sys.argv[1:], "stdin": sys.stdin.buffer.read().hex()}))
sys.exit(int(__import__("os").environ.get("FAKE_EXIT", "0")))
"""


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp_server() as server:
        yield server


def smtp_config(server: SmtpServer) -> InjectorConfig:
    return InjectorConfig("smtp", host=server.host, port=server.port)


@pytest.fixture
def fake_sendmail(tmp_path: Path) -> Path:
    script = tmp_path / "fake_sendmail.py"
    script.write_text(FAKE_SENDMAIL)
    return script


def recorded(script: Path) -> dict[str, object]:
    return json.loads(script.with_suffix(".json").read_text())  # type: ignore[no-any-return]


def test_smtp_forward_keeps_envelope_sender_recipients_and_bytes(smtp_server: SmtpServer) -> None:
    forward(
        MESSAGE, "a@example.org", ["x@example.net", "y@example.net"], smtp_config(smtp_server), 5
    )
    [mail] = smtp_server.received
    assert mail.mail_from == "a@example.org"
    assert mail.rcpt_tos == ("x@example.net", "y@example.net")
    assert mail.content == MESSAGE.replace(b"\n", b"\r\n")


def test_smtp_forward_of_null_sender_says_mail_from_null(smtp_server: SmtpServer) -> None:
    forward(MESSAGE, "", ["x@example.net"], smtp_config(smtp_server), 5)
    assert smtp_server.received[0].mail_from == "<>"  # aiosmtpd keeps the null path as written


def test_smtp_forward_keeps_eight_bit_body(smtp_server: SmtpServer) -> None:
    message = "Subject: ü\n\nGrüße\n".encode()
    forward(message, "a@example.org", ["x@example.net"], smtp_config(smtp_server), 5)
    assert smtp_server.received[0].content == message.replace(b"\n", b"\r\n")


def test_refused_recipient_fails_the_whole_forward(smtp_server: SmtpServer) -> None:
    smtp_server.refused_recipients.add("nobody@example.net")
    with pytest.raises(ForwardError, match="refused RCPT TO:<nobody@example.net>: 550"):
        forward(
            MESSAGE,
            "a@example.org",
            ["x@example.net", "nobody@example.net"],
            smtp_config(smtp_server),
            5,
        )
    assert smtp_server.received == []


def test_nothing_listening_is_a_forward_error() -> None:
    config = InjectorConfig("smtp", host="127.0.0.1", port=free_port())
    with pytest.raises(ForwardError, match="smtp 127.0.0.1:"):
        forward(MESSAGE, "a@example.org", ["x@example.net"], config, 5)


def test_command_gets_sender_recipients_and_message(fake_sendmail: Path) -> None:
    config = InjectorConfig("command", argv=(sys.executable, str(fake_sendmail)))
    forward(MESSAGE, "a@example.org", ["x@example.net", "y@example.net"], config, 10)
    call = recorded(fake_sendmail)
    assert call["args"] == ["-f", "a@example.org", "x@example.net", "y@example.net"]
    assert bytes.fromhex(str(call["stdin"])) == MESSAGE


def test_command_gets_empty_f_for_null_sender(fake_sendmail: Path) -> None:
    config = InjectorConfig("command", argv=(sys.executable, str(fake_sendmail)))
    forward(MESSAGE, "", ["x@example.net"], config, 10)
    assert recorded(fake_sendmail)["args"] == ["-f", "", "x@example.net"]


def test_failing_command_is_a_forward_error(
    fake_sendmail: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_EXIT", "75")
    config = InjectorConfig("command", argv=(sys.executable, str(fake_sendmail)))
    with pytest.raises(ForwardError, match="exited with 75"):
        forward(MESSAGE, "a@example.org", ["x@example.net"], config, 10)


def test_missing_command_is_a_forward_error(tmp_path: Path) -> None:
    config = InjectorConfig("command", argv=(str(tmp_path / "no-such-inject"),))
    with pytest.raises(ForwardError, match="cannot run"):
        forward(MESSAGE, "a@example.org", ["x@example.net"], config, 10)


def test_hanging_command_times_out_as_a_forward_error() -> None:
    config = InjectorConfig("command", argv=(sys.executable, "-c", "import time; time.sleep(30)"))
    with pytest.raises(ForwardError, match="did not finish within 0.5 s"):
        forward(MESSAGE, "a@example.org", ["x@example.net"], config, 0.5)


@pytest.mark.parametrize("recipient", ["-oQ/tmp/x", "", "x@example.net\r\nRCPT TO:<y@z>"])
def test_hostile_recipient_is_refused_before_anything_runs(recipient: str) -> None:
    config = InjectorConfig("command", argv=("/bin/false",))
    with pytest.raises(ForwardError):
        forward(MESSAGE, "a@example.org", [recipient], config, 10)


def test_parse_injector_reads_smtp_and_commands() -> None:
    assert parse_injector("smtp:mx.example.org:2525") == InjectorConfig(
        "smtp", host="mx.example.org", port=2525
    )
    assert parse_injector("smtp:[::1]") == InjectorConfig("smtp", host="::1", port=25)
    assert parse_injector("/var/qmail/bin/qmail-inject") == InjectorConfig(
        "command", argv=("/var/qmail/bin/qmail-inject",)
    )
    assert parse_injector("'/usr/sbin/sendmail' -i").argv == ("/usr/sbin/sendmail", "-i")


def test_parse_injector_gives_sendmail_oi() -> None:
    assert parse_injector("/usr/sbin/sendmail").argv == ("/usr/sbin/sendmail", "-oi")


@pytest.mark.parametrize("text", ["", "smtp:", "smtp:host:port", "smtp:host:70000"])
def test_parse_injector_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        parse_injector(text)


def test_a_failing_command_is_named_with_the_last_line_it_wrote(tmp_path: Path) -> None:
    """The admin reads which program failed and its last word, even if it wrote bytes that
    are not UTF-8 (not a UnicodeDecodeError instead of the forward's own error)."""
    script = tmp_path / "inject-that-fails"
    script.write_text(
        "import sys\n"
        "sys.stderr.buffer.write(b'first line\\nqueue \\xff full\\n\\n')\n"
        "sys.exit(75)\n"
    )
    config = InjectorConfig("command", argv=(sys.executable, str(script)))
    with pytest.raises(ForwardError) as raised:
        forward(MESSAGE, "a@example.org", ["x@example.net"], config, 10)
    assert str(raised.value) == f"{sys.executable} exited with 75: queue \ufffd full"


def test_a_command_that_fails_silently_says_so(tmp_path: Path) -> None:
    config = InjectorConfig("command", argv=(sys.executable, "-c", "raise SystemExit(3)"))
    with pytest.raises(ForwardError) as raised:
        forward(MESSAGE, "a@example.org", ["x@example.net"], config, 10)
    assert str(raised.value) == f"{sys.executable} exited with 3: no message"


def test_a_hanging_command_is_named_in_the_time_out() -> None:
    config = InjectorConfig("command", argv=(sys.executable, "-c", "import time; time.sleep(30)"))
    with pytest.raises(ForwardError) as raised:
        forward(MESSAGE, "a@example.org", ["x@example.net"], config, 0.5)
    assert str(raised.value) == f"{sys.executable} did not finish within 0.5 s"


def test_what_the_command_prints_does_not_reach_qmvcs_own_output(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Under qmail, a delivery program's output is what qmail-local logs for the delivery:
    an injector's chatter must not end up there."""
    config = InjectorConfig("command", argv=(sys.executable, "-c", "print('queued as 42')"))
    forward(MESSAGE, "a@example.org", ["x@example.net"], config, 10)
    assert capfd.readouterr().out == ""


def test_only_a_2xx_smtp_reply_lets_the_forward_go_on() -> None:
    """The edges: 200 and 299 go on; 199 and 300 (and 354, DATA's go-ahead, which smtplib
    consumes itself) stop the forward, said with the reply, bytes not UTF-8 included."""
    from qmvc.actions.inject import _expect

    _expect((200, b"ok"), "step")
    _expect((299, b"ok"), "step")
    for code in (199, 300, 354, 450, 550):
        with pytest.raises(ForwardError) as raised:
            _expect((code, b"no \xff way"), "smtp h:25 refused RCPT TO:<x@y>")
        assert str(raised.value) == f"smtp h:25 refused RCPT TO:<x@y>: {code} no \ufffd way"
