"""Ray Tune schedulers of gespace campaigns.

`AnchoredASHA` is Ray's ASHA that never stops an anchor. `MultiObjectiveSH` is
successive halving over all of a campaign's objectives: at each rung (epochs
grace, grace*eta, ...) it ranks the (point, seed) trials that reached the rung
by non-dominated sorting of (validation error at that epoch, costs), ties
broken by crowding distance, and continues the best 1/eta of them. Errors
closer than the seed noise at that rung (pooled over the points the rung holds
under several seeds: the anchors, a calibration cohort) count as equal, so
noise does not decide a promotion.

A trial is stopped when it reaches a rung (unless already promoted there);
a promotion continues it later as a new Tune trial that resumes the trainer's
own checkpoint, so no epoch is trained twice. This is how a decision can wait
for results that arrive later, which is what removes launch-order bias:

- synchronous (``mosha``): a rung decides once it holds every trial that can
  reach it; the promoted set depends on the results only, never on their order;
- asynchronous (``moasha``): a rung promotes once it holds ``min_results``
  results (its best 1/eta so far, including trials stopped there earlier), as
  in the original ASHA's promotion rule.

Anchors (and a calibration cohort) are exempt: they run their whole budget,
outside the halving; their seeds measure the noise that sets the tolerance.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from gespace.objectives import DEFAULT_OBJECTIVES
from search.pareto import dominance
from search.contract import TrialSpec
from search.statistics import pooled_noise

Unit = tuple[str, int]  # (point id, seed)
Vector = tuple[float, ...]


class AnchoredASHA(ASHAScheduler):
    """ASHA that never stops an anchor: anchors train their whole budget under every seed.

    The anchors are the campaign's references and its noise gauge (they run
    under several seeds), so their full-budget errors must exist. Their results
    still fill the rungs, so they set the bar other trials are stopped against.
    """

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        action = super().on_trial_result(tune_controller, trial, result)
        return TrialScheduler.CONTINUE if TrialSpec.of(trial.config).exempt else action


def nondominated_fronts(vectors: dict[Any, Vector], objectives: Sequence[str],
                        error_tolerance: float = 0.0) -> list[list[Any]]:
    """Non-dominated sorting (`search.pareto.dominance`, errors within ``error_tolerance`` tying):
    the first front, then the front of what is left, and so on."""
    keys = list(vectors)
    beats = dominance([vectors[k] for k in keys], objectives, error_tolerance)
    left = np.ones(len(keys), dtype=bool)
    fronts = []
    while left.any():
        dominated = (beats & left[:, None]).any(0)
        front = left & ~dominated
        front = front if front.any() else left  # a tolerance cycle: what is left ties
        fronts.append([k for k, chosen in zip(keys, front) if chosen])
        left &= ~front
    return fronts


def crowding_distances(vectors: dict[Any, Vector]) -> dict[Any, float]:
    """NSGA-II's crowding distance within one front (boundary points infinite)."""
    keys = list(vectors)
    distance = {k: 0.0 for k in keys}
    if len(keys) <= 2:
        return {k: math.inf for k in keys}
    for m in range(len(next(iter(vectors.values())))):
        ordered = sorted(keys, key=lambda k: (vectors[k][m], str(k)))
        low, high = vectors[ordered[0]][m], vectors[ordered[-1]][m]
        distance[ordered[0]] = distance[ordered[-1]] = math.inf
        if high > low:
            for before, key, after in zip(ordered, ordered[1:], ordered[2:]):
                distance[key] += (vectors[after][m] - vectors[before][m]) / (high - low)
    return distance


def promotion_order(vectors: dict[Any, Vector], objectives: Sequence[str], error_tolerance: float = 0.0
                    ) -> list[Any]:
    """Best first: by front, then crowding distance (more spread first), then the key (determinism)."""
    order = []
    for front in nondominated_fronts(vectors, objectives, error_tolerance):
        crowding = crowding_distances({k: vectors[k] for k in front})
        order += sorted(front, key=lambda k: (-crowding[k], str(k)))
    return order


@dataclass
class Rung:
    epoch: int
    results: dict[Unit, Vector] = field(default_factory=dict)
    promoted: set[Unit] = field(default_factory=set)
    decided: bool = False  # complete, and its promotions made


