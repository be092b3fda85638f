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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path

import pytest

from qmvc.message import Envelope, MessageFacts
from qmvc.scanners import clamd as clamd_module
from qmvc.scanners.base import ScanPart, ScanResult
from qmvc.scanners.clamd import MAX_LOCATED_PARTS, ClamdScanner, parse_reply, signature_version
from qmvc.scanners.spec import ClamdAddress, ClamdSpec, Timeout
from tests.clamd_support import EICAR, RunningClamd, free_tcp_port

pytest_plugins = ["tests.clamd_support"]

EICAR_NAME = "Eicar-Test-Signature.UNOFFICIAL"


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
    assert result.locations == ()
    assert result.detail == f"{clamd_server.socket_path}: stream: OK"
    assert 0.0 <= result.seconds < 10.0  # the time it took, not a clock reading


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
    assert result.detail == (
        f"{dead} unreachable (No such file or directory); "
        f"{clamd_server.socket_path}: stream: {EICAR_NAME} FOUND"
    )


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
    result = scan_with(message=b"Subject: x\n\nhi\n")
    assert result.status == "failed"
    assert result.viruses == ()
    assert result.detail == "no clamd address configured"


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
    assert result.detail == f"{path}: reply longer than 65536 bytes: {found_line[:200]!r}"


def test_slow_server_is_failed_within_the_timeout(
    fake_clamd: tuple[Path, list[bytes | float]],
) -> None:
    path, script = fake_clamd
    script += [3.0, b"stream: OK\0"]
    started = time.monotonic()
    result = scan_with(unix(path), message=text_message().as_bytes(), seconds=0.5)
    assert result.status == "failed"
    assert result.detail == f"{path}: timed out"
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
    assert result.locations == ()
    assert result.detail == f"{clamd_server.socket_path}: stream: OK"  # no part named: none matters


def test_a_hidden_part_over_the_stream_limit_is_not_clean(
    clamd_tiny_limit: RunningClamd,
) -> None:
    message = b"Subject: hi\n\nhi\n"
    spec = ClamdSpec("clamd", (unix(clamd_tiny_limit.socket_path),), Timeout(10.0))
    result = ClamdScanner(spec).scan(message, [ScanPart("big.bin", b"x" * 200_000)])
    assert result.status == "too-large"
    assert "'big.bin'" in result.detail


# --- where each virus was found -------------------------------------------------------------


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


# --- time limits, dead and busy addresses, the text of each failure ------------------------


def test_the_scanner_is_named_by_its_spec_and_wants_no_decoded_parts() -> None:
    """The engine logs a verdict under the scanner's name, and hands every decoded part to a
    scanner that wants parts (engine/evaluate.py): clamd parses MIME itself, so it must get
    only the hidden parts, or a clean message would cost one INSTREAM per attachment."""
    scanner = ClamdScanner(ClamdSpec("farm", (unix("/nonexistent.sock"),), Timeout(1.0)))
    assert scanner.name == "farm"
    assert scanner.wants_parts is False


def test_past_the_deadline_no_address_is_tried_even_a_live_one(
    clamd_server: RunningClamd, connections: list[ClamdAddress]
) -> None:
    """`timeout 0s`: the deadline has passed before the first connection, and each address
    says so in the detail; nothing was scanned, so nothing is clean."""
    first = unix(clamd_server.socket_path)
    second = ClamdAddress(host="127.0.0.1", port=clamd_server.tcp_port)
    result = scan_with(first, second, message=with_attachment(EICAR, "e.com"), seconds=0.0)
    assert result.status == "failed"
    assert result.viruses == ()
    assert result.detail == (
        f"{first} unreachable (deadline passed before connecting); "
        f"{second} unreachable (deadline passed before connecting)"
    )
    assert 0.0 <= result.seconds < 1.0
    assert connections == [first, second]


def test_the_time_limit_grows_with_the_hidden_parts_too(clamd_server: RunningClamd) -> None:
    """`timeout 0s + 20s per MB` gives a small message with a 512 KiB hidden part 10 s."""
    spec = ClamdSpec("clamd", (unix(clamd_server.socket_path),), Timeout(0.0, 20.0))
    part = ScanPart("notes.txt", b"nothing to see here\n" * 26_215)
    result = ClamdScanner(spec).scan(b"Subject: hi\n\nhi\n", [part])
    assert result.status == "clean", result


