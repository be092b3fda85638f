"""Parser errors → diagnostics an admin can act on.

Each points at the fault and says what was expected there in words, with a did-you-mean
for a misspelled keyword. Two mistakes the parser only notices later are traced back to
where they were made: a '{' never closed (the parser trips over the next statement) and a
quote inside a string (the string ends early and its rest is read as words).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from lark import Token
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)

from qmvc.policy.diagnostics import Diagnostic, did_you_mean, error
from qmvc.policy.grammar import parser, terminal_regex
from qmvc.span import Span

CHARACTER_HINTS = {
    "&": "combine conditions with 'and'",
    "|": "combine conditions with 'or'",
    "!": "negate a condition with 'not'",
    "'": 'quote strings with double quotes: "..."',
}

UNESCAPED_QUOTE = re.compile(r'(?<!\\)"')

TERMINAL_WORDS = {
    "NAME": "a name",
    "STRING": 'a quoted string ("...")',
    "REGEX": "a regular expression (/.../)",
    "DURATION": "a duration such as 30s",
    "SIZE": "a size such as 10MB",
    "INT": "a number",
    "SUFFIX": "a domain suffix such as .de",
    "ATTACHMENT_ATTRIBUTE": "an attachment attribute such as attachment.type",
    "NETWORK": "a network such as 10.0.0.0/8",
    "DOTTED_FIELD": "a field such as sender.domain",
    "SELECTOR_FIELD": "recipient, recipient.domain, client.ip, sender or sender.domain",
    "$END": "the end of the file",
}


def syntax_diagnostic(exc: UnexpectedInput, text: str, filename: str) -> Diagnostic:
    """The diagnostic for the parser's first error in `text`."""
    if isinstance(exc, UnexpectedToken):
        unclosed = _unclosed_brace(exc, text, filename)
        if unclosed is not None:
            return unclosed
    return _described(exc, text, filename)


def _described(exc: UnexpectedInput, text: str, filename: str) -> Diagnostic:
    line, column = max(exc.line, 1), max(exc.column, 1)
    if isinstance(exc, UnexpectedEOF):
        expected = _describe_expected(set(exc.expected))
        last_line = text.count("\n") + 1
        last_col = len(text.rsplit("\n", 1)[-1]) + 1
        span = Span(filename, last_line, last_col, last_line, last_col + 1)
        return error("unexpected-end", "the file ends too early", span, f"expected {expected}")
    if isinstance(exc, UnexpectedCharacters):
        position = exc.pos_in_stream or 0
        char = text[position] if position < len(text) else ""
        span = Span(filename, line, column, line, column + 1)
        if char == '"':
            return error(
                "unterminated-string",
                "this string has no closing quote",
                span,
                'close it with " on the same line',
            )
        if char == "/":
            return error(
                "unterminated-regex",
                "this regular expression has no closing /",
                span,
                "write /pattern/ on one line, with / inside escaped as \\/",
            )
        quote_hint = _quote_in_string_hint(text, position)
        word = _word_at(text, position)
        if word:
            span = Span(filename, line, column, line, column + len(word))
            return error(
                "unexpected-word",
                f"'{word}' is not expected here",
                span,
                quote_hint or _hint_for_word(word, set(exc.allowed or ())),
            )
        shown = repr(char) if char else "end of input"
        return error(
            "unexpected-character",
            f"unexpected character {shown}",
            span,
            quote_hint
            or CHARACTER_HINTS.get(char)
            or f"expected {_describe_expected(exc.allowed or set())}",
        )
    token: Token = exc.token  # type: ignore[attr-defined]
    value = str(token)
    expected_names = set(exc.expected)  # type: ignore[attr-defined]
    expected = _describe_expected(expected_names)
    if token.type == "$END":  # Lark places it on the last token: point just past that
        end_line, end_column = token.end_line or line, token.end_column or column
        span = Span(filename, end_line, end_column, end_line, end_column + 1)
        return error("unexpected-end", "the file ends too early", span, f"expected {expected}")
    span = Span(filename, line, column, line, column + max(len(value), 1))
    if "DURATION" in expected_names and re.fullmatch(r"\d+(\.\d+)?", value):
        written = re.compile(r"[\w.]+").match(text, token.start_pos or 0)
        shown = written.group(0) if written else value
        span = Span(filename, line, column, line, column + len(shown))
        return error(
            "bad-duration",
            f"'{shown}' is not a duration",
            span,
            "write a number and a unit: ms, s, m or h, such as 30s or 2m",
        )
    hint = _quote_in_string_hint(text, token.start_pos or 0) or (
        _hint_for_word(value, expected_names)
        if re.fullmatch(r"[A-Za-z_-]+", value)
        else f"expected {expected}"
    )
    return error("unexpected-token", f"'{_clip(value)}' is not expected here", span, hint)


