"""ClamdScanner against a real clamd, and against fake servers for what clamd never does.

A real clamd cannot be made to answer garbage, nothing, or slowly on demand, so those
cases use a small fake server on a unix socket that reads the upload and then
misbehaves as told.
"""

from __future__ import annotations

import binascii
import contextlib
import io
import socket
import struct
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path

import pytest

from qmvc.message import Envelope, MessageFacts
from qmvc.scanners import clamd as clamd_module
from qmvc.scanners.base import ScanPart, ScanResult
from qmvc.scanners.clamd import MAX_LOCATED_PARTS, ClamdScanner, parse_reply
from qmvc.scanners.spec import ClamdAddress, ClamdSpec, Timeout
from tests.clamd_support import EICAR, RunningClamd, free_tcp_port

pytest_plugins = ["tests.clamd_support"]


def scan_with(*addresses: ClamdAddress, message: bytes, seconds: float = 10.0) -> ScanResult:
    spec = ClamdSpec("clamd", addresses, Timeout(seconds))
    return ClamdScanner(spec).scan(message, ())


def unix(path: str | Path) -> ClamdAddress:
    return ClamdAddress(socket_path=str(path))


def text_message(body: str = "Hello,\n\nsee you tomorrow.\n") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "alice@example.org"
    message["To"] = "bob@example.net"
    message["Subject"] = "test"
    message.set_content(body)
    return message


def with_attachment(content: bytes, filename: str, cte: str = "base64") -> bytes:
    message = text_message()
    message.add_attachment(
        content, maintype="application", subtype="octet-stream", filename=filename, cte=cte
    )
    return message.as_bytes()


def quoted_printable(content: bytes) -> bytes:
    """Every punctuation byte as =XX, eight bytes a line, joined by soft breaks.

    Python's encoder leaves EICAR as plain text ending in a hard line break, which
    changes the decoded bytes and so the hash a one-line `.hdb` database matches.
    """
    tokens = [bytes([byte]) if chr(byte).isalnum() else b"=%02X" % byte for byte in content]
    lines = [b"".join(tokens[start : start + 8]) for start in range(0, len(tokens), 8)]
    return b"=\n".join(lines) + b"="


def zipped(filename: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(filename, content)
    return buffer.getvalue()


def assert_eicar_found(result: ScanResult) -> None:
    assert result.status == "infected", result
    assert result.viruses == ("Eicar-Test-Signature.UNOFFICIAL",)


# --- a real clamd -------------------------------------------------------------------


def test_clean_mail_is_clean(clamd_server: RunningClamd) -> None:
    result = scan_with(unix(clamd_server.socket_path), message=text_message().as_bytes())
    assert result.status == "clean"
    assert result.viruses == ()
    assert clamd_server.socket_path in result.detail


def test_clean_attachment_is_clean(clamd_server: RunningClamd) -> None:
    message = with_attachment(b"%PDF-1.4 not really\n" * 50, "report.pdf")
    assert scan_with(unix(clamd_server.socket_path), message=message).status == "clean"


def test_eicar_attachment_in_base64_is_found(clamd_server: RunningClamd) -> None:
    message = with_attachment(EICAR, "eicar.com", cte="base64")
    assert_eicar_found(scan_with(unix(clamd_server.socket_path), message=message))


def test_eicar_attachment_in_quoted_printable_is_found(clamd_server: RunningClamd) -> None:
    message = (
        b"From: a@example.org\nSubject: qp\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="b1"\n\n'
        b"--b1\nContent-Type: text/plain\n\nhello\n"
        b"--b1\nContent-Type: application/octet-stream\n"
        b"Content-Transfer-Encoding: quoted-printable\n"
        b'Content-Disposition: attachment; filename="eicar.com"\n\n'
        + quoted_printable(EICAR)
        + b"\n--b1--\n"
    )
    assert_eicar_found(scan_with(unix(clamd_server.socket_path), message=message))


def test_eicar_inside_nested_message_is_found(clamd_server: RunningClamd) -> None:
    inner = text_message("forwarding the thing")
    inner.add_attachment(EICAR, maintype="application", subtype="octet-stream", filename="e.com")
    outer = text_message("see the attached message")
    outer.add_attachment(inner)
    raw = outer.as_bytes()
    assert b"message/rfc822" in raw
    assert_eicar_found(scan_with(unix(clamd_server.socket_path), message=raw))


def test_eicar_inside_zip_attachment_is_found(clamd_server: RunningClamd) -> None:
    message = with_attachment(zipped("eicar.com", EICAR), "invoice.zip")
    assert_eicar_found(scan_with(unix(clamd_server.socket_path), message=message))


def test_message_over_stream_max_length_is_too_large(clamd_tiny_limit: RunningClamd) -> None:
    message = with_attachment(b"x" * 200_000, "big.bin")
    result = scan_with(unix(clamd_tiny_limit.socket_path), message=message)
    assert result.status == "too-large", result
    assert "size limit" in result.detail


def test_message_over_stream_max_length_is_too_large_over_tcp(
    clamd_tiny_limit: RunningClamd,
) -> None:
    address = ClamdAddress(host="127.0.0.1", port=clamd_tiny_limit.tcp_port)
    result = scan_with(address, message=with_attachment(b"x" * 2_000_000, "big.bin"))
    assert result.status == "too-large", result


def test_clamd_over_tcp_finds_eicar(clamd_server: RunningClamd) -> None:
    address = ClamdAddress(host="127.0.0.1", port=clamd_server.tcp_port)
    assert_eicar_found(scan_with(address, message=with_attachment(EICAR, "eicar.com")))


def test_concurrent_scans_each_get_their_own_answer(clamd_server: RunningClamd) -> None:
    address = unix(clamd_server.socket_path)
    messages = [with_attachment(EICAR, "e.com"), text_message().as_bytes()] * 8
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(lambda message: scan_with(address, message=message).status, messages)
        )
    assert statuses == ["infected", "clean"] * 8


