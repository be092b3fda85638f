"""`qmvc report` over logs of known content (tests/report_support.py), run as a process:
every figure of the JSON document, the filters, and the lines behind a figure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.report_support import (
    HOSTILE_SENDER,
    IMG_SUBJECT,
    SCRIPT_SUBJECT,
    build_qmvc_dir,
    qmvc_report,
    report_json,
)


@pytest.fixture(scope="module")
def qmvc_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_qmvc_dir(tmp_path_factory.mktemp("report") / "qmvc")


@pytest.fixture(scope="module")
def report(qmvc_dir: Path) -> Any:
    """The default run: no LOG, so QMVC_DIR's qmvc.log.1.gz, qmvc.log and qmvc.rep."""
    return report_json(qmvc_dir)


def test_totals_and_rates(report: Any) -> None:
    """10 delivery lines: 2 clean, 3 badmail (L3, L7 and the 1.x line by its flag),
    4 virus, 1 deferred (the scanner failure's RC:111)."""
    assert report["messages"] == 10
    assert report["counts"] == {"clean": 2, "badmail": 3, "virus": 4, "deferred": 1}
    assert report["rates"] == {"clean": 0.2, "badmail": 0.3, "virus": 0.4, "deferred": 0.1}
    assert report["mean_delivery_ms"] == 45.0
    assert (report["first"], report["last"]) == ("2026-11-24T08:00:00", "2026-11-25T07:00:00")
    assert report["exit_codes"] == [
        {"exit_code": 99, "count": 7},
        {"exit_code": 0, "count": 2},
        {"exit_code": 111, "count": 1},
    ]


def test_files_are_read_oldest_first_and_malformed_lines_are_counted(
    report: Any, qmvc_dir: Path
) -> None:
    """Three broken log lines and a stray rep line; update lines are not malformed. A rep
    line is found when its entry ends, so its number is that of the next entry's start."""
    assert [f["file"] for f in report["files"]] == [
        str(qmvc_dir / name) for name in ("qmvc.log.1.gz", "qmvc.log", "qmvc.rep")
    ]
    assert [f["lines"] for f in report["files"][:2]] == [7, 8]
    assert report["malformed"] == 4
    assert [(m["file"].rsplit("/", 1)[1], m["line"]) for m in report["malformed_lines"]] == [
        ("qmvc.log.1.gz", 7),
        ("qmvc.log", 7),
        ("qmvc.log", 8),
        ("qmvc.rep", 14),
    ]
    assert report["malformed_lines"][-1]["text"] == "stray junk"
    assert report["reports"] == 6


def test_viruses_with_first_and_last_seen(report: Any) -> None:
    assert report["viruses"] == [
        {
            "virus": "Eicar",
            "count": 3,
            "first": "2026-11-24T08:30:00",
            "last": "2026-11-25T07:00:00",
        },
        {
            "virus": "W32/Goner@MM",
            "count": 1,
            "first": "2026-11-24T09:00:00",
            "last": "2026-11-24T09:00:00",
        },
    ]


def test_sources_and_sinks_of_virus_and_badmail(report: Any) -> None:
    """The deferred message's sender is not a source: qmail retries it."""
    assert report["senders"] == [
        {"sender": HOSTILE_SENDER, "count": 2, "virus": 2, "badmail": 0},
        {"sender": "spam@bad.example", "count": 2, "virus": 0, "badmail": 2},
        {"sender": "<>", "count": 1, "virus": 1, "badmail": 0},
        {"sender": "evil|pipe@x.example", "count": 1, "virus": 1, "badmail": 0},
        {"sender": "old@x.example", "count": 1, "virus": 0, "badmail": 1},
    ]
    assert report["sender_domains"] == [
        {"domain": "bad.example", "count": 2, "virus": 0, "badmail": 2},
        {"domain": "evil.example", "count": 2, "virus": 2, "badmail": 0},
        {"domain": "x.example", "count": 2, "virus": 1, "badmail": 1},
        {"domain": "<>", "count": 1, "virus": 1, "badmail": 0},
    ]
    assert report["clients"] == [
        {"client": "192.0.2.66", "count": 2, "virus": 2, "badmail": 0},
        {"client": "192.0.2.7", "count": 2, "virus": 0, "badmail": 2},
        {"client": "198.51.100.1", "count": 1, "virus": 1, "badmail": 0},
    ]
    assert report["recipients"] == [
        {"recipient": "info@wdr.de", "count": 3, "virus": 3, "badmail": 0},
        {"recipient": "info@example.org", "count": 2, "virus": 0, "badmail": 2},
        {"recipient": "bob@wdr.de", "count": 1, "virus": 0, "badmail": 1},
        {"recipient": "postmaster@wdr.de", "count": 1, "virus": 1, "badmail": 0},
    ]
    assert report["subjects"] == [
        {"subject": IMG_SUBJECT, "count": 2, "virus": 2, "badmail": 0},
        {"subject": SCRIPT_SUBJECT, "count": 2, "virus": 0, "badmail": 2},
        {"subject": "Gruß", "count": 1, "virus": 1, "badmail": 0},
        {"subject": "hello", "count": 1, "virus": 1, "badmail": 0},
    ]


