"""The recipient's own address under qmail virtualdomains and vpopmail.

qmail-send rewrites `anna@example.de` for a virtual domain listed as `example.de:PREFIX` in
control/virtualdomains to `PREFIX-anna@example.de`, and qmail-local hands that to qmvc as
RECIPIENT (LOCAL is `PREFIX-anna`, EXT the part after the user's own name, HOST the
domain). vpopmail's layout maps each domain to itself (`example.de:example.de`). A notice
must reach the address the person knows, so the prefix comes off again:

1. the prefix control/virtualdomains gives for HOST (exact, then the longest `.suffix`
   entry, as qmail-send looks it up), when LOCAL starts with `PREFIX-`;
2. else, when the file cannot be read, the vpopmail convention: LOCAL starting `HOST-`;
3. else RECIPIENT as it is (an ordinary user, or an extension address `anna-lists@...`).
"""

from __future__ import annotations

from pathlib import Path

from qmvc.message.envelope import Envelope

DEFAULT_VIRTUALDOMAINS = "/var/qmail/control/virtualdomains"


def read_prefixes(path: Path) -> dict[str, str] | None:
    """`domain` (or `.suffix`) → prefix, from qmail's control file; None when unreadable."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    prefixes: dict[str, str] = {}
    for line in text.splitlines():
        domain, colon, prefix = line.strip().partition(":")
        if colon and domain and not domain.startswith("#"):
            prefixes.setdefault(domain.lower(), prefix.strip())
    return prefixes


def _prefix_for(host: str, prefixes: dict[str, str]) -> str | None:
    if host in prefixes:
        return prefixes[host]
    suffixes = [s for s in prefixes if s.startswith(".") and host.endswith(s)]
    return prefixes[max(suffixes, key=len)] if suffixes else None


def personal_address(envelope: Envelope, virtualdomains: Path) -> str:
    """The recipient's address with a virtual domain's prefix removed (see the module doc)."""
    host = envelope.domain.lower()
    local = envelope.local
    if not host or not local:
        return envelope.recipient
    prefixes = read_prefixes(virtualdomains)
    prefix = _prefix_for(host, prefixes) if prefixes is not None else host
    if prefix and local.lower().startswith(prefix.lower() + "-"):
        return f"{local[len(prefix) + 1 :]}@{host}"
    return envelope.recipient
