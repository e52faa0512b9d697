"""Pareto fronts (every objective is minimised) over anything with ``objective(name)``:
trial records, or points summarised over their seeds (`search.statistics.PointSummary`)."""
from __future__ import annotations

from typing import Protocol, Sequence, TypeVar

OBJECTIVES = ("val_error", "gmacs", "params_m", "latency_ms")  # see TrialRecord.objective


class Scored(Protocol):
    def objective(self, name: str) -> float | None: ...


T = TypeVar("T", bound=Scored)


def dominates(a: Scored, b: Scored, objectives: Sequence[str]) -> bool:
    """a is no worse than b in every objective and better in one."""
    pairs = [(a.objective(o), b.objective(o)) for o in objectives]
    return all(x <= y for x, y in pairs) and any(x < y for x, y in pairs)


def pareto_front(items: Sequence[T], objectives: Sequence[str] = ("val_error", "gmacs")) -> list[T]:
    """The non-dominated items among those with every objective known, sorted by the
    second objective then the first. Which items may rank at all is the caller's choice."""
    unknown = [o for o in objectives if o not in OBJECTIVES]
    if unknown:
        raise ValueError(f"unknown objective {unknown[0]!r}; use {', '.join(OBJECTIVES)}")
    candidates = [item for item in items if all(item.objective(o) is not None for o in objectives)]
    front = [r for r in candidates if not any(dominates(o, r, objectives) for o in candidates)]
    order = list(objectives[1:]) + [objectives[0]]
    return sorted(front, key=lambda r: tuple(r.objective(o) for o in order))
