"""Candidate names of a part and header blocks read as tolerantly as clients read them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qmvc.message.headers import parameters, read_header_block
from qmvc.message.names import normalise, part_names


def names_of(header_lines: str) -> list[tuple[str, str, str]]:
    raw = (header_lines.strip("\n") + "\n\nbody\n").encode("utf-8", "surrogateescape")
    headers = read_header_block(raw, 0, len(raw)).headers
    return [(c.raw, c.name, c.source) for c in part_names(headers)]


@pytest.mark.parametrize(
    ("raw", "saved"),
    [
        ("run.exe.", "run.exe"),
        ("run.exe . . ", "run.exe"),
        ("run.exe::$DATA", "run.exe"),
        ("run.exe:$data", "run.exe"),
        ("run.e\u200bxe", "run.exe"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("\u2066run.exe\u2069", "run.exe"),
        ("run\uff0eexe", "run.exe"),
        ("run.\uff45\uff58\uff45", "run.exe"),
        ("run\u2024exe", "run.exe"),
        ("Re\u0301sume\u0301.pdf", "R\u00e9sum\u00e9.pdf"),
    ],
)
def test_a_name_is_normalised_as_a_file_system_saves_it(raw: str, saved: str) -> None:
    assert normalise(raw) == saved


def test_filename_star_comes_first_and_the_plain_name_stays_a_candidate() -> None:
    found = names_of(
        "Content-Disposition: attachment; filename=\"invoice.pdf\"; filename*=utf-8''invoice.exe"
    )
    assert found == [
        ("invoice.exe", "invoice.exe", "Content-Disposition filename*"),
        ("invoice.pdf", "invoice.pdf", "Content-Disposition filename"),
    ]


def test_every_header_that_names_a_part_gives_a_candidate() -> None:
    found = names_of(
        "Content-Type: application/octet-stream; name=a.bin\n"
        "Content-Name: b.exe\n"
        "X-Sun-Data-Name: c.exe\n"
        "Content-Location: http://example.net/files/d%2Eexe?x=1"
    )
    assert [(name, source) for _, name, source in found] == [
        ("a.bin", "Content-Type name"),
        ("b.exe", "Content-Name"),
        ("c.exe", "X-Sun-Data-Name"),
        ("d.exe", "Content-Location"),
    ]


def test_an_invalid_rfc2231_value_falls_back_to_the_next_candidate() -> None:
    found = names_of(
        "Content-Disposition: attachment; filename*=utf-8''%ZZdoc.pdf\n"
        'Content-Type: application/octet-stream; name="run.exe"'
    )
    assert found[0][1] == "run.exe"
    assert found[-1][2] == "Content-Disposition filename* (invalid)"


def test_a_nul_in_the_charset_makes_the_value_invalid_not_an_exception() -> None:
    found = names_of("Content-Disposition: attachment; filename*=utf\0-8''x.pdf; filename=a.exe")
    assert found[0][1] == "a.exe"
    assert "x.pdf" in [name for _, name, _ in found]


def test_an_extended_value_is_also_read_up_to_a_nul_as_c_clients_read_it() -> None:
    """A C client (ripmime among them) ends the header string at the NUL and sees
    `filename*=evil.exe`: qmvc's strict reading alone would have seen only x.pdf."""
    found = names_of("Content-Disposition: attachment; filename*=evil.exe\0-8''x.pdf")
    assert [(name, source) for _, name, source in found] == [
        ("x.pdf", "Content-Disposition filename* (invalid)"),
        ("evil.exe", "Content-Disposition filename*, cut at NUL"),
    ]


def test_star_and_sections_mixed_each_give_a_name() -> None:
    found = names_of(
        "Content-Disposition: attachment; filename*=utf-8''a.pdf; "
        "filename*0*=utf-8''run; filename*1=.exe"
    )
    assert {name for _, name, _ in found} == {"a.pdf", "run.exe"}


def test_a_name_with_a_nul_is_tested_whole_and_cut_at_the_nul() -> None:
    found = names_of("Content-Disposition: attachment; filename*=utf-8''run.exe%00.txt")
    assert [name for _, name, _ in found] == ["run.exe.txt", "run.exe"]


def test_quoted_pairs_are_undone() -> None:
    assert names_of('Content-Disposition: attachment; filename="invoice.j\\s"')[0][1] == (
        "invoice.js"
    )


def test_blanks_before_a_colon_still_make_a_header() -> None:
    raw = b"Content-Type : multipart/mixed; boundary=x\nSubject\t: hi\n\n--x\n"
    block = read_header_block(raw, 0, len(raw))
    assert block.headers.get("content-type") == "multipart/mixed; boundary=x"
    assert block.headers.get("subject") == "hi"
    assert block.body_start == raw.index(b"--x")


def test_a_stray_line_in_a_header_block_is_skipped() -> None:
    raw = b"From: a@b\nthis is junk\nContent-Type: text/html\n\nbody\n"
    block = read_header_block(raw, 0, len(raw))
    assert block.headers.get("content-type") == "text/html"
    assert block.body_start == raw.index(b"body")
    assert any("without a colon skipped" in defect for defect in block.defects)