def test_rules_scanners_domains_bombings_and_updates(report: Any) -> None:
    assert report["criteria"] == [
        {"criterion": "filename", "count": 2},
        {"criterion": "exe", "count": 1},
    ]
    assert report["scanners"] == [
        {
            "scanner": "clamd",
            "clean": 2,
            "virus": 4,
            "skipped": 2,
            "failed": 1,
            "too_large": 0,
            "unavailable": 0,
            "timed": 4,
            "mean_seconds": 0.5,
        }
    ]
    assert report["domains"] == [
        {
            "domain": "example.org",
            "messages": 5,
            "clean": 2,
            "badmail": 2,
            "virus": 0,
            "deferred": 1,
        },
        {"domain": "wdr.de", "messages": 5, "clean": 0, "badmail": 1, "virus": 4, "deferred": 0},
    ]
    assert report["bombings"] == [
        {
            "rule": "flood",
            "kind": "infected",
            "source": f"sender {HOSTILE_SENDER}",
            "first": "2026-11-24T08:30:00",
            "last": "2026-11-25T07:00:00",
            "messages": 2,
            "peak": 2,
        }
    ]
    assert report["updates"] == [
        {
            "engine": "clamav",
            "ok": 1,
            "failed": 1,
            "last": "2026-11-24T13:00:00",
            "last_status": "failed",
        }
    ]


def test_hourly_series_over_a_day_with_its_quiet_hours(report: Any) -> None:
    series = report["series"]
    assert series["step"] == "hour"
    assert len(series["rows"]) == 24
    busy = {
        row["start"][11:13]: row
        for row in series["rows"]
        if any(row[k] for k in row if k != "start")
    }
    assert {
        hour: [row[k] for k in ("clean", "badmail", "virus", "deferred", "other")]
        for hour, row in busy.items()
    } == {
        "08": [2, 1, 1, 0, 0],
        "09": [0, 0, 1, 1, 0],
        "10": [0, 1, 0, 0, 0],
        "11": [0, 1, 0, 0, 0],
        "12": [0, 0, 1, 0, 0],
        "07": [0, 0, 1, 0, 0],
    }


def test_a_domain_is_the_recipients(qmvc_dir: Path) -> None:
    report = report_json(qmvc_dir, "--domain", "WDR.de", "--by", "day")
    assert report["counts"] == {"clean": 0, "badmail": 1, "virus": 4, "deferred": 0}
    assert report["reports"] == 4
    assert [row["recipient"] for row in report["recipients"]] == [
        "info@wdr.de",
        "bob@wdr.de",
        "postmaster@wdr.de",
    ]
    assert [row["start"] for row in report["series"]["rows"]] == [
        "2026-11-24T00:00:00",
        "2026-11-25T00:00:00",
    ]


def test_since_and_until_bound_the_period(qmvc_dir: Path) -> None:
    """A date alone as --until means to the end of that day."""
    late = report_json(qmvc_dir, "--since", "2026-11-25")
    assert (late["messages"], late["viruses"][0]["count"], late["reports"]) == (1, 1, 1)
    early = report_json(qmvc_dir, "--until", "2026-11-24", "--since", "2026-11-24 09:00")
    assert early["counts"] == {"clean": 0, "badmail": 2, "virus": 2, "deferred": 1}
    assert early["updates"][0]["ok"] == 0


def test_show_rule_lists_the_lines_behind_it(qmvc_dir: Path) -> None:
    done = qmvc_report(qmvc_dir, "--show", "filename")
    assert done.returncode == 0, done.stderr
    places = [line.split(": ", 1)[0] for line in done.stdout.splitlines()]
    assert places == [f"{qmvc_dir}/qmvc.log.1.gz:3", f"{qmvc_dir}/qmvc.log:2"]
    assert all("|filename:1+" in line for line in done.stdout.splitlines())


