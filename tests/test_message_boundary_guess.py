"""The boundary guessed from the body (mime._guess_boundary) when the declared one is missing
or wrong: the first `--token` line of the first 64 KiB that recurs before the part's end."""

from __future__ import annotations

from qmvc.message.mime import _guess_boundary


def guess(body: bytes, end: int | None = None) -> str:
    return _guess_boundary(body, 0, len(body) if end is None else end)


def test_the_first_dash_line_that_recurs_is_the_boundary() -> None:
    assert guess(b"preamble\n--abc\npart one\n--abc\npart two\n--abc--\n") == "abc"


def test_no_dash_line_gives_no_boundary() -> None:
    assert guess(b"just text\nno dashes at the start of a line\n") == ""


def test_a_dash_line_that_never_recurs_is_no_boundary() -> None:
    assert guess(b"--abc\nonly once\n") == ""


def test_a_closing_line_first_gives_the_boundary_without_its_two_dashes() -> None:
    """A body whose first dash line is `--abc--` (a part cut off before it) still uses abc."""
    assert guess(b"--abc--\n\n--abc\npart\n") == "abc"


def test_a_recurrence_after_the_end_of_the_part_does_not_count() -> None:
    body = b"--abc\npart\n"
    assert guess(body + b"\n--abc\nbeyond the part\n", end=len(body)) == ""


def test_only_the_first_64_kib_are_searched_for_the_first_dash_line() -> None:
    """The search for the first line is bounded (a body of short lines would cost a scan
    each); a dash line that starts in the last two bytes of the window cannot match."""
    padding = b"x" * 65533 + b"\n"  # the next line starts at 65534
    assert guess(padding + b"--abcdef\npart\n--abcdef\n") == ""
    assert guess(b"x" * 100 + b"\n--abcdef\npart\n--abcdef\n") == "abcdef"
