"""The limits every file a user hands gespace is read within, and a bounded JSON reader.

Specs, point files (``--point @FILE``), campaign records, settings and caches
are all read through here: a regular file of at most ``MAX_FILE_BYTES``, UTF-8,
nested at most ``MAX_DEPTH`` levels, and (JSON) finite numbers only. A file that
breaks a limit ends in one line naming it (`InputError`), never a traceback,
and never an unbounded read or a recursion that a hostile file can drive.
"""
from __future__ import annotations

import json
import os
import re
import stat
from typing import Any

from gespace.errors import UserError

MAX_FILE_BYTES = 1 << 20  # real specs, points and caches are a few KB
MAX_DEPTH = 32  # real specs nest 4 levels, records 4


class InputError(UserError):
    """A file gespace will not read: its path, the 1-based line and column where the problem is, why."""

    def __init__(self, path: str | os.PathLike, message: str, line: int = 1, column: int = 1) -> None:
        self.path, self.message, self.line, self.column = str(path), message, line, column
        super().__init__(f"{path}: {message}" if (line, column) == (1, 1)
                         else f"{path}:{line}:{column}: {message}")

    @property
    def detail(self) -> str:
        """The message with its place, for a caller that names the file itself."""
        return self.message if (self.line, self.column) == (1, 1) else \
            f"{self.message} at line {self.line}, column {self.column}"


def read_text(path: str | os.PathLike, what: str, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The text of ``path`` (``what`` it should be, a noun such as "spec", for the message);
    `InputError` if it is not a regular file, larger than ``max_bytes`` or not UTF-8."""
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise InputError(path, f"cannot read {what}: a directory, not a {what} file")
        if not stat.S_ISREG(mode):  # a FIFO or a device would block or never end
            raise InputError(path, f"cannot read {what}: not a regular file")
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as err:
        raise InputError(path, f"cannot read {what}: {err.strerror or err}") from None
    if len(data) > max_bytes:
        raise InputError(path, f"the file is larger than {max_bytes} bytes, the limit for a {what}; is it a {what}?")
    return decode(data, path)


def decode(data: bytes, path: str | os.PathLike) -> str:
    """``data`` as UTF-8; `InputError` at the first byte that is not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line_start = data.rfind(b"\n", 0, err.start) + 1
        column = len(data[line_start:err.start].decode("utf-8", "replace")) + 1
        raise InputError(path, f"not UTF-8 text: byte 0x{data[err.start]:02x} here ({err.reason})",
                         data.count(b"\n", 0, err.start) + 1, column) from None


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)


def json_depth(text: str) -> int:
    """How deeply ``text``'s JSON nests arrays and objects, in one linear pass (no recursion)."""
    depth = deepest = 0
    for char in _STRING.sub("", text):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number gespace accepts (finite numbers only)")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # 1e999 overflows to an infinity
        _refuse_constant(text)
    return value


def parse_json(text: str, source: str | os.PathLike, max_depth: int = MAX_DEPTH) -> Any:
    """``text`` parsed as strict JSON; `InputError` naming ``source`` if it is not JSON, nests more
    than ``max_depth`` levels or holds NaN or an infinity."""
    if json_depth(text) > max_depth:
        raise InputError(source, f"nested more than {max_depth} levels deep, the limit for gespace's files")
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as err:
        raise InputError(source, f"not JSON: {err.msg}", err.lineno, err.colno) from None
    except ValueError as err:  # a refused constant
        raise InputError(source, str(err)) from None


def read_json(path: str | os.PathLike, what: str, max_bytes: int = MAX_FILE_BYTES) -> Any:
    """`read_text` then `parse_json`: the file's JSON within every limit."""
    return parse_json(read_text(path, what, max_bytes), path)