def test_a_host_name_python_cannot_encode_is_unreachable_not_a_crash() -> None:
    """A label over 63 characters fails in the idna codec (a ValueError, no errno), before any
    lookup: its text is the reason given."""
    host = "x" * 64 + ".example.org"
    with pytest.raises(ValueError, match="idna") as raised:
        socket.create_connection((host, 3310), 1.0)
    address = ClamdAddress(host=host, port=3310)
    result = scan_with(address, message=b"Subject: x\n\nhi\n")
    assert result.status == "failed"
    assert result.detail == f"{address} unreachable ({raised.value})"


@pytest.mark.parametrize(
    ("error", "described"),
    [
        (FileNotFoundError(2, "No such file or directory"), "No such file or directory"),
        (TimeoutError("deadline passed before connecting"), "deadline passed before connecting"),
        (ValueError("embedded null byte"), "embedded null byte"),
        (TimeoutError(), "TimeoutError"),
    ],
)
def test_an_error_is_described_by_its_reason_else_its_text_else_its_type(
    error: Exception, described: str
) -> None:
    assert clamd_module._describe(error) == described


@pytest.fixture
def busy_unix_socket(tmp_path: Path) -> Iterator[Path]:
    """A listening unix socket whose accept queue is full, as a clamd stuck on its threads.

    Another connection to it would wait for room; after 3 s the socket closes, so that a
    scanner wrongly waiting gets `Connection refused` instead of hanging the test.
    """
    path = tmp_path / "busy.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(0)
        queued: list[socket.socket] = []
        with contextlib.suppress(BlockingIOError):
            for _ in range(8):
                client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                queued.append(client)
                client.setblocking(False)
                client.connect(str(path))
        closer = threading.Timer(3.0, listener.close)
        closer.start()
        try:
            yield path
        finally:
            closer.cancel()
            for client in queued:
                client.close()


def test_a_unix_clamd_with_a_full_queue_is_passed_over_at_once(
    busy_unix_socket: Path, clamd_server: RunningClamd
) -> None:
    """A unix connect to a full queue fails at once under a timeout (EAGAIN), where a
    blocking one would wait for a free slot: the next address answers within the second."""
    started = time.monotonic()
    result = scan_with(
        unix(busy_unix_socket),
        unix(clamd_server.socket_path),
        message=text_message().as_bytes(),
    )
    assert time.monotonic() - started < 2.0
    assert result.status == "clean"
    assert result.detail == (
        f"{busy_unix_socket} unreachable (Resource temporarily unavailable); "
        f"{clamd_server.socket_path}: stream: OK"
    )