def test_absurdly_long_timeout_still_scans(clamd_server: RunningClamd) -> None:
    """`timeout 99999999h` means "never"; beyond ~292 years the OS timers would overflow."""
    result = scan_with(unix(clamd_server.socket_path), message=b"Subject: x\n\nhi\n", seconds=1e12)
    assert result.status == "clean", result


# --- addresses that fail --------------------------------------------------------------


def test_missing_socket_is_failed_not_clean(tmp_path: Path) -> None:
    result = scan_with(unix(tmp_path / "nowhere.sock"), message=b"Subject: x\n\nhi\n")
    assert result.status == "failed"
    assert "nowhere.sock unreachable" in result.detail


def test_second_address_is_used_when_first_is_missing(
    clamd_server: RunningClamd, tmp_path: Path
) -> None:
    dead = unix(tmp_path / "dead.sock")
    result = scan_with(dead, unix(clamd_server.socket_path), message=with_attachment(EICAR, "e"))
    assert_eicar_found(result)
    assert "dead.sock unreachable" in result.detail
    assert f"{clamd_server.socket_path}: stream:" in result.detail


def test_second_address_is_used_when_first_refuses(
    clamd_server: RunningClamd, tmp_path: Path
) -> None:
    refusing = tmp_path / "refusing.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bound_not_listening:
        bound_not_listening.bind(str(refusing))
        result = scan_with(
            unix(refusing), unix(clamd_server.socket_path), message=text_message().as_bytes()
        )
    assert result.status == "clean"
    assert "refusing.sock unreachable (Connection refused)" in result.detail


def test_closed_tcp_port_falls_over_to_next_address(clamd_server: RunningClamd) -> None:
    closed = ClamdAddress(host="127.0.0.1", port=free_tcp_port())
    live = ClamdAddress(host="127.0.0.1", port=clamd_server.tcp_port)
    result = scan_with(closed, live, message=with_attachment(EICAR, "e.com"))
    assert_eicar_found(result)
    assert f"{closed} unreachable" in result.detail


def test_no_address_at_all_is_failed() -> None:
    assert scan_with(message=b"Subject: x\n\nhi\n").status == "failed"


# --- fake servers: replies a real clamd does not give on demand ------------------------


