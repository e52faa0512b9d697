"""Pareto dominance, the one rule, and fronts (every objective is minimised) over anything with
``objective(name)``: trial records, or points summarised over their seeds
(`search.statistics.PointSummary`). Schedulers, `p_front` and reports all decide dominance with
`dominance`."""
from __future__ import annotations

from typing import Protocol, Sequence, TypeVar

import numpy as np

from gespace.objectives import DEFAULT_OBJECTIVES, ERROR, OBJECTIVES


class Scored(Protocol):
    def objective(self, name: str) -> float | None: ...


T = TypeVar("T", bound=Scored)


def dominance(values: np.ndarray | Sequence[Sequence[float]], objectives: Sequence[str],
              error_tolerance: float = 0.0) -> np.ndarray:
    """``values`` [..., n, k] (objectives in that order) -> bool [..., n, n]: [i, j] where item i
    dominates item j, no worse in every objective and better in one.

    Costs within their registry's relative ``tolerance`` of each other count as equal;
    errors within ``error_tolerance`` (absolute), since whether two errors tie is for the
    caller's statistics to say (0: as measured).
    """
    values = np.asarray(values, dtype=float)
    error = np.array([OBJECTIVES[o].source == ERROR for o in objectives])
    relative = np.array([0.0 if e else OBJECTIVES[o].tolerance for o, e in zip(objectives, error)])
    a, b = values[..., :, None, :], values[..., None, :, :]
    slack = np.where(error, error_tolerance, relative * np.maximum(np.abs(a), np.abs(b)))
    return (a <= b + slack).all(-1) & (a < b - slack).any(-1)


def non_dominated(values: np.ndarray, objectives: Sequence[str], error_tolerance: float = 0.0) -> np.ndarray:
    """``values`` [..., n, k] -> bool [..., n]: the items nothing dominates (`dominance`).

    For an error and one cost, both without tolerance (the common case, and the one
    `p_front` computes thousands of times), the same set in O(n log n) instead of n^2:
    sorted by cost, an item is dominated where a strictly cheaper item, or one of equal
    cost, has lower error (or, strictly cheaper, equal error).
    """
    values = np.asarray(values, dtype=float)
    sources = [OBJECTIVES[o].source for o in objectives]
    if not (len(objectives) == 2 and sources.count(ERROR) == 1 and error_tolerance == 0.0
            and all(OBJECTIVES[o].tolerance == 0.0 for o in objectives) and np.isfinite(values).all()):
        return ~dominance(values, objectives, error_tolerance).any(-2)
    error_column = sources.index(ERROR)
    costs, errors = values[..., 1 - error_column], values[..., error_column]
    flat_costs = costs.reshape(-1, costs.shape[-1])
    if not (flat_costs == flat_costs[:1]).all():  # costs vary by draw: the general rule
        return ~dominance(values, objectives, error_tolerance).any(-2)
    order = np.argsort(flat_costs[0], kind="stable")
    sorted_costs, sorted_errors = flat_costs[0][order], errors[..., order]
    starts = np.flatnonzero(np.r_[True, sorted_costs[1:] != sorted_costs[:-1]])  # groups of equal cost
    group_of = np.cumsum(np.r_[True, sorted_costs[1:] != sorted_costs[:-1]]) - 1
    group_min = np.minimum.reduceat(sorted_errors, starts, axis=-1)  # [..., groups]
    cheaper_min = np.concatenate([np.full(group_min.shape[:-1] + (1,), np.inf),
                                  np.minimum.accumulate(group_min, axis=-1)[..., :-1]], axis=-1)
    dominated = (cheaper_min[..., group_of] <= sorted_errors) | (group_min[..., group_of] < sorted_errors)
    result = np.empty_like(dominated)
    result[..., order] = ~dominated
    return result


def check_objectives(objectives: Sequence[str]) -> None:
    """ValueError naming the first objective the registry does not know."""
    unknown = [o for o in objectives if o not in OBJECTIVES]
    if unknown:
        raise ValueError(f"unknown objective {unknown[0]!r}; use {', '.join(OBJECTIVES)}")


def dominates(a: Scored, b: Scored, objectives: Sequence[str]) -> bool:
    """a dominates b (`dominance` of the two)."""
    return bool(dominance([[x.objective(o) for o in objectives] for x in (a, b)], objectives)[0, 1])


def pareto_front(items: Sequence[T], objectives: Sequence[str] = DEFAULT_OBJECTIVES) -> list[T]:
    """The non-dominated items among those with every objective known, sorted by the
    second objective then the first. Which items may rank at all is the caller's choice."""
    check_objectives(objectives)
    candidates = [item for item in items if all(item.objective(o) is not None for o in objectives)]
    if not candidates:
        return []
    dominated = dominance([[c.objective(o) for o in objectives] for c in candidates], objectives).any(0)
    front = [c for c, out in zip(candidates, dominated) if not out]
    order = list(objectives[1:]) + [objectives[0]]
    return sorted(front, key=lambda r: tuple(r.objective(o) for o in order))