@pytest.fixture
def busy_tcp_port() -> Iterator[int]:
    """A listening TCP port on 127.0.0.1 whose accept queue is full: the kernel drops further
    SYNs, so a connect hangs until its timeout. It closes after 3 s (a SYN retried then is
    refused), so that a scanner with no connect timeout fails the test instead of hanging."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port: int = listener.getsockname()[1]
        first = socket.create_connection(("127.0.0.1", port), 1.0)  # fills the queue
        closer = threading.Timer(3.0, listener.close)
        closer.start()
        try:
            yield port
        finally:
            closer.cancel()
            first.close()


def test_a_tcp_connect_that_hangs_fails_at_the_deadline(busy_tcp_port: int) -> None:
    address = ClamdAddress(host="127.0.0.1", port=busy_tcp_port)
    started = time.monotonic()
    result = scan_with(address, message=b"Subject: x\n\nhi\n", seconds=0.5)
    assert 0.4 < time.monotonic() - started < 2.0
    assert result.status == "failed"
    assert result.detail == f"{address} unreachable (timed out)"


def test_a_clamd_that_never_reads_the_upload_is_failed_at_the_deadline(tmp_path: Path) -> None:
    """clamd reads nothing, not even its accept queue (a fake: clamd always reads): the upload
    fills the socket buffer and must give up at the deadline. The fake closes after 3 s at
    most, so that a scanner with no send timeout fails the test instead of hanging."""
    path = tmp_path / "deaf.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(1)
        closer = threading.Timer(3.0, listener.close)
        closer.start()
        started = time.monotonic()
        result = scan_with(unix(path), message=b"x" * 4_000_000, seconds=0.3)
        elapsed = time.monotonic() - started
        closer.cancel()
    assert elapsed < 2.0
    assert result.status == "failed"
    assert result.detail == f"{path}: timed out"


# --- replies over TCP ending in a reset (fakes: clamd resets only when it likes) -------------


def _tcp_server(serve: Callable[[socket.socket], None]) -> tuple[ClamdAddress, threading.Thread]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def once() -> None:
        with listener:
            connection, _ = listener.accept()
        with contextlib.suppress(OSError):
            serve(connection)
        # SO_LINGER 0: close with a reset (RST), as a crashing or killed clamd does
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.close()

    thread = threading.Thread(target=once)
    thread.start()
    return ClamdAddress(host="127.0.0.1", port=listener.getsockname()[1]), thread


def test_a_reset_instead_of_a_reply_is_failed() -> None:
    """The fake reads the whole upload and resets the connection without a word."""
    address, server = _tcp_server(_read_upload)
    result = scan_with(address, message=with_attachment(EICAR, "e.com"))
    server.join()
    assert result.status == "failed"
    assert result.viruses == ()
    assert result.detail == f"{address}: connection failed (Connection reset by peer)"


def test_a_reply_then_a_reset_during_the_upload_is_believed() -> None:
    """The fake reads the command only, answers and resets while the 4 MB upload is under
    way: over TCP the upload then fails with ECONNRESET (not EPIPE), and the reply stands."""

    def answer_early(connection: socket.socket) -> None:
        connection.recv(len(b"zINSTREAM\0"))
        connection.sendall(b"stream: Win.Test.One FOUND\0")
        time.sleep(0.2)

    address, server = _tcp_server(answer_early)
    result = scan_with(address, message=with_attachment(b"x" * 4_000_000, "big.bin"))
    server.join()
    assert result.status == "infected", result
    assert result.viruses == ("Win.Test.One",)


def test_a_reply_of_exactly_the_longest_allowed_size_is_read(
    fake_clamd: tuple[Path, list[bytes | float]],
) -> None:
    """16 FOUND lines of 4096 bytes: MAX_REPLY_BYTES exactly, which is still clamd talking."""
    path, script = fake_clamd
    lines = [b"stream: " + b"%04d" % n + b"W" * 4077 + b" FOUND\0" for n in range(16)]
    assert len(b"".join(lines)) == clamd_module.MAX_REPLY_BYTES
    script.append(b"".join(lines))
    result = scan_with(unix(path), message=text_message().as_bytes())
    assert result.status == "infected", result.detail[:100]
    assert len(result.viruses) == 16


# --- clamd gone after the message's scan (fakes: a real clamd cannot be stopped on cue) -------


@pytest.fixture
def clamd_answering_once(tmp_path: Path) -> Iterator[tuple[Path, list[bytes]]]:
    """A unix-socket clamd that stops listening as soon as it has taken one connection, then
    answers that one upload with the scripted reply: every later connection is refused."""
    path = tmp_path / "once.sock"
    reply: list[bytes] = []
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def serve() -> None:
        with listener:
            connection, _ = listener.accept()
        with connection:
            _read_upload(connection)
            connection.sendall(b"".join(reply))

    server = threading.Thread(target=serve)
    server.start()
    yield path, reply
    server.join()


def test_a_hidden_part_clamd_can_no_longer_be_reached_for_is_failed(
    clamd_answering_once: tuple[Path, list[bytes]],
) -> None:
    path, reply = clamd_answering_once
    reply.append(b"stream: OK\0")
    result = scan_parts_with(unix(path), [ScanPart("setup.exe", b"MZ not really\n")])
    assert result.status == "failed"
    assert result.viruses == ()
    assert result.detail == f"{path}: part 'setup.exe': unreachable (Connection refused)"


def test_locating_stops_when_clamd_can_no_longer_be_reached(
    clamd_answering_once: tuple[Path, list[bytes]], connections: list[ClamdAddress]
) -> None:
    path, reply = clamd_answering_once
    reply.append(b"stream: Win.Test.One FOUND\0")
    attachments = [ScanPart(f"{n}.exe", b"MZ %d\n" % n, f"{n}.exe") for n in range(3)]
    spec = ClamdSpec("clamd", (unix(path),), Timeout(10.0))
    result = ClamdScanner(spec).scan(text_message().as_bytes(), (), lambda: attachments)
    assert result.status == "infected"
    assert result.viruses == ("Win.Test.One",)
    assert result.locations == ()
    assert len(connections) == 2  # the message, then the first attachment: refused


# --- hidden parts: how they are named ----------------------------------------------------------


def test_a_long_part_name_is_cut_to_80_characters_in_the_detail(
    clamd_server: RunningClamd,
) -> None:
    name = "n" * 100 + ".exe"
    result = scan_parts_with(unix(clamd_server.socket_path), [ScanPart(name, EICAR)])
    assert_eicar_found(result)
    assert result.detail == (
        f"{clamd_server.socket_path}: part {'n' * 80!r}: stream: {EICAR_NAME} FOUND"
    )


def test_a_virus_in_a_part_with_neither_location_nor_name_is_left_unlocated(
    clamd_server: RunningClamd,
) -> None:
    result = scan_parts_with(unix(clamd_server.socket_path), [ScanPart("", EICAR)])
    assert_eicar_found(result)
    assert result.locations == ()


# --- the reply parser's descriptions -----------------------------------------------------------


def test_the_reply_parser_describes_what_clamd_said() -> None:
    assert parse_reply(b"") == ("failed", (), "empty reply")
    assert parse_reply(b"x" * 300) == ("failed", (), f"truncated reply {'x' * 200!r}")
    two = b"stream: Win.A FOUND\0stream: Win.B FOUND\0"
    assert parse_reply(two) == (
        "infected",
        ("Win.A", "Win.B"),
        "stream: Win.A FOUND | stream: Win.B FOUND",
    )


def test_the_description_of_a_long_reply_is_cut_to_500_characters() -> None:
    lines = [f"stream: Win.{n:03d}.{'x' * 40} FOUND" for n in range(20)]
    status, viruses, said = parse_reply("\0".join(lines).encode() + b"\0")
    assert status == "infected"
    assert len(viruses) == 20
    assert said == " | ".join(lines)[:500]


# --- the signature version the verdict cache keys on -------------------------------------------


def test_signature_version_of_a_real_clamd_is_its_reply_when_it_has_no_database_part(
    clamd_server: RunningClamd, tmp_path: Path
) -> None:
    """The test database is one .hdb file, no .cvd: clamd says `ClamAV 1.x.y` and no number.
    A dead address first is passed over."""
    spec = ClamdSpec(
        "clamd", (unix(tmp_path / "dead.sock"), unix(clamd_server.socket_path)), Timeout(1.0)
    )
    version = signature_version(spec)
    assert version is not None
    assert version.startswith("ClamAV ")
    assert "/" not in version
    assert "\0" not in version
    assert version == ClamdScanner(spec).signature_version()


def _answer_version(listener: socket.socket, reply: bytes) -> None:
    with contextlib.suppress(OSError):
        connection, _ = listener.accept()
        with connection:
            assert connection.recv(64) == b"zVERSION\0"
            connection.sendall(reply)


@pytest.mark.parametrize(
    "reply",
    [
        b"ClamAV 1.0.7/27461/Tue Nov 25 09:00:00 2026\0",
        b"ClamAV 1.0.7/27461\0",
        b"ClamAV 1.0.7/27461/Mar\xe7o 25\0",  # not ASCII: replaced, not a crash
    ],
)
def test_signature_version_is_the_database_field_of_the_reply(tmp_path: Path, reply: bytes) -> None:
    """A fake: the test database has no versioned part, so the real clamd cannot say one."""
    path = tmp_path / "version.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(1)
        server = threading.Thread(target=_answer_version, args=(listener, reply))
        server.start()
        version = signature_version(ClamdSpec("clamd", (unix(path),), Timeout(1.0)))
        server.join()
    assert version == "27461"


def test_signature_version_is_none_when_no_clamd_answers(tmp_path: Path) -> None:
    spec = ClamdSpec("clamd", (unix(tmp_path / "dead.sock"),), Timeout(1.0))
    assert signature_version(spec, seconds=0.5) is None