def test_virus_lists_the_lines_behind_it_as_json(qmvc_dir: Path) -> None:
    found = report_json(qmvc_dir, "--virus", "Eicar")
    assert [(line["file"].rsplit("/", 1)[1], line["line"]) for line in found["lines"]] == [
        ("qmvc.log.1.gz", 4),
        ("qmvc.log", 4),
        ("qmvc.log", 5),
    ]
    assert "evil%7Cpipe@x.example" in found["lines"][1]["text"]


def test_text_output_shows_hostile_values_as_characters(qmvc_dir: Path) -> None:
    done = qmvc_report(qmvc_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("10 messages from 2026-11-24 08:00:00 to 2026-11-25 07:00:00")
    assert "4 malformed lines" in done.stdout
    assert "\x1b" not in done.stdout
    assert "Eicar" in done.stdout and "flood" in done.stdout


def test_a_missing_log_and_a_bad_time_are_usage_errors(tmp_path: Path) -> None:
    assert qmvc_report(tmp_path, str(tmp_path / "none.log")).returncode == 2
    done = qmvc_report(tmp_path, "--since", "yesterday-ish")
    assert done.returncode == 2 and "not a time" in done.stderr


def test_an_empty_qmvc_dir_is_an_empty_report(tmp_path: Path) -> None:
    report = report_json(tmp_path / "none")
    assert (report["messages"], report["first"], report["series"]["rows"]) == (0, None, [])


def test_a_stray_date_far_away_lists_only_the_busy_days(tmp_path: Path) -> None:
    """Filling every empty day from 1990 to 2026 would make a chart of 13,000 bars."""
    log = tmp_path / "qmvc.log"
    log.write_text(
        "qmvc Pid:1|19900101 08:00:00|a@b|c@d|x:0|c:0|RC:0|08:00:01|profile=p|outcome=clean\n"
        "qmvc Pid:2|20261124 08:00:00|a@b|c@d|x:0|c:0|RC:0|08:00:01|profile=p|outcome=clean\n"
    )
    series = report_json(tmp_path, str(log))["series"]
    assert series["step"] == "day"
    assert [row["start"] for row in series["rows"]] == [
        "1990-01-01T00:00:00",
        "2026-11-24T00:00:00",
    ]


def test_a_scanner_time_that_is_not_one_is_malformed_and_the_json_stays_json(
    tmp_path: Path,
) -> None:
    """`nan`, `inf` or `1e400` seconds would make the mean NaN or Infinity, which JSON
    readers refuse; a negative time would lower the mean. Only the real time counts."""
    rep = tmp_path / "qmvc.rep"
    rep.write_text(
        "=== qmvc report 20261124 08:00:00 pid 1 ===\n"
        "recipient: a@b\n"
        "scanner: clamd ran nan s: clean\n"
        "scanner: clamd ran 1e400 s: clean\n"
        "scanner: clamd ran -5 s: clean\n"
        "scanner: clamd ran 0.40 s: clean\n"
    )
    done = qmvc_report(tmp_path, "--format", "json", str(rep))
    assert done.returncode == 0 and "NaN" not in done.stdout and "Infinity" not in done.stdout
    report = json.loads(done.stdout)
    assert report["malformed"] == 3
    [clamd] = report["scanners"]
    assert (clamd["timed"], clamd["mean_seconds"]) == (1, 0.4)


def test_a_period_reaching_back_past_the_year_1000_or_1_is_a_bound_not_a_crash(
    qmvc_dir: Path,
) -> None:
    """`--since 400000d` (the year 931) once sorted after every stamp (glibc writes the
    year as `931`), and `--since 99999999999d` overflowed datetime."""
    everything = report_json(qmvc_dir)["messages"]
    assert everything > 0
    for far in ("400000d", "99999999999d", "0931-01-01"):
        assert report_json(qmvc_dir, "--since", far)["messages"] == everything
        assert report_json(qmvc_dir, "--until", far)["messages"] == 0


def test_a_bombing_count_that_is_not_a_number_qmvc_writes_is_malformed(tmp_path: Path) -> None:
    """`²` passes str.isdigit and 5,000 digits pass the eye; `int` refuses both."""
    rep = tmp_path / "qmvc.rep"
    rep.write_text(
        "=== qmvc report 20261124 08:00:00 pid 1 ===\n"
        "recipient: a@b\n"
        "bombing: same-virus sender \u00b2 started x@y\n"
        f"bombing: same-virus sender {'9' * 5000} going-on x@y\n"
        "bombing: same-virus sender 12 started x@y\n"
    )
    done = qmvc_report(tmp_path, "--format", "json", str(rep))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["malformed"] == 2
    [episode] = report["bombings"]
    assert (episode["peak"], episode["messages"]) == (12, 1)
