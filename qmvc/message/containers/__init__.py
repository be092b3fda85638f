"""Files a mail client or a user would get out of a leaf's decoded content.

Three kinds of container, each read by pure functions over bytes that never raise: uuencode
and yEnc blocks inside a text body (shown as attachments by Outlook Express and newsreaders),
the attachments of a TNEF body (winmail.dat), and the members of an archive. libarchive is
imported only when an archive is met, so delivering clean mail does not pay for it. Names are
returned as the container gives them; `names.py` normalises them.
"""

from qmvc.message.containers.archives import archive_members, looks_like_archive
from qmvc.message.containers.embedded import embedded_files
from qmvc.message.containers.records import (
    ARCHIVE_HEAD_BYTES,
    ARCHIVE_TAIL_BYTES,
    MAX_ARCHIVE_DEPTH,
    MAX_EMBEDDED,
    MAX_MEMBERS,
    MAX_UNPACKED_BYTES,
    MEMBER_SEPARATOR,
    Extracted,
    Listing,
    Member,
)
from qmvc.message.containers.tnef import looks_like_tnef, tnef_files

__all__ = [
    "ARCHIVE_HEAD_BYTES",
    "ARCHIVE_TAIL_BYTES",
    "MAX_ARCHIVE_DEPTH",
    "MAX_EMBEDDED",
    "MAX_MEMBERS",
    "MAX_UNPACKED_BYTES",
    "MEMBER_SEPARATOR",
    "Extracted",
    "Listing",
    "Member",
    "archive_members",
    "embedded_files",
    "looks_like_archive",
    "looks_like_tnef",
    "tnef_files",
]