@pytest.fixture
def fake_clamd(tmp_path: Path) -> Iterator[tuple[Path, list[bytes | float]]]:
    """A unix-socket server that reads one INSTREAM upload, then replies as scripted.

    The script is a list filled by the test: bytes are sent, a float is a pause.
    """
    path = tmp_path / "fake.sock"
    script: list[bytes | float] = []
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    thread = threading.Thread(target=_serve_once, args=(listener, script), daemon=True)
    thread.start()
    yield path, script
    listener.close()


def _serve_once(listener: socket.socket, script: list[bytes | float]) -> None:
    try:
        connection, _ = listener.accept()
    except OSError:
        return
    with connection, contextlib.suppress(OSError):  # the client may give up first
        _read_upload(connection)
        for step in script:
            if isinstance(step, float):
                time.sleep(step)
            else:
                connection.sendall(step)


def _read_upload(connection: socket.socket) -> None:
    stream = connection.makefile("rb")
    assert stream.read(len(b"zINSTREAM\0")) == b"zINSTREAM\0"
    while length := struct.unpack(">I", stream.read(4))[0]:
        stream.read(length)


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (b"stream: UNKNOWN\0", "unrecognised"),
        (b"UNKNOWN COMMAND\0", "unrecognised"),
        (b"stream: Can't allocate memory ERROR\0", "unrecognised"),
        (b"\x00\xff garbage \x13\0", "unrecognised"),
        (b"stream: Eicar-Test-Signature FOU", "truncated"),
        (b"stream: OK", "truncated"),
        (b"", "empty"),
        (b"stream: OK\0stream: Worm FOUND\0", "unrecognised"),
    ],
)
def test_unrecognised_replies_are_failed_never_clean_or_infected(
    fake_clamd: tuple[Path, list[bytes | float]], reply: bytes, why: str
) -> None:
    path, script = fake_clamd
    script.append(reply)
    result = scan_with(unix(path), message=with_attachment(EICAR, "e.com"))
    assert result.status == "failed"
    assert result.viruses == ()
    assert why in result.detail


def test_reply_longer_than_clamd_ever_gives_is_failed(
    fake_clamd: tuple[Path, list[bytes | float]],
) -> None:
    """Lines of exactly 4096 bytes, so the reader's cut falls on a line end."""
    path, script = fake_clamd
    found_line = b"stream: " + b"W" * (4096 - len(b"stream:  FOUND\0")) + b" FOUND\0"
    script.append(found_line * 20 + b"stream: Can't allocate memory ERROR\0")
    result = scan_with(unix(path), message=text_message().as_bytes())
    assert result.status == "failed", result
    assert "longer than" in result.detail


def test_slow_server_is_failed_within_the_timeout(
    fake_clamd: tuple[Path, list[bytes | float]],
) -> None:
    path, script = fake_clamd
    script += [3.0, b"stream: OK\0"]
    started = time.monotonic()
    result = scan_with(unix(path), message=text_message().as_bytes(), seconds=0.5)
    assert result.status == "failed"
    assert "timed out" in result.detail
    assert time.monotonic() - started < 2.0


def test_fake_server_speaking_correctly_is_believed(
    fake_clamd: tuple[Path, list[bytes | float]],
) -> None:
    path, script = fake_clamd
    script.append(b"stream: Win.Test.One FOUND\0stream: Win.Test.Two FOUND\0")
    result = scan_with(unix(path), message=text_message().as_bytes())
    assert result.status == "infected"
    assert result.viruses == ("Win.Test.One", "Win.Test.Two")


def _answer_without_reading(listener: socket.socket, reply: bytes) -> None:
    """Reads only the command, answers and hangs up: the rest of the upload is never read."""
    with contextlib.suppress(OSError):
        connection, _ = listener.accept()
        with connection:
            connection.recv(len(b"zINSTREAM\0"))
            connection.sendall(reply)


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (b"stream: OK\0", "failed"),
        (b"stream: Win.Test.One FOUND\0", "infected"),
        (b"INSTREAM size limit exceeded. ERROR\0", "too-large"),
    ],
)
def test_clean_answer_to_an_upload_clamd_did_not_read_is_failed(
    tmp_path: Path, reply: bytes, status: str
) -> None:
    path = tmp_path / "hasty.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(1)
        server = threading.Thread(target=_answer_without_reading, args=(listener, reply))
        server.start()
        result = scan_with(unix(path), message=with_attachment(b"x" * 4_000_000, "big.bin"))
        server.join()
    assert result.status == status, result


