"""What an attachment really is, by its content: libmagic through python-magic.

python-magic costs about 24 ms to import and load its database, so it is reached only when a
rule first asks for a sniffed type.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

SNIFF_BYTES = 8192
"""libmagic decides on the head of a file; more costs time and finds nothing new."""

UNKNOWN_TYPE = "application/octet-stream"


@cache
def _detector() -> Callable[[bytes], str]:
    import magic

    return magic.Magic(mime=True).from_buffer


def sniff_type(content: bytes) -> str:
    """libmagic's MIME type for the content, e.g. `application/vnd.microsoft.portable-executable`
    (libmagic 5.44) or `application/x-dosexec` (older) for Windows executables."""
    try:
        return _detector()(content[:SNIFF_BYTES])
    except Exception:  # magic.MagicException, or a library fault: unknown, never a deferral
        return UNKNOWN_TYPE
