"""What a policy file was when it was read: enough to tell later whether it changed."""

from __future__ import annotations

from qmvc.record import Record


class FileStamp(Record):
    """Size, mtime and inode at the moment of reading, and the SHA-256 of the bytes read.

    The inode tells a file renamed over the path (`rsync -t`, `tar x`, a switched symlink) from
    the one read, even when it brings the same size and mtime."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    inode: int