# --- the reply parser alone --------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (b"stream: OK\0", "clean"),
        (b"stream: Eicar-Test-Signature FOUND\0", "infected"),
        (b"INSTREAM size limit exceeded. ERROR\0", "too-large"),
        (b"stream: FOUND\0", "failed"),
        (b"stream:  FOUND\0", "failed"),
        (b"stream: OK\0stream: OK\0", "failed"),
        (b"stream: Worm FOUND\0INSTREAM size limit exceeded. ERROR\0", "failed"),
    ],
)
def test_reply_parser(reply: bytes, status: str) -> None:
    assert parse_reply(reply)[0] == status


def scan_parts_with(address: ClamdAddress, parts: list[ScanPart]) -> ScanResult:
    spec = ClamdSpec("clamd", (address,), Timeout(10.0))
    return ClamdScanner(spec).scan(text_message().as_bytes(), parts)


def test_a_hidden_part_is_scanned_after_a_clean_message(clamd_server: RunningClamd) -> None:
    result = scan_parts_with(
        unix(clamd_server.socket_path),
        [ScanPart("notes.txt", b"harmless\n"), ScanPart("setup.exe", EICAR)],
    )
    assert_eicar_found(result)
    assert "'setup.exe'" in result.detail


def test_clean_hidden_parts_leave_the_message_clean(clamd_server: RunningClamd) -> None:
    result = scan_parts_with(unix(clamd_server.socket_path), [ScanPart("a.txt", b"hello\n")])
    assert result.status == "clean"


def test_a_hidden_part_over_the_stream_limit_is_not_clean(
    clamd_tiny_limit: RunningClamd,
) -> None:
    message = b"Subject: hi\n\nhi\n"
    spec = ClamdSpec("clamd", (unix(clamd_tiny_limit.socket_path),), Timeout(10.0))
    result = ClamdScanner(spec).scan(message, [ScanPart("big.bin", b"x" * 200_000)])
    assert result.status == "too-large"
    assert "'big.bin'" in result.detail


# --- where each virus was found -------------------------------------------------------------

EICAR_NAME = "Eicar-Test-Signature.UNOFFICIAL"


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[ClamdAddress]:
    """Every connection ClamdScanner opens to the real clamd, one per INSTREAM."""
    opened: list[ClamdAddress] = []
    connect = clamd_module._connect

    def counting(address: ClamdAddress, deadline: float) -> socket.socket:
        opened.append(address)
        return connect(address, deadline)

    monkeypatch.setattr(clamd_module, "_connect", counting)
    return opened


def scan_as_delivered(server: RunningClamd, raw: bytes) -> ScanResult:
    """As the evaluator calls clamd: the message, its hidden parts, its attachments on demand."""
    facts = MessageFacts(raw, Envelope.from_addresses("alice@example.org", "bob@example.net"))
    scanner = ClamdScanner(ClamdSpec("clamd", (unix(server.socket_path),), Timeout(10.0)))
    return scanner.scan(facts.scan_message, facts.hidden_scan_parts(), facts.attachment_scan_parts)


def with_attachments(*files: tuple[str, bytes]) -> bytes:
    message = text_message()
    for filename, content in files:
        message.add_attachment(
            content, maintype="application", subtype="octet-stream", filename=filename
        )
    return message.as_bytes()


def test_a_virus_is_located_in_the_attachment_that_carries_it(clamd_server: RunningClamd) -> None:
    raw = with_attachments(("report.pdf", b"%PDF-1.4 not really\n" * 50), ("eicar.com", EICAR))
    result = scan_as_delivered(clamd_server, raw)
    assert_eicar_found(result)
    assert result.locations == ((EICAR_NAME, "eicar.com"),)


