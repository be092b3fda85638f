"""Safe names for parts written to disk: hostile names become one plain path component."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qmvc.scanners.sanitise import MAX_NAME_BYTES, safe_file_name, safe_file_names

DIRECTORY = "/var/tmp/qmvc-scan-x"


def assert_safe(name: str) -> None:
    assert name not in ("", ".", "..")
    assert "/" not in name and "\0" not in name
    assert not name.startswith((".", "-"))
    assert len(name.encode()) <= MAX_NAME_BYTES
    resolved = os.path.normpath(os.path.join(DIRECTORY, name))
    assert os.path.dirname(resolved) == DIRECTORY


@given(st.text())
def test_any_name_becomes_one_safe_component(name: str) -> None:
    assert_safe(safe_file_name(name, 1))


@given(st.binary().map(lambda raw: raw.decode("utf-8", errors="surrogateescape")))
def test_undecodable_bytes_become_a_safe_component(name: str) -> None:
    safe = safe_file_name(name, 1)
    assert_safe(safe)
    safe.encode()


@given(st.lists(st.text(max_size=300), max_size=20))
def test_names_of_one_message_are_safe_and_distinct(names: list[str]) -> None:
    safe = safe_file_names(names)
    assert len(safe) == len(names)
    for name in safe:
        assert_safe(name)
    assert len({name.casefold() for name in safe}) == len(safe)


@pytest.mark.parametrize(
    ("given_name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        ("..", "part-7"),
        ("", "part-7"),
        ("/", "part-7"),
        (".bashrc", "bashrc"),
        ("--help", "help"),
        ("a\x00b", "ab"),
        ("tab\there\n.txt", "tabhere.txt"),
        ("CON.txt", "_CON.txt"),
        ("nul", "_nul"),
        ("com1.tar.gz", "_com1.tar.gz"),
        ("lpt9", "_lpt9"),
        ("console.txt", "console.txt"),
        ("invoice.pdf .", "invoice.pdf"),
        ("what?.doc", "what_.doc"),
        ("évian.pdf", "évian.pdf"),
        ("left\u202etxt.exe", "lefttxt.exe"),
    ],
)
def test_examples(given_name: str, expected: str) -> None:
    assert safe_file_name(given_name, 7) == expected


def test_long_names_are_cut_keeping_the_extension() -> None:
    safe = safe_file_name("a" * 300 + ".exe", 1)
    assert safe.endswith(".exe")
    assert len(safe.encode()) == MAX_NAME_BYTES


def test_long_multibyte_names_are_cut_on_a_character_boundary() -> None:
    safe = safe_file_name("ж" * 300 + ".zip", 1)
    assert safe.endswith(".zip")
    assert len(safe.encode()) <= MAX_NAME_BYTES
    assert set(safe.removesuffix(".zip")) == {"ж"}


def test_cutting_a_long_name_cannot_leave_a_windows_device() -> None:
    assert safe_file_name("CON" + " " * 120 + "x.txt", 1) == "_CON.txt"
    assert_safe(safe_file_name("CON" + " " * 80 + ".abc" + "x" * 20 + ".exe", 1))


def test_duplicates_get_numeric_suffixes_before_the_extension() -> None:
    names = ["a.txt", "A.TXT", "dir/a.txt", "x" * 300 + ".txt", "x" * 300 + ".txt"]
    safe = safe_file_names(names)
    assert safe[:3] == ["a.txt", "A-2.TXT", "a-3.txt"]
    assert safe[4].endswith("-2.txt")
    assert len(safe[4].encode()) <= MAX_NAME_BYTES
