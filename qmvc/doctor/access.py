"""Questions about the file system, asked as the delivering user (see `user.as_user`).

Nothing is created: a path that does not exist yet is judged by its first existing
ancestor, the directory `qmvc deliver` would create it in (it creates QMVC_DIR, `state/`,
`cache/` and quarantine Maildirs with their parents as needed). Each function answers
with an `Access`, never raises, and uses only `os`, so that a child that dropped its
privileges can run it without importing anything.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from functools import wraps
from typing import NamedTuple, TypeVar

MAILDIR_SUBDIRS = ("tmp", "new", "cur")  # as qmvc.actions.maildir creates them
ABLE = {"read": "readable", "write": "writable", "execute": "executable"}
Target = TypeVar("Target", str, tuple[str, str])


class Access(NamedTuple):
    """`ok`, and what was seen: the path that decided it and why."""

    ok: bool
    detail: str


def _answers(question: Callable[[Target], Access]) -> Callable[[Target], Access]:
    """A question that cannot see its path (a directory on the way is closed to the user,
    say) answers why, instead of raising."""

    @wraps(question)
    def asked(target: Target) -> Access:
        try:
            return question(target)
        except OSError as error:
            path = target if isinstance(target, str) else target[0]
            if isinstance(error, PermissionError):
                return Access(False, _refusal(path, "read"))
            return Access(False, f"{path}: {error.strerror or error}")

    return asked


@_answers
def writable_directory(path: str) -> Access:
    """A directory qmvc writes files in, created (with its parents) when missing."""
    found, status = _first_existing(path)
    if found != path:
        return _creatable_in(found, status, path)
    if not stat.S_ISDIR(status.st_mode):
        return Access(False, f"{path} is not a directory")
    if os.access(path, os.W_OK | os.X_OK):
        return Access(True, f"{path} is writable")
    return Access(False, _refusal(path, "write"))


@_answers
def writable_file(path: str) -> Access:
    """A file qmvc appends to, created when missing, as its directory is."""
    found, status = _first_existing(path)
    if found != path:
        return _creatable_in(found, status, path)
    if stat.S_ISDIR(status.st_mode):
        return Access(False, f"{path} is a directory")
    if os.access(path, os.W_OK):
        return Access(True, f"{path} is writable")
    return Access(False, _refusal(path, "write"))


@_answers
def writable_maildir(path: str) -> Access:
    """A Maildir a message is kept in: tmp/, new/ and cur/ writable, or creatable."""
    itself = writable_directory(path)
    if not os.path.isdir(path):
        return itself  # creating it creates tmp/, new/ and cur/ as well
    subdirectories = [os.path.join(path, sub) for sub in MAILDIR_SUBDIRS]
    for answer in map(writable_directory, subdirectories):
        if not answer.ok:
            return answer
    if all(map(os.path.isdir, subdirectories)):
        return Access(True, f"{path} is a writable Maildir")
    return itself  # a missing subdirectory is created in it


@_answers
def readable_file(path: str) -> Access:
    found, status = _first_existing(path)
    if found != path:
        return Access(False, f"{path} does not exist")
    if stat.S_ISDIR(status.st_mode):
        return Access(False, f"{path} is a directory")
    if os.access(path, os.R_OK):
        return Access(True, f"{path} is readable")
    return Access(False, _refusal(path, "read"))


@_answers
def readable_tree(path: str) -> Access:
    """A directory whose files are read (notice templates): every directory listable and
    enterable, every file readable."""
    if not os.path.isdir(path):
        return Access(False, f"{path} is not a directory")
    if not os.access(path, os.R_OK | os.X_OK):
        return Access(False, _refusal(path, "read"))
    for directory, subdirectories, files in os.walk(path):
        for name in subdirectories:
            inner = os.path.join(directory, name)
            if not os.access(inner, os.R_OK | os.X_OK):
                return Access(False, _refusal(inner, "read"))
        for name in files:
            inner = os.path.join(directory, name)
            if not os.access(inner, os.R_OK):
                return Access(False, _refusal(inner, "read"))
    return Access(True, f"{path} is readable")


@_answers
def executable_program(argument: tuple[str, str]) -> Access:
    """(program, PATH): the program as written with a slash, else the first on PATH, as
    execvp finds it; a file found but not executable is named."""
    program, search_path = argument
    if "/" in program:
        return _executable(program)
    not_executable = ""
    for directory in search_path.split(os.pathsep):
        candidate = os.path.join(directory or ".", program)
        if os.path.lexists(candidate):
            answer = _executable(candidate)
            if answer.ok:
                return answer
            not_executable = not_executable or answer.detail
    return Access(False, not_executable or f"{program} is not on PATH ({search_path})")


@_answers
def connectable_socket(path: str) -> Access:
    """A unix socket: connecting needs write permission on it."""
    found, status = _first_existing(path)
    if found != path:
        return Access(False, f"{path} does not exist")
    if not stat.S_ISSOCK(status.st_mode):
        return Access(False, f"{path} is not a socket")
    if os.access(path, os.W_OK):
        return Access(True, f"{path} accepts connections from this user")
    return Access(False, _refusal(path, "write"))


def _executable(path: str) -> Access:
    try:
        status = os.stat(path)
    except OSError as error:
        return Access(False, f"{path}: {error.strerror}")
    if not stat.S_ISREG(status.st_mode):
        return Access(False, f"{path} is not a regular file")
    if os.access(path, os.X_OK):
        return Access(True, f"{path} is executable")
    return Access(False, _refusal(path, "execute"))


def _first_existing(path: str) -> tuple[str, os.stat_result]:
    """The path itself when it exists, else its nearest existing ancestor; a directory on
    the way that the user cannot search raises PermissionError."""
    current = os.path.abspath(path)
    while True:
        try:
            return current, os.stat(current)
        except (FileNotFoundError, NotADirectoryError):
            parent = os.path.dirname(current)
            if parent == current:
                raise
            current = parent


def _creatable_in(ancestor: str, status: os.stat_result, path: str) -> Access:
    if not stat.S_ISDIR(status.st_mode):
        return Access(False, f"{path} cannot be created: {ancestor} is not a directory")
    if os.access(ancestor, os.W_OK | os.X_OK):
        return Access(True, f"{path} does not exist yet; it can be created in {ancestor}")
    return Access(
        False, f"{path} does not exist and cannot be created: {_refusal(ancestor, 'write')}"
    )


def _refusal(path: str, wanted: str) -> str:
    """Why the user may not: the first directory on the way that cannot be entered, else
    the path's own permission bits."""
    parts = os.path.abspath(path).split(os.sep)
    for depth in range(2, len(parts)):
        directory = os.sep.join(parts[:depth]) or os.sep
        if not os.access(directory, os.X_OK):
            return f"{directory} cannot be entered (no search permission)"
    return f"{path} is not {ABLE[wanted]} (no {wanted} permission)"
