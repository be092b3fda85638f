"""Text → AST: positions, durations, sizes, regex literals, and syntax errors as diagnostics."""

from __future__ import annotations

import pytest

from qmvc.policy import ast
from qmvc.policy.diagnostics import PolicyError
from qmvc.policy.parse import MAX_CONDITION_DEPTH, parse_text


def only_condition(text: str) -> ast.Condition:
    [profile] = parse_text(f"profile p {{\n  badmail r when {text}\n}}\n", "t.qmvc").statements
    assert isinstance(profile, ast.ProfileDecl)
    return profile.criteria[0].condition


def syntax_error(text: str) -> tuple[str, int, int, str]:
    with pytest.raises(PolicyError) as caught:
        parse_text(text, "t.qmvc")
    [diagnostic] = caught.value.diagnostics
    return diagnostic.code, diagnostic.span.line, diagnostic.span.column, diagnostic.hint


def test_every_node_keeps_its_position() -> None:
    condition = only_condition('subject contains "x"')
    assert (condition.span.file, condition.span.line, condition.span.column) == ("t.qmvc", 2, 18)


def test_and_binds_tighter_than_or() -> None:
    condition = only_condition('sender is empty or subject is "a" and body is "b"')
    assert isinstance(condition, ast.Or) and isinstance(condition.operands[1], ast.And)


def test_timeouts_read_units_and_per_megabyte_growth() -> None:
    [scanner] = parse_text(
        'scanner c clamd socket "/s" timeout 1.5m + 250ms per MB', "t"
    ).statements
    assert isinstance(scanner, ast.ScannerDecl) and scanner.timeout is not None
    assert (scanner.timeout.seconds, scanner.timeout.per_mb_seconds) == (90.0, 0.25)


@pytest.mark.parametrize(
    ("written", "size_bytes"),
    [("25MB", 25 * 1024**2), ("1 K", 1024), ("512B", 512), ("2.5mb", int(2.5 * 1024**2)), ("7", 7)],
)
def test_sizes_read_units(written: str, size_bytes: int) -> None:
    condition = only_condition(f"message.size > {written}")
    assert isinstance(condition, ast.SizeTest) and condition.size_bytes == size_bytes


def test_a_regex_keeps_its_escaped_slash_and_flags() -> None:
    condition = only_condition(r"body matches /C:\/Win/i")
    assert isinstance(condition, ast.TextTest) and isinstance(condition.value, ast.Regex)
    assert (condition.value.pattern, condition.value.flags) == (r"C:\/Win", "i")


def test_strings_unescape_only_quotes_and_backslashes() -> None:
    condition = only_condition(r'subject is "say \"hi\" to C:\\dir \d"')
    assert isinstance(condition, ast.TextTest) and isinstance(condition.value, ast.Text)
    assert condition.value.text == r'say "hi" to C:\dir \d'


def test_attachment_fields_default_to_any() -> None:
    condition = only_condition('attachment.name matches "*.exe"')
    assert isinstance(condition, ast.TextTest) and condition.field.quantifier == "any"


def test_nesting_at_the_limit_is_accepted() -> None:
    only_condition("not " * (MAX_CONDITION_DEPTH - 1) + "(sender is empty)")


def test_nesting_past_the_limit_is_too_deep() -> None:
    code, *_ = syntax_error(
        f"profile p {{ badmail r when {'not ' * (MAX_CONDITION_DEPTH + 1)}sender is empty }}"
    )
    assert code == "too-deep"


def test_a_misspelled_keyword_gets_a_did_you_mean() -> None:
    assert syntax_error("scaner c clamd") == ("unexpected-token", 1, 1, "did you mean 'scanner'?")


def test_did_you_mean_only_offers_words_allowed_there() -> None:
    code, _, _, hint = syntax_error("profile p { badmail r any attachment }")
    assert (code, hint) == ("unexpected-token", "expected 'when'")


def test_end_of_file_points_just_past_the_last_token() -> None:
    assert syntax_error("guard av")[:3] == ("unexpected-end", 1, 9)


def test_an_unclosed_profile_is_reported_at_its_brace_not_at_the_next_profile() -> None:
    text = "profile a default {\n  on clean { deliver }\n\nprofile b {\n  on clean { deliver }\n}\n"
    assert syntax_error(text) == ("unclosed-brace", 1, 19, "add '}' before line 4")


def test_a_file_ending_inside_a_profile_asks_for_the_brace_at_the_end() -> None:
    assert syntax_error("profile p {") == (
        "unclosed-brace",
        1,
        11,
        "add '}' at the end of the file",
    )


def test_an_unclosed_on_block_is_reported_rather_than_the_profile_around_it() -> None:
    text = 'profile p {\n  on badmail { keep "q"\n  badmail r when sender is empty\n}\n'
    assert syntax_error(text) == ("unclosed-brace", 2, 14, "add '}' before line 3")


def test_a_file_ending_inside_two_blocks_names_both() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_text('profile p {\n  on badmail { keep "q"\n', "t.qmvc")
    [diagnostic] = caught.value.diagnostics
    assert (diagnostic.span.line, diagnostic.hint) == (2, "add 2 '}' at the end of the file")
    assert "profile 'p' on line 1" in diagnostic.message


def test_braces_in_strings_regexes_and_comments_do_not_count() -> None:
    text = 'profile p { # {\n  badmail r when subject contains "{" or body matches /\\{/\n'
    assert syntax_error(text) == ("unclosed-brace", 1, 11, "add '}' at the end of the file")


def test_an_error_a_closing_brace_would_not_fix_keeps_its_own_diagnostic() -> None:
    text = 'profile p {\n  badmail r when subject is "x" nocase nocase\n  on clean { deliver }\n'
    assert syntax_error(text)[:3] == ("unexpected-token", 2, 40)


def test_a_quote_inside_a_string_gets_a_hint_to_escape_it() -> None:
    code, _, _, hint = syntax_error('profile p { badmail r when subject is "say "hi" now" }')
    assert code == "unexpected-token"
    assert hint == 'a " inside a string ends it: write it as \\", as in "say \\"hi\\" now"'


def test_a_mistake_after_a_complete_string_gets_no_quote_hint() -> None:
    _, _, _, hint = syntax_error('profile p { badmail r when subject is "a" & body is "b" }')
    assert hint == "combine conditions with 'and'"


def test_an_empty_file_parses_to_no_statements() -> None:
    assert parse_text("# nothing but a comment\n", "t").statements == ()