# ---- what was expected, in words ----


def _describe_expected(names: set[str]) -> str:
    words: list[str] = []
    for name in sorted(names):
        keywords = _terminal_keywords(name)
        if name in TERMINAL_WORDS:
            words.append(TERMINAL_WORDS[name])
        elif keywords:
            words.extend(f"'{k}'" for k in keywords)
        else:
            words.append(name.lower().replace("_", " "))
    unique = sorted(set(words))
    if len(unique) > 12:
        unique = unique[:12] + ["..."]
    return ", ".join(unique)


def _terminal_keywords(name: str) -> tuple[str, ...]:
    """The words a keyword terminal stands for: 'profile', or each of sender|subject|...."""
    try:
        pattern = parser().get_terminal(name).pattern
    except KeyError:
        return ()
    if pattern.type == "str":
        return (pattern.value,)
    alternation = re.fullmatch(r"\(\?:(.*)\)", pattern.value)
    if not alternation:
        return ()
    words = [
        re.sub(r"\[[^]]*\]\+", " ", a).replace("\\-", "-")  # unless[ \t]+badmail
        for a in alternation.group(1).split("|")
    ]
    return tuple(w for w in words if re.fullmatch(r"[a-z][a-z -]*", w))


def _hint_for_word(word: str, expected: set[str]) -> str:
    """Did-you-mean among the keywords allowed here, else what is allowed here."""
    allowed = {
        part for name in expected for k in _terminal_keywords(name) for part in (k, *k.split())
    }
    return did_you_mean(word, allowed - {word}) or f"expected {_describe_expected(expected)}"


def _word_at(text: str, position: int) -> str:
    match = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*").match(text, position)
    return match.group(0) if match else ""


def _clip(value: str) -> str:
    return value if len(value) <= 40 else value[:37] + "..."


# ---- the source as the lexer sees it ----


@dataclass(frozen=True, slots=True)
class _Lexeme:
    kind: str  # string, regex, word, brace or other
    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@functools.cache
def _lexeme_pattern() -> re.Pattern[str]:
    """Strings, regexes and comments by the grammar's own terminals: a brace or quote inside
    one is text, exactly as the lexer reads it. Nothing else in the language holds { } " or /."""
    return re.compile(
        "|".join(
            (
                f"(?P<comment>{terminal_regex('COMMENT')})",
                f"(?P<string>{terminal_regex('STRING')})",
                f"(?P<regex>{terminal_regex('REGEX')})",
                r"(?P<word>[A-Za-z_][A-Za-z0-9_.-]*)",
                r"(?P<brace>[{}])",
                r"(?P<other>\S)",
            )
        )
    )


def _lexemes(text: str) -> list[_Lexeme]:
    return [
        _Lexeme(match.lastgroup or "other", match.group(), match.start())
        for match in _lexeme_pattern().finditer(text)
        if match.lastgroup != "comment"
    ]


def _line_column(text: str, position: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, position) + 1
    return text.count("\n", 0, position) + 1, position - line_start + 1


# ---- a '{' never closed ----


