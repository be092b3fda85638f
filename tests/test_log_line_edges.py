"""The edges of qmvc.log's line format (qmvc.logs.line) that the property tests reach only
by chance: each value holding its own field's separator, a delivery within one second,
QMVC 1.x lines with key=value fields, and what a refusal quotes of the line."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from qmvc.logs.line import LogRecord, format_line, parse_line

START = datetime(2024, 3, 1, 10, 0, 0)


def record(**changes: object) -> LogRecord:
    fields: dict[str, object] = dict(
        pid=4242,
        start=START,
        end=START + timedelta(seconds=1),
        sender="anna@example.org",
        recipient="bob@example.de",
        criteria=(("subject", "1"),),
        scanners=(("clamd", "0"),),
        exit_code=99,
        profile="default",
        outcome="badmail",
        message_id="<m1@example.org>",
        size=100,
        duration_ms=5,
        viruses=(),
    )
    fields.update(changes)
    return LogRecord(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"recipient": "bob|RC:0@example.de"},
        {"profile": "a|b"},
        {"outcome": "virus|x"},
        {"message_id": "<a|b@example.org>"},
        {"bypassed": ("badmail+scan|x", "scan")},
        {"criteria": (("sub+ject:x|y", "1:+|"),)},
        {"scanners": (("clam+d:x|y", "0"),)},
        {"viruses": ("Trailing.Space ",)},
    ],
)
def test_a_value_holding_its_fields_separators_round_trips(changes: dict[str, object]) -> None:
    written = record(**changes)
    line = format_line(written)
    assert "\n" not in line and line.isascii()
    assert parse_line(line) == written
    assert parse_line(line + "\n") == written


def test_a_line_read_with_its_newline_has_no_empty_virus() -> None:
    assert parse_line(format_line(record()) + "\n").viruses == ()


def test_a_delivery_within_one_second_ends_the_second_it_started() -> None:
    written = record(end=START)
    assert parse_line(format_line(written)).end == START


def test_a_qmvc_1_line_with_key_value_fields_reads_all_of_them() -> None:
    """The 1.x form (no scanners field, the end time seventh) followed by key=value fields."""
    line = "qmvc Pid:7|20011106 09:22:51||Verkehr@wdr.de|E:0+S:1|RC:99|09:22:52|profile=wdr|ms=3"
    parsed = parse_line(line)
    assert (parsed.exit_code, parsed.end) == (99, datetime(2001, 11, 6, 9, 22, 52))
    assert (parsed.profile, parsed.duration_ms, parsed.scanners) == ("wdr", 3, ())


def test_a_qmvc_1_line_without_key_value_fields_has_empty_ones() -> None:
    parsed = parse_line("qmvc Pid:7|20011106 09:22:51||Verkehr@wdr.de|E:0|RC:0|09:22:52")
    assert (parsed.profile, parsed.outcome, parsed.message_id) == ("", "", "")
    assert (parsed.size, parsed.duration_ms, parsed.viruses, parsed.bypassed) == (0, 0, (), ())


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("x" * 100, "not a qmvc log line"),
        ("qmvc Pid:7|20011106 09:22:51|a|b|c|d|e|f" + "g" * 80, "no RC: field where expected"),
    ],
)
def test_a_refusal_quotes_the_first_80_characters_of_the_line(line: str, reason: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_line(line)
    assert str(raised.value) == f"{reason}: {line[:80]!r}"
