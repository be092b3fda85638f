"""Domain patterns of `domain "..." uses PROFILE`, against what a recipient domain can be.

Delivery compares the recipient's domain, lower-cased and without a final dot, with each
pattern as written, and with the suffix of each `*.` pattern; nothing else is a wildcard.
A pattern no domain name could equal therefore silently sends its domain to the default
profile: the checker reports it, with the fixed pattern when the fix is plain.
"""

from __future__ import annotations

import re
from typing import NamedTuple

MAX_LABEL_LENGTH = 63
SEPARATORS = re.compile(r"[\s,;]+")
GENERAL_HINT = (
    'a domain pattern is a name such as "example.org", or "*.example.org" for its subdomains'
)


class DomainProblem(NamedTuple):
    message: str
    hint: str


def domain_problem(pattern: str) -> DomainProblem | None:
    """Why no recipient domain can match `pattern` (as the parser lower-cased it), or None."""
    if not pattern.strip():
        return DomainProblem("an empty domain pattern matches no recipient", GENERAL_HINT)
    if "@" in pattern:
        return DomainProblem(
            f"'{pattern}' is an address, not a domain",
            _fix_hint(pattern.rsplit("@", 1)[1], "write the domain alone: {}"),
        )
    separator = SEPARATORS.search(pattern)
    if separator:
        parts = SEPARATORS.split(pattern.strip())
        if all("." in p and domain_problem(p) is None for p in parts) and len(parts) > 1:
            hint = "write each domain as its own string: " + " ".join(f'"{p}"' for p in parts)
        else:
            hint = _fix_hint(".".join(parts), "did you mean {}?")
        character = separator.group()[0]
        shown = "a blank" if character.isspace() else f"'{character}'"
        return DomainProblem(f"'{pattern}' holds {shown}, which no domain name has", hint)
    wildcard = pattern.startswith("*.")
    name = pattern[2:] if wildcard else pattern
    if "*" in name or not name.strip("."):
        return _wildcard_problem(pattern, name)
    if not name.isascii():
        return DomainProblem(
            f"'{pattern}' is not written as qmail sees domains (in ASCII)",
            _fix_hint(("*." if wildcard else "") + _ascii_form(name), "write {}"),
        )
    odd = re.search(r"[^a-z0-9.-]", name)
    if odd:
        return DomainProblem(
            f"'{pattern}' holds '{odd.group()}', which no domain name has",
            "a domain is made of letters, digits, hyphens and dots",
        )
    return _label_problem(pattern, name, wildcard)


def _label_problem(pattern: str, name: str, wildcard: bool) -> DomainProblem | None:
    prefix = "*." if wildcard else ""
    if name.startswith("."):
        bare = name.lstrip(".")
        return DomainProblem(
            f"'{pattern}' starts with a dot, which no domain name does",
            _subdomains_hint(bare) if not wildcard else _fix_hint(prefix + bare, "write {}"),
        )
    if name.endswith("."):
        return DomainProblem(
            f"'{pattern}' ends with a dot: recipient domains are compared without it",
            _fix_hint(prefix + name.rstrip("."), "write {}"),
        )
    labels = name.split(".")
    if "" in labels:
        return DomainProblem(
            f"'{pattern}' has two dots in a row",
            _fix_hint(prefix + ".".join(label for label in labels if label), "write {}"),
        )
    longest = max(labels, key=len)
    if len(longest) > MAX_LABEL_LENGTH:
        return DomainProblem(
            f"'{pattern}' has a part of {len(longest)} characters: "
            f"no part of a domain name is longer than {MAX_LABEL_LENGTH}",
            "look for a missing dot or a pasted line",
        )
    return None


def _wildcard_problem(pattern: str, name: str) -> DomainProblem:
    """A '*' other than a leading '*.', or a pattern of nothing but stars and dots."""
    if not name.strip("*."):
        return DomainProblem(
            f"'{pattern}' names no domain",
            "domains that no pattern names use the default profile: profile NAME default { ... }",
        )
    message = f"'{pattern}' has a '*' that qmvc does not expand: only a leading '*.' is a wildcard"
    if pattern.startswith("*") and not pattern.startswith("*."):
        return DomainProblem(message, _subdomains_hint(pattern.lstrip("*.")))
    return DomainProblem(
        message, 'name each domain, or use "*.example.org" to match every subdomain of example.org'
    )


def _subdomains_hint(name: str) -> str:
    """For a pattern that meant a domain's subdomains, as `.example.org` does for qmail."""
    if "." not in name or domain_problem(name) is not None:
        return GENERAL_HINT
    return f'for the subdomains of {name} write "*.{name}"; for {name} itself, "{name}"'


def _ascii_form(name: str) -> str:
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return ""


def _fix_hint(fixed: str, template: str) -> str:
    """The hint naming `fixed`, when it is a pattern that can match; else a general one."""
    if fixed and domain_problem(fixed) is None:
        return template.format(f'"{fixed}"')
    return GENERAL_HINT
