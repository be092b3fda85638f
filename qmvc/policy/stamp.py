"""What a policy file was when it was read: enough to tell later whether it changed."""

from __future__ import annotations

from qmvc.record import Record


class FileStamp(Record):
    """Size and mtime at the moment of reading, and the SHA-256 of the bytes read."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