def test_without_an_empty_line_a_stray_line_starts_the_body() -> None:
    raw = b"Subject: hi\nHello Bob,\nsee you.\n"
    block = read_header_block(raw, 0, len(raw))
    assert block.headers.get("subject") == "hi"
    assert block.body_start == raw.index(b"Hello")


TOKEN = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-_"), min_size=1, max_size=10)
VALUE = st.text(
    st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="\x7f"), max_size=30
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(TOKEN, VALUE), max_size=6))
def test_quoted_parameters_read_back_as_written(written: list[tuple[str, str]]) -> None:
    quoted = "".join(
        f'; {name}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for name, value in written
    )
    assert parameters("attachment" + quoted) == written


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_parameter_text_is_read_without_raising(text: str) -> None:
    names_of(f"Content-Disposition: attachment; {text}".replace("\n", " ").replace("\r", " "))


@pytest.mark.parametrize(
    "location",
    [
        "<http://example.net/files/run.exe>",
        '"file:///C:/Temp/run.exe"',
        "http://example.net/files/run.exe/",
        "C:\\Users\\bob\\Downloads\\run.exe",
        "run.exe",
    ],
    ids=["angle-brackets", "quoted", "trailing-slash", "windows-path", "bare-name"],
)
def test_content_location_names_the_part_by_its_last_path_segment(location: str) -> None:
    """A client with no other name saves the part under the last segment of its location,
    whether the URL is bracketed or quoted, ends in a slash, is a Windows path or a bare
    name: a rule on `.exe` must see run.exe in every one of these."""
    assert names_of(f"Content-Location: {location}") == [("run.exe", "run.exe", "Content-Location")]


def test_content_location_keeps_every_letter_of_the_extension() -> None:
    """Only brackets, quotes and slashes are trimmed: an upper-case name ending in X (a
    .XLSX, .DOCX) keeps its extension whole, so an extension rule matches what is saved."""
    assert names_of("Content-Location: http://example.net/files/REPORT.XLSX") == [
        ("REPORT.XLSX", "REPORT.XLSX", "Content-Location")
    ]


def test_valid_continuations_are_the_name_before_the_plain_filename() -> None:
    """RFC 2231 continuations that decode cleanly are valid, and a client takes them over
    the plain `filename=`: the sender's decoy a.pdf must not be the name qmvc tests first."""
    found = names_of(
        "Content-Disposition: attachment; filename*0*=utf-8''caf%C3%A9; filename*1=.exe; "
        'filename="a.pdf"'
    )
    assert [(name, source) for _, name, source in found] == [
        ("café.exe", "Content-Disposition filename*0..1"),
        ("a.pdf", "Content-Disposition filename"),
    ]


def test_continuations_are_decoded_in_the_charset_of_their_first_section() -> None:
    """`filename*0*=koi8-r''...` declares the charset of every section: read as UTF-8 or
    cp1252 instead, a Cyrillic name would be mojibake that no name rule written for it meets."""
    found = names_of(
        "Content-Disposition: attachment; filename*0*=koi8-r''%F3%DE%C5%D4; filename*1=.exe"
    )
    assert [(name, source) for _, name, source in found] == [
        ("Счет.exe", "Content-Disposition filename*0..1")
    ]


def test_continuations_with_a_bad_percent_escape_are_invalid() -> None:
    found = names_of("Content-Disposition: attachment; filename*0*=utf-8''%ZZrun; filename*1=.exe")
    assert [source for _, _, source in found] == ["Content-Disposition filename*0..1 (invalid)"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(
            "filename*0*=utf-8''abc; filename*1*=d'e'f.txt",
            [("abcd'e'f.txt", "Content-Disposition filename*0..1")],
            id="quotes-in-a-later-section-are-text",
        ),
        pytest.param(
            "filename*0*=utf-8''it's'here; filename*1=.txt",
            [("it's'here.txt", "Content-Disposition filename*0..1")],
            id="quotes-after-the-charset-and-language-are-text",
        ),
        pytest.param(
            'filename*0="caf\udcc3\udca9"; filename*1=".txt"',
            [("café.txt", "Content-Disposition filename*0..1")],
            id="raw-utf8-in-a-plain-section",
        ),
        pytest.param(
            "filename*=utf-8''caf\udcc3\udca9%2Etxt",
            [("café.txt", "Content-Disposition filename*")],
            id="raw-utf8-in-an-extended-value",
        ),
        pytest.param(
            "filename*=utf-8'en'it's.txt",
            [("it's.txt", "Content-Disposition filename*")],
            id="quote-in-the-text-after-the-language",
        ),
        pytest.param(
            'filename*=abc.exe; filename="other.pdf"',
            [
                ("other.pdf", "Content-Disposition filename"),
                ("abc.exe", "Content-Disposition filename* (invalid)"),
            ],
            id="extended-value-without-charset-is-invalid-and-last",
        ),
    ],
)
def test_rfc2231_values_split_charset_language_and_text_at_the_first_two_quotes(
    header: str, expected: list[tuple[str, str]]
) -> None:
    found = names_of(f"Content-Disposition: attachment; {header}")
    assert [(name, source) for _, name, source in found] == expected
