"""How a Tune trial ended, in a record's words: the one reading of a trial's error that the
campaign's records and the scheduler's bookkeeping share.

A failed trial's failure is the machine's (a full disk, a Ray cluster that could
not start it or lost its node: ``interrupted``, retried on ``--resume``) or its
point's own (an exception of the trainer, a worker that crashed or ran out of
memory: ``failed``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from gespace.errors import machine_failure_text
from search.records import FAILED, INTERRUPTED

# How Ray words a trial that its cluster could not start or lost with its node (in the trial's
# error text: the exception object is not yet written when Tune reports the error).
CLUSTER_FAILURES = ("The actor never ran", "its node has died", "NodeDiedError", "LocalRayletDiedError",
                    "ActorUnschedulableError", "OutOfDiskError")


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def one_line(text: str) -> str:
    """The last line of a traceback: the exception and its message."""
    return (lines(text) or [""])[-1]


def error_text(trial: Any) -> str:
    """A failed trial's traceback, as Tune wrote it ("" if there is none)."""
    try:
        return Path(trial.error_file).read_text() if trial.error_file else ""
    except OSError:
        return ""


def error_reason(trial: Any) -> str:
    """The last line of a failed trial's traceback: the exception and its message."""
    return one_line(error_text(trial)) or "trial failed"


def machine_cause(trial: Any) -> str | None:
    """Why a failed trial's failure is the machine's, not its point's; None for the point's own."""
    text = error_text(trial)
    cause = machine_failure_text(text)
    if cause is None and any(words in text for words in CLUSTER_FAILURES):
        cause = f"the Ray cluster could not run the trial ({one_line(text)})"
    return cause


def error_status(trial: Any) -> str:
    """A failed trial's record status: interrupted when the machine failed it, else failed."""
    return INTERRUPTED if machine_cause(trial) else FAILED
