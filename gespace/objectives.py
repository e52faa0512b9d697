"""What a point can be ranked, bounded and measured from: one registry of objectives.

Every objective is minimised. An objective's value comes from one of three
sources: ``error``, measured by training (noisy: whether two errors tie is a
statistical question, for the caller's statistics to decide); ``cost``, exact
from the point (fvcore's count); ``latency``, timed on a campaign's device.
``tolerance`` is the relative difference within which two costs count as
equal in dominance, in Pareto tables, ``p_front``, the choice of what to
confirm and the schedulers' rankings (a spec's ``report: {cost_tolerance:
{gmacs: 0.02}}`` overrides it). The defaults: 1% for MACs and parameters,
which fvcore counts exactly, but a difference that small is no cost a user
pays (GE changes a ResNet-20's MACs by 0.03-0.5%, below what any timing
resolves); 10% for latency: repeated batch-1 timings of one network (each
the median of 10 runs) vary by 5-8% (coefficient of variation) on an idle
2-core CPU, 8-15% from their 10th to 90th percentile, and by 25-60% while
another thread trains (bench/latency_noise.py), so smaller differences are
not measured ones. The report's reference
point, the spec's constraints, labels, units and formats are read from here
too, never restated.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

ERROR, COST, LATENCY = "error", "cost", "latency"


@dataclass(frozen=True)
class Objective:
    """One objective: its key in records, how it reads, where its value comes from."""

    name: str
    label: str  # an axis or column title
    unit: str  # after a value in a message ("0.041 GMACs")
    source: str  # ERROR, COST or LATENCY
    format: str  # how a value prints in tables and CSV
    reference: str  # what ``report: {reference: {NAME: ...}}`` means, and its default
    tolerance: float = 0.0  # relative: two costs this close count as equal in dominance
    direction: str = "min"

    def show(self, value: float | None) -> str:
        """``value`` in the objective's format; "" for an unknown value."""
        return "" if value is None else format(value, self.format)


OBJECTIVES: dict[str, Objective] = {o.name: o for o in (
    Objective("val_error", "validation error (%)", "", ERROR, ".4f",
              "validation error (a fraction) no point is worse than; default: chance level"),
    Objective("gmacs", "GMACs", "GMACs", COST, ".4f",
              "GMACs no point costs more than; default: the space's largest cost", tolerance=0.01),
    Objective("params_m", "parameters (M)", "M params", COST, ".3f",
              "millions of parameters no point exceeds; default: the space's largest", tolerance=0.01),
    Objective("latency_ms", "latency at batch 1 (ms, on the campaign's device)", "ms at batch 1", LATENCY, ".2f",
              "milliseconds (batch 1) no point takes longer; default: the slowest point the campaign measured",
              tolerance=0.10),
)}
DEFAULT_OBJECTIVES = ("val_error", "gmacs")


def cost_tolerances(overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """Each objective's relative tolerance in dominance: the registry's, save where ``overrides``
    (a spec's ``report.cost_tolerance``) says otherwise; errors have none (their ties are statistical)."""
    overrides = overrides or {}
    return {name: 0.0 if o.source == ERROR else float(overrides.get(name, o.tolerance))
            for name, o in OBJECTIVES.items()}


@dataclass(frozen=True)
class Constraint:
    """A bound a spec's ``constraints:`` section puts on one objective."""

    name: str
    objective: str
    doc: str


CONSTRAINTS: dict[str, Constraint] = {c.name: c for c in (
    Constraint("max_gflops", "gmacs", "largest GMACs (the paper's 'GFLOPs') a point may cost"),
    Constraint("max_params_m", "params_m", "largest parameter count, in millions"),
    Constraint("max_latency_ms", "latency_ms", "largest forward time at batch 1, in milliseconds, as a search "
                                               "campaign measures it on its device"),
)}
