"""Hypervolume of a campaign's validated front, and its history over trials and wall time.

The reference point is fixed per space (``report: {reference: ...}`` in the
spec, else chance-level error and the space's largest cost), so hypervolumes of
campaigns on one space compare. Normalised hypervolume divides by the box from
the ideal point (zero error, the space's smallest cost) to the reference: 1
would be a perfect model at the smallest cost the space has. (A GE block adds
under 1% to a network's MACs, so a box from zero cost would squash every
difference.) Latency, measured rather than costed, takes its ideal and default
reference from what the campaign measured. Computed with Optuna's maintained
implementation.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from optuna._hypervolume import compute_hypervolume

from gespace.files import InputError, read_json
from search.latency import OBJECTIVE as LATENCY, LatencyError, measured_range
from search.records import SEARCH, TrialRecord
from search.statistics import campaign_noise, full_budget
from search.store import StoreError

REFERENCE = "reference.json"
# Spaces with at most this many points are costed whole for the default reference; larger ones sampled.
ENUMERATE = 5000
SAMPLES = 1000


def space_bounds(space: Any, objectives: Sequence[str], cache: Path | None = None
                 ) -> tuple[dict[str, float], dict[str, float]]:
    """The space's ideal and reference points, cached in ``cache`` (a campaign's reference.json).

    Ideal: zero error and the space's smallest cost. Reference: declared in the
    spec (``report.reference``), else chance-level error and the space's largest
    cost. Costs over every point when the space has at most ENUMERATE, else over
    SAMPLES Sobol points. Latency is measured, not costed: its ideal and default
    reference are the fastest and slowest point the campaign (``cache``'s
    directory) measured, read afresh each time since it measures more as it goes.
    """
    measured = None
    if LATENCY in objectives:
        measured = measured_range(cache.parent) if cache is not None else None
        if measured is None:
            raise LatencyError(f"{cache.parent if cache is not None else space.name}: no latency measured; "
                               f"the campaign did not use {LATENCY}")
    ideal, reference = _costed_bounds(space, [o for o in objectives if o != LATENCY], cache)
    if measured is not None:
        ideal[LATENCY], reference[LATENCY] = measured[0], space.report.reference.get(LATENCY, measured[1])
    return {o: ideal[o] for o in objectives}, {o: reference[o] for o in objectives}


def _costed_bounds(space: Any, objectives: Sequence[str], cache: Path | None
                   ) -> tuple[dict[str, float], dict[str, float]]:
    """`space_bounds` of val_error and the exact costs."""
    if cache is not None and cache.exists():
        try:
            stored = read_json(cache, "hypervolume reference")
        except InputError as err:
            raise StoreError(f"{err}; delete it to recompute the space's bounds") from None
        if isinstance(stored, dict) and all(o in stored.get("reference", {}) and o in stored.get("ideal", {}) for o in objectives):
            return ({o: stored["ideal"][o] for o in objectives}, {o: stored["reference"][o] for o in objectives})
    reference = dict(space.report.reference)
    if "val_error" not in reference:
        classes = space.anchors()[0][1].get("backbone.num_classes") if space.anchors() else None
        reference["val_error"] = 1 - 1 / (classes or 10)
    ideal = {"val_error": 0.0}
    costs = [o for o in objectives if o != "val_error"]
    if costs:
        from gespace.cost import point_cost

        count = space.count()
        points = (space.enumerate() if isinstance(count, int) and count <= ENUMERATE
                  else space.sample(SAMPLES, seed=0, method="sobol"))
        values = {o: [] for o in costs}
        for point in points:
            cost = point_cost(point)
            for o in costs:
                values[o].append(float(getattr(cost, o)))
        for o in costs:
            ideal[o] = min(values[o])
            reference.setdefault(o, max(values[o]))
    if cache is not None:
        cache.write_text(json.dumps({"ideal": ideal, "reference": reference}, indent=2, sort_keys=True) + "\n")
    return {o: ideal[o] for o in objectives}, {o: reference[o] for o in objectives}


def normalised_hypervolume(points: Sequence[Sequence[float]], reference: Sequence[float],
                           ideal: Sequence[float] | None = None) -> float:
    """Hypervolume dominated by ``points`` up to ``reference``, over the box from ``ideal`` (default:
    the origin) to it: 1 would be a point at the ideal."""
    reference = np.asarray(reference, dtype=float)
    ideal = np.zeros_like(reference) if ideal is None else np.asarray(ideal, dtype=float)
    inside = [p for p in points if np.all(np.asarray(p) < reference)]
    if not inside:
        return 0.0
    volume = float(compute_hypervolume(np.maximum(np.asarray(inside, dtype=float), ideal), reference))
    return volume / float(np.prod(reference - ideal))


@dataclass
class History:
    trials: list[int]  # trials finished
    seconds: list[float]  # wall time since the campaign's first trial started
    hypervolume: list[float]
    # (trials finished, low, high): the 95% band of the hypervolume that the points' mean errors,
    # each within its seed noise, would give; at up to BAND_MARKS of the trials.
    band: list[tuple[int, float, float]] = field(default_factory=list)


BAND_MARKS, BAND_DRAWS = 20, 200


def history(records: Sequence[TrialRecord], objectives: Sequence[str], reference: dict[str, float],
            ideal: dict[str, float] | None = None) -> History:
    """Normalised hypervolume of the front of full-budget mean errors after each finished trial."""
    ordered = sorted((r for r in records if r.phase == SEARCH and r.finished_at is not None),
                     key=lambda r: r.finished_at)
    start = min((r.started_at for r in ordered if r.started_at is not None), default=0.0)
    ref = [reference[o] for o in objectives]
    low = [ideal[o] for o in objectives] if ideal else None
    result = History([], [], [])
    sums: dict[str, list[float]] = {}
    costs: dict[str, tuple[float, ...]] = {}
    sigma = campaign_noise(ordered).sigma
    marks = set(np.linspace(1, len(ordered), min(BAND_MARKS, len(ordered))).round().astype(int).tolist())
    rng = np.random.default_rng(0)
    for index, record in enumerate(ordered, 1):
        if full_budget([record]):
            sums.setdefault(record.id, []).append(record.val_error)
            costs[record.id] = tuple(record.objective(o) for o in objectives[1:])
        points = [(float(np.mean(errors)),) + costs[pid] for pid, errors in sums.items()]
        result.trials.append(index)
        result.seconds.append(record.finished_at - start)
        result.hypervolume.append(normalised_hypervolume(points, ref, low))
        if sigma and index in marks and points:
            spread = sigma / np.sqrt([len(errors) for errors in sums.values()])
            draws = [normalised_hypervolume([(e,) + p[1:] for e, p in zip(means, points)], ref, low)
                     for means in rng.normal([p[0] for p in points], spread, (BAND_DRAWS, len(points)))]
            result.band.append((index, *np.percentile(draws, [2.5, 97.5]).tolist()))
    return result


def replica_band(histories: Sequence[History], confidence: float = 0.95) -> tuple[np.ndarray, ...]:
    """Mean and t interval over replicate campaigns of hypervolume against trials finished."""
    from scipy import stats

    length = min(len(h.trials) for h in histories)
    values = np.array([h.hypervolume[:length] for h in histories])
    mean = values.mean(0)
    if len(histories) < 2:
        return np.arange(1, length + 1), mean, mean, mean
    half = stats.t.ppf(0.5 + confidence / 2, len(histories) - 1) * values.std(0, ddof=1) / math.sqrt(len(histories))
    return np.arange(1, length + 1), mean, mean - half, mean + half
