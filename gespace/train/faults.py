"""Faults injected on purpose, so that tests of what a failure does never depend on numerics or
on filling a real disk.

``GESPACE_FAULTS`` holds comma-separated ``KIND:POINT_ID`` items; a run of that
point (under any seed) then meets the fault:

- ``nonfinite-loss``: the training loss of its first step is NaN (a divergence);
- ``no-space``: writing its checkpoint fails with ENOSPC (a full disk).

Unset, nothing changes. The variable is read when a run starts, so a campaign's
trials see what the driver (and Ray's workers, started by it) were given.
"""
from __future__ import annotations

import errno
import os

FAULTS = "GESPACE_FAULTS"
KINDS = ("nonfinite-loss", "no-space")


def injected(kind: str, point_id: str | None) -> bool:
    """Whether runs of ``point_id`` are to meet fault ``kind``."""
    assert kind in KINDS, kind
    items = (item.strip().split(":", 1) for item in os.environ.get(FAULTS, "").split(",") if item.strip())
    return point_id is not None and any(item == [kind, point_id] for item in items)


def no_space(path: str | os.PathLike) -> OSError:
    """The error a full disk raises when ``path`` is written."""
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))
