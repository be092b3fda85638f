"""`qmvc report --html`: the page as a real headless Chromium renders it — its tables' numbers,
hostile senders and subjects shown as text with no script run, and a screenshot to look at.

Chromium is Debian's `chromium` (tests/run.sh installs it); it is started twice for the
whole module, once for the DOM and once for the screenshot.
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from qmvc.report.html import render_html
from tests.report_support import (
    HOSTILE_SENDER,
    IMG_SUBJECT,
    SCRIPT_SUBJECT,
    build_qmvc_dir,
    qmvc_report,
    report_json,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


class RenderedPage(HTMLParser):
    """The rendered DOM's tables (id → rows of cell texts), title and element names."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.tags: set[str] = set()
        self.title = ""
        self._table = ""
        self._cell: list[str] | None = None
        self._in_title = False
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "table":
            self._table = dict(attrs).get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []
        self._in_title = tag == "title" and not self.title

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = ""
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif self._in_title:
            self.title += data


def chromium(*arguments: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("html")
    qmvc_dir = build_qmvc_dir(directory / "qmvc")
    page = directory / "report.html"
    done = qmvc_report(qmvc_dir, "--html", str(page))
    assert done.returncode == 0, done.stderr
    return page


@pytest.fixture(scope="module")
def rendered(page: Path) -> RenderedPage:
    return RenderedPage(chromium("--dump-dom", page.as_uri()).stdout)


def test_the_page_is_one_file_with_no_script_and_a_policy_forbidding_any(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text and "<img" not in text
    assert "default-src 'none'" in text
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in text


@needs_chromium
def test_no_script_from_the_logs_ran_and_hostile_values_show_as_text(
    rendered: RenderedPage,
) -> None:
    assert rendered.title == "qmvc report"
    assert not rendered.tags & {"script", "img", "iframe", "object"}
    senders = [row[0] for row in rendered.tables["senders"][1:]]
    assert HOSTILE_SENDER in senders
    subjects = [row[0] for row in rendered.tables["subjects"][1:]]
    assert subjects[:2] == [IMG_SUBJECT, SCRIPT_SUBJECT]


@needs_chromium
def test_the_rendered_tables_hold_the_reports_numbers(rendered: RenderedPage, page: Path) -> None:
    report = report_json(page.parent / "qmvc")
    assert rendered.tables["messages"][1:] == [
        ["clean", "2", "20.0%"],
        ["badmail", "3", "30.0%"],
        ["virus", "4", "40.0%"],
        ["deferred", "1", "10.0%"],
        ["all", "10", ""],
    ]
    assert rendered.tables["viruses"][1:] == [
        [row["virus"], str(row["count"]), row["first"], row["last"]] for row in report["viruses"]
    ]
    assert rendered.tables["domains"][1] == ["example.org", "5", "2", "2", "0", "1"]
    assert rendered.tables["scanners"][1] == ["clamd", "2", "4", "2", "1", "0", "0", "0.5"]
    assert rendered.tables["bombings"][1][-2:] == ["2", "2"]
    assert rendered.tables["malformed_lines"][-1][-1] == "stray junk"


@needs_chromium
def test_a_screenshot_is_saved_for_a_look(page: Path) -> None:
    screenshot = page.parent / "report.png"
    chromium("--window-size=1200,2400", f"--screenshot={screenshot}", page.as_uri())
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"screenshot: {screenshot}")


def test_every_value_is_escaped_even_where_no_browser_looks() -> None:
    """Autoescaping covers the chart's labels and the domain in the title too."""
    report = report_json(Path("/nonexistent"), "--domain", "<b>x</b>")
    report["series"]["rows"] = [
        {"start": "<i>", "clean": 1, "badmail": 0, "virus": 0, "deferred": 0, "other": 0}
    ]
    html = render_html(report)
    assert "<b>" not in html and "<i>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "&lt;i&gt;" in html