def test_a_virus_inside_a_zip_is_located_in_the_zip(clamd_server: RunningClamd) -> None:
    raw = with_attachments(("invoice.zip", zipped("eicar.com", EICAR)))
    result = scan_as_delivered(clamd_server, raw)
    assert_eicar_found(result)
    assert result.locations == ((EICAR_NAME, "invoice.zip"),)


def test_a_virus_in_a_forwarded_message_is_located_by_its_container_path(
    clamd_server: RunningClamd,
) -> None:
    inner = text_message("forwarding the thing")
    inner.add_attachment(
        EICAR, maintype="application", subtype="octet-stream", filename="eicar.com"
    )
    outer = text_message("see the attached message")
    outer.add_attachment(inner, filename="forwarded.eml")
    result = scan_as_delivered(clamd_server, outer.as_bytes())
    assert_eicar_found(result)
    assert result.locations == ((EICAR_NAME, "forwarded.eml › eicar.com"),)


def test_a_virus_uuencoded_in_the_body_is_located_by_its_uuencoded_name(
    clamd_server: RunningClamd,
) -> None:
    lines = [binascii.b2a_uu(EICAR[start : start + 45]) for start in range(0, len(EICAR), 45)]
    block = b"begin 644 eicar.com\n" + b"".join(lines) + b"`\nend\n"
    raw = b"From: a@example.org\nSubject: uu\n\nthe file, the old way:\n\n" + block
    result = scan_as_delivered(clamd_server, raw)
    assert_eicar_found(result)
    assert result.locations == ((EICAR_NAME, "eicar.com"),)


def test_an_infected_hidden_part_is_the_location_of_its_virus(clamd_server: RunningClamd) -> None:
    result = scan_parts_with(
        unix(clamd_server.socket_path),
        [ScanPart("setup.exe", EICAR, "notes.txt › setup.exe")],
    )
    assert_eicar_found(result)
    assert result.locations == ((EICAR_NAME, "notes.txt › setup.exe"),)


def test_an_infected_hidden_part_without_a_location_is_named_by_its_name(
    clamd_server: RunningClamd,
) -> None:
    result = scan_parts_with(unix(clamd_server.socket_path), [ScanPart("setup.exe", EICAR)])
    assert result.locations == ((EICAR_NAME, "setup.exe"),)


def test_a_clean_message_costs_one_instream_whatever_its_attachments(
    clamd_server: RunningClamd, connections: list[ClamdAddress]
) -> None:
    raw = with_attachments(("a.pdf", b"%PDF-1.4\n" * 10), ("b.zip", zipped("b.txt", b"hello")))
    assert scan_as_delivered(clamd_server, raw).status == "clean"
    assert len(connections) == 1


def test_locating_stops_once_every_virus_has_its_attachment(
    clamd_server: RunningClamd, connections: list[ClamdAddress]
) -> None:
    clean = [(f"clean-{n}.txt", b"nothing here %d\n" % n) for n in range(3)]
    result = scan_as_delivered(clamd_server, with_attachments(("eicar.com", EICAR), *clean))
    assert result.locations == ((EICAR_NAME, "eicar.com"),)
    assert len(connections) == 2  # the message, then eicar.com alone


def test_locating_streams_at_most_twenty_attachments_and_invents_no_location(
    clamd_server: RunningClamd, connections: list[ClamdAddress]
) -> None:
    clean = [(f"clean-{n}.txt", b"nothing here %d\n" % n) for n in range(MAX_LOCATED_PARTS)]
    result = scan_as_delivered(clamd_server, with_attachments(*clean, ("eicar.com", EICAR)))
    assert_eicar_found(result)
    assert result.locations == ()
    assert len(connections) == 1 + MAX_LOCATED_PARTS


def test_a_fault_while_locating_leaves_the_virus_found_and_unlocated(
    clamd_server: RunningClamd,
) -> None:
    def broken() -> list[ScanPart]:
        raise RuntimeError("a bug in the attachment list")

    scanner = ClamdScanner(ClamdSpec("clamd", (unix(clamd_server.socket_path),), Timeout(10.0)))
    result = scanner.scan(with_attachment(EICAR, "eicar.com"), (), broken)
    assert_eicar_found(result)
    assert result.locations == ()
