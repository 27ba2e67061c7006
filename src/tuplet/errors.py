"""Errors for people: one line that names the file (if any) and what is wrong.

Every error tuplet raises on purpose is a :class:`TupletError`; the CLI prints its message
without a traceback and exits non-zero. Batch jobs catch :class:`BadFileError`, record the
reason and go on.
"""

from __future__ import annotations

import os


class TupletError(Exception):
    """Base class of every error tuplet raises on purpose.

    Attributes:
        details: Lines the CLI prints under the one-line message (a short table), if any.
    """

    details: tuple[str, ...] = ()


class BadFileError(TupletError):
    """A file that cannot be used: unreadable, empty, corrupted, of an unknown kind...

    Attributes:
        path: The file, as given.
        problem: What is wrong with it, in a few words (no trailing full stop).
    """

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = os.fspath(path)
        # one line, always: a multi-line library message would break CSV reports and the CLI
        self.problem = " ".join(str(problem).split()) or "unknown problem"
        super().__init__(f"{self.path}: {self.problem}")


class UsageError(TupletError):
    """A request that cannot be carried out as asked (a wrong option value, a missing file)."""


class RightsGateError(UsageError):
    """Training refused by the rights gate (:mod:`tuplet.responsibility.gate`).

    Items of the data may not train a model for the declared use, or their files cannot be
    verified. The message is one line (how many items, why, the first names); ``details`` holds the
    count table the CLI prints under it.
    """

    def __init__(self, message: str, details: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.details = details


class WriteError(TupletError):
    """A file or folder could not be written: a full disk, a quota, a read-only place.

    Attributes:
        path: What was being written.
        errno: The system's error number.
    """

    def __init__(self, path: str | os.PathLike[str], exc: OSError, then: str = "") -> None:
        self.path = os.fspath(path)
        self.errno = exc.errno
        reason = exc.strerror or " ".join(str(exc).split()) or type(exc).__name__
        super().__init__(f"{self.path}: cannot write: {reason}" + (f"; {then}" if then else ""))


def is_out_of_space(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or the user's quota) is full."""
    import errno

    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


class MissingExtraError(TupletError):
    """An optional dependency is not installed; the message says which extra to install."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"this needs the optional package {module!r}: pip install 'tuplet[{extra}]'"
        )
