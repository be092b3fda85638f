"""The Virulator over a generated log: counts per outcome, criterion, virus, source and sink."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from qmvc.logs.analysis import render_summary, summarise
from qmvc.logs.line import LogRecord, format_line

START = datetime(2024, 5, 1, 8, 0, 0)
SEED_VIRUS_LINE = (
    "qmvc Pid:94935|20011106 09:22:51||Verkehr@wdr.de|E:0+S:0+O:0+R:0+A:1+F:0+C:0|M:1+T:1"
    "|RC:99|09:22:52"
)


def line(index: int, outcome: str, sender: str, recipient: str, virus: str = "") -> str:
    matched = "1" if outcome == "badmail" else "0"
    return format_line(
        LogRecord(
            pid=1000 + index,
            start=START + timedelta(minutes=index),
            end=START + timedelta(minutes=index, seconds=1),
            sender=sender,
            recipient=recipient,
            criteria=(("filename", matched), ("subject", "0")),
            scanners=(("clamd", "1" if virus else "0"),),
            exit_code=0 if outcome == "clean" else 99,
            outcome=outcome,
            viruses=(virus,) if virus else (),
        )
    )


def generated_log() -> list[str]:
    lines = [line(i, "clean", f"user{i}@example.org", "anna@wdr.de") for i in range(50)]
    lines += [line(50 + i, "badmail", "spam@example.net", "info@wdr.de") for i in range(7)]
    lines += [
        line(60 + i, "virus", "bomber@infected.example", "info@wdr.de", "Eicar-Test-Signature")
        for i in range(12)
    ]
    lines += [line(80, "virus", "", "postmaster@wdr.de", "W32/Goner@MM")]
    return [*lines, "", "garbage that is not a log line"]


def test_counts_per_outcome_and_exit_code() -> None:
    summary = summarise(generated_log())
    assert summary.messages == 70
    assert summary.unparsed == 1
    assert summary.outcomes == {"clean": 50, "badmail": 7, "virus": 13}
    assert summary.exit_codes == {0: 50, 99: 20}
    assert summary.criteria == {"filename": 7}
    assert summary.first == START and summary.last == START + timedelta(minutes=80, seconds=1)


def test_sources_and_sinks_of_viruses() -> None:
    summary = summarise(generated_log())
    assert summary.viruses.most_common() == [("Eicar-Test-Signature", 12), ("W32/Goner@MM", 1)]
    assert summary.infected_senders.most_common(1) == [("bomber@infected.example", 12)]
    assert summary.infected_senders["<>"] == 1
    assert summary.infected_recipients == {"info@wdr.de": 12, "postmaster@wdr.de": 1}


def test_original_qmvc_lines_count_by_their_flags() -> None:
    summary = summarise([SEED_VIRUS_LINE])
    assert summary.outcomes == {"virus": 1}
    assert summary.infected_recipients == {"Verkehr@wdr.de": 1}


def test_plain_text_rendering() -> None:
    text = render_summary(summarise(generated_log()), top=1)
    assert text.splitlines()[:2] == [
        "70 messages from 2024-05-01 08:00:00 to 2024-05-01 09:20:01",
        "1 lines not understood",
    ]
    assert "Top infected senders:\n  12  bomber@infected.example\n" in text
    assert "Top targeted recipients:\n  12  info@wdr.de\n" in text
    assert "Viruses:\n  12  Eicar-Test-Signature\n" in text


def test_empty_log_says_zero() -> None:
    assert render_summary(summarise([])) == "0 messages\n"


def test_hostile_sender_and_virus_name_cannot_forge_report_lines_or_reach_the_terminal() -> None:
    forged = "x@evil.example\n  999  innocent@example.org\x1b]0;owned\x07"
    virus = "Worm\r\nViruses:"
    text = render_summary(summarise([line(1, "virus", forged, "info@wdr.de", virus)]))
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert "  1  x@evil.example%0A  999  innocent@example.org%1B]0;owned%07\n" in text
    assert text.splitlines().count("Viruses:") == 1
    assert "  1  Worm%0D%0AViruses:\n" in text


def test_json_form_lists_each_table_as_named_rows_most_frequent_first() -> None:
    found = json.loads(json.dumps(summarise(generated_log()).to_json(top=1)))
    assert found == {
        "messages": 70,
        "unparsed": 1,
        "first": "2024-05-01T08:00:00",
        "last": "2024-05-01T09:20:01",
        "outcomes": [{"outcome": "clean", "count": 50}],
        "exit_codes": [{"exit_code": 0, "count": 50}],
        "criteria": [{"criterion": "filename", "count": 7}],
        "viruses": [{"virus": "Eicar-Test-Signature", "count": 12}],
        "infected_senders": [{"sender": "bomber@infected.example", "count": 12}],
        "infected_recipients": [{"recipient": "info@wdr.de", "count": 12}],
    }


def test_json_form_of_an_empty_log_has_no_period_and_empty_tables() -> None:
    found = summarise([]).to_json()
    assert (found["messages"], found["first"], found["last"]) == (0, None, None)
    assert found["outcomes"] == found["infected_senders"] == []
