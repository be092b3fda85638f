"""200 deliveries at once into one quarantine and one log, from a cold cache: 200 whole
Maildir files, 200 well-formed log lines, 200 report entries."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.deliver_support import (
    badmail_message,
    files_under,
    maildir_files,
    prepended,
    qmail_setup,
)

DELIVERIES = 200
AT_ONCE = 12


def test_200_concurrent_badmail_deliveries_keep_200_whole_files(tmp_path: Path) -> None:
    qmail = qmail_setup(tmp_path, "no-scanner.qmvc")
    messages = [
        badmail_message(subject=f"invoice {n}", attachment_size=2_000 + 97 * n)
        for n in range(DELIVERIES)
    ]
    with ThreadPoolExecutor(AT_ONCE) as pool:
        deliveries = list(pool.map(qmail.deliver, messages))

    assert [d.returncode for d in deliveries] == [99] * DELIVERIES, deliveries[0].stderr
    assert all(d.stderr == "" for d in deliveries)
    environ = deliveries[0].environ
    kept = maildir_files(qmail.maildir("quarantine/badmail"))
    assert sorted(path.read_bytes() for path in kept) == sorted(
        prepended(environ) + message for message in messages
    )
    assert files_under(qmail.qmvc_dir, "tmp") == []

    records = qmail.log_records()
    assert len(records) == DELIVERIES
    assert len({record.pid for record in records}) == DELIVERIES
    assert {(r.exit_code, r.outcome) for r in records} == {(99, "badmail")}
    assert sorted(r.size for r in records) == sorted(len(m) for m in messages)
    assert qmail.report_text().count("=== qmvc report ") == DELIVERIES
    assert len(list((qmail.qmvc_dir / "cache").iterdir())) == 1  # no temporary left behind
