"""Forward a message to other addresses, keeping its original envelope sender.

qmail's `forward` re-injects with the envelope sender from NEWSENDER; qmvc does the same
through a configurable injector:

- a command: `qmail-inject` or any sendmail-compatible program. It is run as
  `ARGV... -f SENDER RECIPIENT...` with the message on stdin. qmail-inject (and qmail's own
  `sendmail` wrapper, and Postfix's) takes the envelope sender from `-f`, which overrides
  QMAILSUSER/QMAILSHOST and Return-Path; `-f ''` gives the null sender `<>`. With recipient
  arguments, qmail-inject sends only to them and ignores the header's To/Cc. A program named
  `sendmail` gets `-oi` so that a line holding only "." does not end the message early.
- SMTP to HOST:PORT (`smtp:HOST:PORT`): MAIL FROM the original sender (`<>` for the null
  sender), every RCPT must be accepted before DATA is sent, so a forward is all or nothing.

Any failure raises ForwardError; the caller defers (exit 111) and qmail retries later with
the message still queued. Only the stdlib is imported, subprocess and smtplib only when used.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

SENDMAIL_NO_DOT_OPTIONS = ("-i", "-oi")


class ForwardError(Exception):
    """A forward did not happen; the message must stay in qmail's queue (defer, 111)."""


@dataclass(frozen=True, slots=True)
class InjectorConfig:
    """How to re-inject mail: a sendmail-compatible command, or an SMTP server."""

    kind: Literal["command", "smtp"]
    argv: tuple[str, ...] = ()
    host: str = ""
    port: int = 25


def parse_injector(text: str) -> InjectorConfig:
    """`smtp:HOST[:PORT]` (IPv6 as `smtp:[::1]:25`) or a command line split like a shell would."""
    text = text.strip()
    if text.startswith("smtp:"):
        return _parse_smtp_address(text[len("smtp:") :])
    import shlex

    argv = tuple(shlex.split(text))
    if not argv:
        raise ValueError("empty injector: give a command line or smtp:HOST:PORT")
    if os.path.basename(argv[0]) == "sendmail" and not set(SENDMAIL_NO_DOT_OPTIONS) & set(argv):
        argv += ("-oi",)
    return InjectorConfig("command", argv=argv)


def _parse_smtp_address(address: str) -> InjectorConfig:
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, _, port_text = address.partition(":")
    if not host:
        raise ValueError(f"smtp injector without a host: {address!r}")
    try:
        port = int(port_text) if port_text else 25
    except ValueError:
        raise ValueError(f"smtp injector port is not a number: {port_text!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"smtp injector port out of range: {port}")
    return InjectorConfig("smtp", host=host, port=port)


def _check_addresses(sender: str, recipients: Sequence[str]) -> None:
    """Refuse what could smuggle an option into argv or a command into the SMTP dialogue."""
    if not recipients:
        raise ForwardError("no recipients to forward to")
    for address in (sender, *recipients):
        if any(ord(char) < 32 or ord(char) == 127 for char in address):
            raise ForwardError(f"control character in address {address!r}")
    for recipient in recipients:
        if not recipient or recipient.startswith("-"):
            raise ForwardError(f"unusable recipient address {recipient!r}")


def forward(
    message: bytes,
    sender: str,
    recipients: Sequence[str],
    injector: InjectorConfig,
    timeout: float,
) -> None:
    """Send `message` to `recipients` with envelope sender `sender` ('' is `<>`), or raise."""
    _check_addresses(sender, recipients)
    if injector.kind == "smtp":
        _forward_smtp(message, sender, recipients, injector, timeout)
    else:
        _forward_command(message, sender, recipients, injector, timeout)


def _forward_command(
    message: bytes, sender: str, recipients: Sequence[str], injector: InjectorConfig, timeout: float
) -> None:
    import subprocess

    argv = [*injector.argv, "-f", sender, *recipients]
    try:
        finished = subprocess.run(
            argv, input=message, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise ForwardError(f"{injector.argv[0]} did not finish within {timeout:g} s") from None
    except OSError as error:
        raise ForwardError(f"cannot run {injector.argv[0]}: {error.strerror}") from error
    if finished.returncode != 0:
        detail = finished.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = detail[-1] if detail else "no message"
        raise ForwardError(f"{injector.argv[0]} exited with {finished.returncode}: {reason}")


def _forward_smtp(
    message: bytes, sender: str, recipients: Sequence[str], injector: InjectorConfig, timeout: float
) -> None:
    import re
    import smtplib

    wire_message = re.sub(rb"\r?\n", b"\r\n", message)
    where = f"smtp {injector.host}:{injector.port}"
    try:
        with smtplib.SMTP(injector.host, injector.port, timeout=timeout) as smtp:
            smtp.ehlo_or_helo_if_needed()
            options = (
                ["BODY=8BITMIME"] if smtp.has_extn("8bitmime") and not message.isascii() else []
            )
            _expect(smtp.mail(sender, options), f"{where} refused MAIL FROM:<{sender}>")
            for recipient in recipients:
                _expect(smtp.rcpt(recipient), f"{where} refused RCPT TO:<{recipient}>")
            _expect(smtp.data(wire_message), f"{where} refused the message")
    except (OSError, smtplib.SMTPException, UnicodeError) as error:
        raise ForwardError(f"{where}: {error}") from error


def _expect(reply: tuple[int, bytes], what: str) -> None:
    """Accept 2xx replies only; anything else aborts the whole forward before DATA."""
    code, text = reply
    if not 200 <= code < 300:
        raise ForwardError(f"{what}: {code} {text.decode('utf-8', 'replace')}")
