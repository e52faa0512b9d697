"""Pareto fronts over trial records (every objective is minimised)."""
from __future__ import annotations

from typing import Any, Sequence

from search.store import RANKED

OBJECTIVES = ("val_error", "gmacs", "params_m")

Record = dict[str, Any]


def objective(record: Record, name: str) -> float | None:
    """An objective's value: val_error from the record, gmacs/params_m from its cost."""
    if name == "val_error":
        return record.get("val_error")
    return (record.get("cost") or {}).get(name)


def dominates(a: Record, b: Record, objectives: Sequence[str]) -> bool:
    """a is no worse than b in every objective and better in one."""
    pairs = [(objective(a, o), objective(b, o)) for o in objectives]
    return all(x <= y for x, y in pairs) and any(x < y for x, y in pairs)


def ranked(records: list[Record], objectives: Sequence[str]) -> list[Record]:
    """Records that may rank: trained (fully or until stopped) with every objective known."""
    return [r for r in records if r.get("status") in RANKED
            and all(objective(r, o) is not None for o in objectives)]


def pareto_front(records: list[Record], objectives: Sequence[str] = ("val_error", "gmacs")) -> list[Record]:
    """The non-dominated records, sorted by the second objective then the first."""
    unknown = [o for o in objectives if o not in OBJECTIVES]
    if unknown:
        raise ValueError(f"unknown objective {unknown[0]!r}; use {', '.join(OBJECTIVES)}")
    candidates = ranked(records, objectives)
    front = [r for r in candidates if not any(dominates(o, r, objectives) for o in candidates)]
    order = list(objectives[1:]) + [objectives[0]]
    return sorted(front, key=lambda r: tuple(objective(r, o) for o in order))
