"""Pareto dominance, the one rule, and fronts (every objective is minimised) over anything with
``objective(name)``: trial records, or points summarised over their seeds
(`search.statistics.PointSummary`). Schedulers, `p_front` and reports all decide dominance with
`dominance`."""
from __future__ import annotations

from typing import Mapping, Protocol, Sequence, TypeVar

import numpy as np

from gespace.objectives import DEFAULT_OBJECTIVES, ERROR, OBJECTIVES, cost_tolerances


class Scored(Protocol):
    def objective(self, name: str) -> float | None: ...


T = TypeVar("T", bound=Scored)


def dominance(values: np.ndarray | Sequence[Sequence[float]], objectives: Sequence[str],
              error_tolerance: float | np.ndarray = 0.0, tolerance: Mapping[str, float] | None = None) -> np.ndarray:
    """``values`` [..., n, k] (objectives in that order) -> bool [..., n, n]: [i, j] where item i
    dominates item j, no worse in every objective and better in one.

    Costs within their relative ``tolerance`` of each other (`gespace.objectives.cost_tolerances`:
    the registry's, or a spec's overrides) count as equal: i is no worse than j in a cost when
    c_i <= c_j + t max(|c_i|, |c_j|), better when c_i < c_j - t max(|c_i|, |c_j|). Errors tie
    within ``error_tolerance`` (absolute: a number, or one per pair [..., n, n]), since whether
    two errors tie is for the caller's statistics to say (0: as measured).
    """
    values = np.asarray(values, dtype=float)
    error_tolerance = np.asarray(error_tolerance, dtype=float)
    if error_tolerance.ndim >= 2:
        error_tolerance = error_tolerance[..., None]
    tolerances = cost_tolerances(tolerance)
    error = np.array([OBJECTIVES[o].source == ERROR for o in objectives])
    relative = np.array([tolerances[o] for o in objectives])
    a, b = values[..., :, None, :], values[..., None, :, :]
    slack = np.where(error, error_tolerance, relative * np.maximum(np.abs(a), np.abs(b)))
    return (a <= b + slack).all(-1) & (a < b - slack).any(-1)


def non_dominated(values: np.ndarray, objectives: Sequence[str], error_tolerance: float | np.ndarray = 0.0,
                  tolerance: Mapping[str, float] | None = None) -> np.ndarray:
    """``values`` [..., n, k] -> bool [..., n]: the items nothing dominates (`dominance`).

    For an error and one non-negative cost, the same set in O(n log n) instead of n^2 (`p_front`
    computes it for every draw). With cost tolerance t, i is no worse than j in cost exactly
    when c_i <= c_j / (1 - t), and better when c_i < c_j (1 - t): both sets are prefixes of
    the items sorted by cost, so j is dominated where the lowest error of the first prefix is
    below its own, or that of the second is no higher (t = 0: cheaper or equal cost and lower
    error, or strictly cheaper and no higher).
    """
    values = np.asarray(values, dtype=float)
    sources = [OBJECTIVES[o].source for o in objectives]
    general = (len(objectives) != 2 or sources.count(ERROR) != 1 or np.any(error_tolerance)
               or not np.isfinite(values).all())
    if not general:
        error_column = sources.index(ERROR)
        costs, errors = values[..., 1 - error_column], values[..., error_column]
        flat_costs = costs.reshape(-1, costs.shape[-1])
        # Costs that vary by draw, or negative ones, take the general rule.
        general = not (flat_costs == flat_costs[:1]).all() or (flat_costs < 0).any()
    if general:
        return ~dominance(values, objectives, error_tolerance, tolerance).any(-2)
    t = cost_tolerances(tolerance)[objectives[1 - error_column]]
    order = np.argsort(flat_costs[0], kind="stable")
    sorted_costs, sorted_errors = flat_costs[0][order], errors[..., order]
    running_min = np.minimum.accumulate(sorted_errors, axis=-1)
    no_worse = np.searchsorted(sorted_costs, sorted_costs / (1 - t), side="right")  # prefix lengths
    better = np.searchsorted(sorted_costs, sorted_costs * (1 - t), side="left")

    def prefix_min(lengths: np.ndarray) -> np.ndarray:
        padded = np.concatenate([np.full(running_min.shape[:-1] + (1,), np.inf), running_min], axis=-1)
        return padded[..., lengths]

    dominated = (prefix_min(no_worse) < sorted_errors) | (prefix_min(better) <= sorted_errors)
    result = np.empty_like(dominated)
    result[..., order] = ~dominated
    return result


def check_objectives(objectives: Sequence[str]) -> None:
    """ValueError naming the first objective the registry does not know."""
    unknown = [o for o in objectives if o not in OBJECTIVES]
    if unknown:
        raise ValueError(f"unknown objective {unknown[0]!r}; use {', '.join(OBJECTIVES)}")


def dominates(a: Scored, b: Scored, objectives: Sequence[str], tolerance: Mapping[str, float] | None = None) -> bool:
    """a dominates b (`dominance` of the two)."""
    return bool(dominance([[x.objective(o) for o in objectives] for x in (a, b)], objectives,
                          tolerance=tolerance)[0, 1])


def pareto_front(items: Sequence[T], objectives: Sequence[str] = DEFAULT_OBJECTIVES,
                 tolerance: Mapping[str, float] | None = None) -> list[T]:
    """The non-dominated items among those with every objective known, sorted by the
    second objective then the first. Which items may rank at all is the caller's choice."""
    check_objectives(objectives)
    candidates = [item for item in items if all(item.objective(o) is not None for o in objectives)]
    if not candidates:
        return []
    dominated = dominance([[c.objective(o) for o in objectives] for c in candidates], objectives,
                          tolerance=tolerance).any(0)
    front = [c for c, out in zip(candidates, dominated) if not out]
    order = list(objectives[1:]) + [objectives[0]]
    return sorted(front, key=lambda r: tuple(r.objective(o) for o in order))
