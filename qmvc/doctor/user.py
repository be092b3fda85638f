"""The delivering user, and asking the file system questions as that user.

qmail-lspawn starts qmail-local with the user's uid and one group, the user's gid
(`prot_gid`: setgroups to that gid alone): a directory the user may write only through a
supplementary group from /etc/group is not writable at delivery. When doctor runs as
someone else (root with `--user`), a question such as "may alice write here" is answered
by a forked child that takes exactly that identity before asking the kernel: the kernel's
own answer, ACLs, root-squashed NFS and read-only mounts included, which no reading of
mode bits gives. The child only calls `os` functions, so it needs nothing more from the
Python installation than the parent already loaded.
"""

from __future__ import annotations

import os
import pickle
import pwd
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

Argument = TypeVar("Argument")
Answer = TypeVar("Answer")


class UserSwitchFailed(Exception):
    """The child could not become the user, or died before it answered."""


@dataclass(frozen=True, slots=True)
class DeliveringUser:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str

    @classmethod
    def named(cls, name: str) -> DeliveringUser:
        """The user from the password database, with qmail-local's one group; raises
        KeyError for an unknown name."""
        entry = pwd.getpwnam(name)
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid, (entry.pw_gid,), entry.pw_dir)

    @classmethod
    def current(cls) -> DeliveringUser:
        """Whoever runs this process, with the groups it has (a login shell's supplementary
        groups among them); a uid without a password entry is named by its number."""
        uid = os.geteuid()
        try:
            entry = pwd.getpwuid(uid)
        except KeyError:
            home = os.environ.get("HOME", "/")
            return cls(str(uid), uid, os.getegid(), tuple(os.getgroups()), home)
        return cls(entry.pw_name, uid, os.getegid(), tuple(os.getgroups()), entry.pw_dir)

    @property
    def is_current(self) -> bool:
        return self.uid == os.geteuid()

    def __str__(self) -> str:
        return f"{self.name} (uid {self.uid})"


def as_user(
    user: DeliveringUser, question: Callable[[Argument], Answer], argument: Argument
) -> Answer:
    """`question(argument)` answered with the user's identity: here when this process already
    has it, else in a child that drops privileges first (which needs root). The answer comes
    back pickled through a pipe; `question` must not raise for an expected fault."""
    if user.is_current:
        return question(argument)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's coverage is not collected
        os.close(read_end)
        try:
            os.setgroups(list(user.groups))
            os.setgid(user.gid)
            os.setuid(user.uid)
            payload = pickle.dumps((True, question(argument)))
        except BaseException as error:  # noqa: BLE001 - everything must reach the parent
            payload = pickle.dumps((False, f"{type(error).__name__}: {error}"))
        try:
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
        finally:
            os._exit(0)  # no atexit handlers, no flushing of the parent's buffers
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        payload = pipe.read()
    _, status = os.waitpid(child, 0)
    if not payload:
        raise UserSwitchFailed(f"the child checking as {user} ended with status {status}")
    answered, answer = pickle.loads(payload)
    if not answered:
        raise UserSwitchFailed(f"cannot check as {user}: {answer}")
    return answer  # type: ignore[no-any-return]