def _unclosed_brace(exc: UnexpectedToken, text: str, filename: str) -> Diagnostic | None:
    """The innermost '{' open where the parser stopped, when the file leaves a '{' unclosed,
    '}' was allowed there, and adding '}' there lets the parser read on."""
    token: Token = exc.token
    at_end = token.type == "$END"
    position = len(text) if at_end else token.start_pos or 0
    lexemes = _lexemes(text)
    if "RBRACE" not in exc.expected or not _open_braces(lexemes, len(text)):
        return None
    open_here = _open_braces(lexemes, position)
    missing = _closings_needed(text, position, len(open_here))
    if not missing:
        return None
    innermost, *outer = reversed(open_here[-missing:])
    line, column = _line_column(text, lexemes[innermost].start)
    error_line, error_column = _line_column(text, position)
    if at_end:
        where = "at the end of the file"
    elif not text[position - error_column + 1 : position].strip():
        where = f"before line {error_line}"
    else:
        where = f"before '{_clip(str(token))}' on line {error_line}"
    also = "".join(
        f", nor is the '{{'{_brace_owner(lexemes, index)} on line "
        f"{_line_column(text, lexemes[index].start)[0]}"
        for index in outer
    )
    return error(
        "unclosed-brace",
        f"this '{{'{_brace_owner(lexemes, innermost)} is never closed{also}",
        Span(filename, line, column, line, column + 1),
        f"add {'' if missing == 1 else f'{missing} '}'}}' {where}",
    )


def _open_braces(lexemes: list[_Lexeme], until: int) -> list[int]:
    """Indexes of the '{' still open at position `until`, outermost first."""
    stack: list[int] = []
    for index, lexeme in enumerate(lexemes):
        if lexeme.start >= until:
            break
        if lexeme.text == "{":
            stack.append(index)
        elif lexeme.text == "}" and stack:
            stack.pop()
    return stack


def _closings_needed(text: str, position: int, open_count: int) -> int:
    """How many '}' (up to `open_count`) put at `position` carry the parser past it; 0: none."""
    for count in range(1, open_count + 1):
        inserted = " }" * count + " "
        amended = text[:position] + inserted + text[position:]
        try:
            parser().parse(amended)
        except UnexpectedInput as again:
            if _error_position(again, amended) > position + len(inserted):
                return count
        except LarkError:
            return 0
        else:
            return count
    return 0


def _error_position(exc: UnexpectedInput, text: str) -> int:
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        return exc.token.start_pos or 0
    if isinstance(exc, UnexpectedCharacters):
        return exc.pos_in_stream or 0
    return len(text)


def _brace_owner(lexemes: list[_Lexeme], index: int) -> str:
    """What a '{' opens, from the words before it: " of profile 'x'", " of 'on virus'"."""
    words = [lexeme.text for lexeme in lexemes[max(0, index - 3) : index]]
    if words[-1:] == ["default"]:
        words = words[:-1]
    if len(words) >= 2 and words[-2] == "profile":
        return f" of profile '{words[-1]}'"
    if len(words) >= 2 and words[-2] == "on":
        return f" of 'on {words[-1]}'"
    return ""


# ---- a quote inside a string ----


def _quote_in_string_hint(text: str, position: int) -> str:
    """When the fault at `position` follows a string on its line, and touches it or leaves an
    unpaired quote on the line, the string most likely held a '"' that ended it early."""
    before = _lexemes(text[:position])
    if not before or before[-1].kind != "string":
        return ""
    string = before[-1]
    line_end = text.find("\n", position)
    rest = text[position : len(text) if line_end < 0 else line_end]
    touching = string.end == position
    unpaired = len(UNESCAPED_QUOTE.findall(rest)) % 2 == 1
    if "\n" in text[string.end : position] or not (touching or unpaired):
        return ""
    advice = 'a " inside a string ends it: write it as \\"'
    if '"' not in rest:
        return advice
    meant = UNESCAPED_QUOTE.sub(r'\\"', text[string.start + 1 : position + rest.rfind('"')])
    return f'{advice}, as in "{meant}"'
