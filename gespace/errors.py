"""Errors that end a command with one line for the user, and failures of the machine (kept free of
torch imports)."""
from __future__ import annotations

import errno
import re


class UserError(Exception):
    """A mistake of the user's that ends the command with one line and status 2."""


class BuildError(ValueError):
    """A point that the backbone cannot honour; the message names the point id."""


class DataError(RuntimeError):
    """A dataset that cannot be found or read; the message says how to get it."""


class CheckpointError(ValueError):
    """A file that is not a gespace checkpoint, or one refused unread; the message names it."""


class MachineFailure(Exception):
    """A failure of the machine (a full disk, a cluster that cannot run trials) that ended the
    command: one line naming the cause, status 1; nothing finished is lost."""


# Failures of the machine, not of the point: a run they stop is to be trained again once the
# machine is fixed, never recorded as the point's failure. By errno: a full disk, a quota, a
# read-only mount.
MACHINE_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
                  errno.EROFS: "read-only file system"}
# torch's zip writer reports a write that a full disk cut short without an errno, in these words.
SHORT_WRITE = ("unexpected pos",)
CUT_SHORT = "a file write cut short (no space left on device)"


def machine_failure(err: BaseException) -> str | None:
    """What failed on the machine if ``err`` (or an exception it was raised from or wraps, as
    Ray's task errors wrap theirs in ``cause``) is a failure of the machine, e.g. "no space left on
    device (/runs/x/checkpoint.pt)"; None if it is not."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in MACHINE_ERRNOS:
            where = f" ({current.filename})" if current.filename else ""
            return MACHINE_ERRNOS[current.errno] + where
        if isinstance(current, RuntimeError) and any(words in str(current) for words in SHORT_WRITE):
            return CUT_SHORT
        current = getattr(current, "cause", None) or current.__cause__ or current.__context__
    return None


_OS_ERROR = re.compile(r"\[Errno (\d+)\][^\n']*?(?:: '([^'\n]*)')?$", re.M)


def machine_failure_text(text: str) -> str | None:
    """`machine_failure` of an error known only by its text (a traceback, an error's last line)."""
    for match in _OS_ERROR.finditer(text):
        number = int(match.group(1))
        if number in MACHINE_ERRNOS:
            return MACHINE_ERRNOS[number] + (f" ({match.group(2)})" if match.group(2) else "")
    return CUT_SHORT if any(words in text for words in SHORT_WRITE) else None