class SuccessiveHalving:
    """The bookkeeping of multi-objective successive halving over (point, seed) units (no Tune)."""

    def __init__(self, *, max_t: int, grace: int = 1, eta: int = 3, synchronous: bool = True,
                 min_results: int | None = None, objectives: Sequence[str] = DEFAULT_OBJECTIVES) -> None:
        self.max_t, self.eta, self.synchronous = max_t, eta, synchronous
        self.objectives = tuple(objectives)  # what a unit's result vector holds, in order
        self.min_results = min_results if min_results is not None else eta
        self.rungs = [Rung(grace * eta ** k) for k in range(64) if grace * eta ** k < max_t]
        self.units: set[Unit] = set()
        self.exempt: set[Unit] = set()
        self.ended: dict[Unit, int] = {}  # unit -> last epoch trained, while it is not running
        self.launching = True

    def restore(self, unit: Unit, results: dict[int, Vector], last_epoch: int, exempt: bool = False) -> None:
        """A unit of a resumed campaign, from its records: promoted wherever it trained past a rung."""
        self.units.add(unit)
        if exempt:
            self.exempt.add(unit)
        for rung in self.rungs:
            if rung.epoch in results:
                rung.results[unit] = results[rung.epoch]
                if last_epoch > rung.epoch:
                    rung.promoted.add(unit)
        self.ended[unit] = last_epoch

    def add(self, unit: Unit, exempt: bool = False) -> None:
        """A trial of the unit starts (a new unit, or a promoted one continuing)."""
        self.units.add(unit)
        self.ended.pop(unit, None)
        if exempt:
            self.exempt.add(unit)

    def done_launching(self) -> None:
        """No new unit will be added (continuations aside): the first rung can complete."""
        self.launching = False

    def result(self, unit: Unit, epoch: int, vector: Vector) -> bool:
        """Record a result; False if the unit must stop here (it may be promoted later)."""
        rung = next((r for r in self.rungs if r.epoch == epoch), None)
        if rung is None:
            return True
        rung.results[unit] = vector
        if unit in self.exempt or unit in rung.promoted:
            return True
        if not self.synchronous and unit in self._best(rung):
            rung.promoted.add(unit)
            return True
        return False

    def end(self, unit: Unit, epoch: int) -> None:
        """The unit's trial ended (stopped at a rung, finished, diverged or failed) after ``epoch``."""
        self.ended[unit] = epoch

    def _eligible(self, index: int) -> set[Unit]:
        """Units that take part in rung ``index``: all, then the promoted and exempt of the rung below."""
        if index == 0:
            return self.units
        below = self.rungs[index - 1]
        return below.promoted | {u for u in below.results if u in self.exempt}

    def _awaited(self, index: int) -> int:
        """Eligible units without a result here that may still bring one (running, or promoted and
        waiting to continue)."""
        rung = self.rungs[index]
        previous = self.rungs[index - 1].epoch if index else None
        return sum(1 for u in self._eligible(index) if u not in rung.results
                   and (u not in self.ended or self.ended[u] == previous))

    def complete(self, index: int) -> bool:
        """No unit can still reach rung ``index`` without a result there."""
        ready = self.rungs[index - 1].decided if index else not self.launching
        return ready and self._awaited(index) == 0

    def _best(self, rung: Rung) -> list[Unit]:
        """The best 1/eta of the rung's halving units, once it may decide.

        Exempt units run outside the halving (they neither take nor give places),
        so a third of the searched trials go on whatever the number of anchors.
        """
        index = self.rungs.index(rung)
        results = {u: v for u, v in rung.results.items() if u not in self.exempt}
        if not results:
            return []
        if self.synchronous or len(results) < self.min_results:
            if not self.complete(index):
                return []
        return promotion_order(results, self.objectives, self.noise(rung))[:math.ceil(len(results) / self.eta)]

    @staticmethod
    def noise(rung: Rung) -> float:
        """The seed noise of error at the rung: pooled over its points with several seeds (the
        anchors, the calibration cohort); 0 until there are some. From the rung's own results, so a
        complete rung always decides the same way."""
        by_point: dict[str, list[float]] = {}
        for (pid, _), vector in rung.results.items():
            by_point.setdefault(pid, []).append(vector[0])
        return pooled_noise(by_point.values()).sigma or 0.0

    def promotions(self) -> list[Unit]:
        """Units to continue now (stopped at a rung and among its best), highest rung first; marks them."""
        chosen: list[list[Unit]] = []
        for index, rung in enumerate(self.rungs):  # bottom-up: a rung's decision completes the next
            complete = self.complete(index)
            picked = [u for u in self._best(rung) if u not in rung.promoted and self.ended.get(u) == rung.epoch]
            rung.promoted.update(picked)
            rung.decided = rung.decided or complete
            chosen.append(picked)
        return [unit for picked in reversed(chosen) for unit in picked]


class MultiObjectiveSH(FIFOScheduler):
    """`SuccessiveHalving` as a Ray Tune scheduler (see the module docstring).

    ``objectives``: val_error first, then cost names read from each result. Which trials run
    their whole budget is `search.records.exempt_from_stopping`.
    """

    def __init__(self, halving: SuccessiveHalving, objectives: Sequence[str]) -> None:
        super().__init__()
        self.halving, self.objectives = halving, list(objectives)

    @staticmethod
    def unit(trial: Any) -> Unit:
        return TrialSpec.of(trial.config).unit

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        self.halving.add(self.unit(trial), exempt=TrialSpec.of(trial.config).exempt)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        if result.get("val_error") is None or result.get("epoch") is None:
            return TrialScheduler.CONTINUE
        vector = tuple(float(result[o]) for o in self.objectives)
        go_on = self.halving.result(self.unit(trial), int(result["epoch"]), vector)
        return TrialScheduler.CONTINUE if go_on else TrialScheduler.STOP

    def _ended(self, trial: Any, result: dict | None) -> None:
        last = (result or trial.last_result or {}).get("epoch") or 0
        self.halving.end(self.unit(trial), int(last))

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
        self._ended(trial, result)

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        self._ended(trial, None)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        self._ended(trial, None)

    def debug_string(self) -> str:
        mode = "synchronous" if self.halving.synchronous else "asynchronous"
        return f"multi-objective successive halving ({mode}), rungs at {[r.epoch for r in self.halving.rungs]}"
