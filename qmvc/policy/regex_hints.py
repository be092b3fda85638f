"""What to do about each error Python's `re` reports, for the invalid-regex diagnostic.

Keyed by the start of `re.error.msg`; `{char}` is the character the error points at and
named groups of the key fill the rest. Messages not in the table get GENERIC_HINT.
"""

from __future__ import annotations

import re

GENERIC_HINT = "escape special characters such as ( [ + * ? with a backslash"

REGEX_HINTS: tuple[tuple[str, str], ...] = (
    (
        r"missing \), unterminated subpattern",
        "close the group with ')', or escape a literal '(' as \\(",
    ),
    (r"unbalanced parenthesis", "escape a literal ')' as \\), or add the '(' it closes"),
    (
        r"nothing to repeat",
        "escape the quantifier '{char}' as \\{char}, or put something before it to repeat",
    ),
    (
        r"multiple repeat",
        "'{char}' cannot repeat a repetition: escape it as \\{char}, "
        "or group what it repeats: (?:...){char}",
    ),
    (r"unterminated character set", "close the set with ']', or escape a literal '[' as \\["),
    (
        r"bad escape \(end of pattern\)",
        "the pattern ends in a lone backslash: write a literal backslash as \\\\",
    ),
    (
        r"bad escape (?P<escape>\\.)",
        "'{escape}' is no escape in a regular expression: write a literal backslash as \\\\",
    ),
    (
        r"bad character range",
        "a range runs from low to high, such as a-z; escape a literal '-' as \\-",
    ),
    (
        r"unknown extension \?<[^=!]",
        "name a group as (?P<name>...): Python's re has no (?<name>...)",
    ),
    (
        r"unknown extension|missing -, : or \)|missing :|missing flag|unknown flag",
        "after '(' a '?' starts a group kind such as (?:...), (?P<name>...), (?=...) or "
        "(?i:...); escape a literal '?' as \\?",
    ),
    (
        r"bad inline flags",
        "turn a flag on or off once, in a group such as (?i:...) or (?-i:...)",
    ),
    (
        r"missing >, unterminated name|missing <|bad character in group name|missing group name",
        "name a group as (?P<name>...), the name made of letters, digits and _",
    ),
    (r"redefinition of group name", "give each named group its own name"),
    (
        r"unknown group name|invalid group reference|cannot refer to an open group"
        r"|bad group number|cannot refer to group defined in the same",
        "a back reference (\\1 or (?P=name)) must refer to a group that ends before it",
    ),
    (
        r"look-behind requires fixed-width pattern|looks too much behind",
        "inside (?<=...) and (?<!...) the pattern needs one fixed length: no *, +, ? or {{m,n}}",
    ),
    (r"min repeat greater than max repeat", "write {{min,max}} with min no larger than max"),
    (r"the repetition number is too large", "use a smaller count in {{m,n}}"),
    (r"missing \), unterminated comment", "close the comment (?#...) with ')'"),
    (
        r"global flags not at the start",
        "put the flag after the closing slash, as in /.../i, or give it a group: (?i:...)",
    ),
    (r"incomplete escape", "\\x takes 2 hex digits, \\u 4 and \\U 8, such as \\x41"),
    (r"octal escape value", "an octal escape goes up to \\377"),
    (
        r"undefined character name|missing \{",
        "\\N takes a Unicode character name in braces, such as \\N{{EM DASH}}",
    ),
    (r"too many groups", "make the groups nothing refers to non-capturing: (?:...)"),
    (
        r"conditional backref with more than two branches",
        "(?(1)yes|no) takes two branches at most: group the others, as in (?(1)yes|(?:no|else))",
    ),
    (r"unexpected end of pattern", "the pattern stops inside a construct: complete it"),
)

GLOB_NOTE = ' (a glob such as "*.exe" is written in quotes, not between slashes)'


def regex_hint(message: str, pattern: str, position: int | None) -> str:
    """The fix for the error `message` that `re` reported at `position` of `pattern`."""
    char = pattern[position] if position is not None and position < len(pattern) else ""
    for key, hint in REGEX_HINTS:
        match = re.match(key, message)
        if match:
            advice = hint.format(char=char, **match.groupdict())
            starts_like_a_glob = message == "nothing to repeat" and char == "*" and position == 0
            return advice + GLOB_NOTE if starts_like_a_glob else advice
    return GENERIC_HINT
