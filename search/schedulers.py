"""Ray Tune schedulers of gespace campaigns.

`AnchoredASHA` is Ray's ASHA that never stops an anchor. `MultiObjectiveSH` is
successive halving over all of a campaign's objectives: at each rung (epochs
grace, grace*eta, ...) it ranks the (point, seed) trials that reached the rung
by non-dominated sorting of (validation error at that epoch, costs) under the
one dominance rule (`search.pareto.dominance`: costs within their tolerance are
equal), errors closer than the seed noise of their difference counting as
equal, then by error within a front; a trial without a finite error ranks last
and is never promoted.

A trial is stopped when it reaches a rung (unless already promoted there);
a promotion continues it later as a new Tune trial that resumes the trainer's
own checkpoint, so no epoch is trained twice. Every promotion is made by
`SuccessiveHalving.promotions`, when a slot frees:

- synchronous (``mosha``): a rung decides once it holds every trial that can
  reach it, and promotes ceil(n/eta) of its n: the promoted set depends on the
  results only, never on their order;
- asynchronous (``moasha``): ASHA on the same ranking: a rung promotes from the
  top of its results so far, at most floor(n/eta) of the n it holds (once it
  holds ``min_results``).

A promoted trial that fails or diverges before a new epoch leaves its rung
(the rung completes; its place is not passed on); one a failure of the machine
interrupted stays awaited, to be retried by ``--resume``. Every decision is
kept (`SuccessiveHalving.decisions`, a campaign's decisions.jsonl).

Anchors (and a calibration cohort) are exempt: they run their whole budget,
outside the halving; their seeds measure the noise that sets the error ties.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from gespace.objectives import DEFAULT_OBJECTIVES, cost_tolerances
from search.contract import TrialSpec, end_status
from search.design import fit_blocked
from search.endings import error_status
from search.pareto import dominance
from search.records import DIVERGED, FAILED, INTERRUPTED, OK, STOPPED
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
                        error_tolerance: float | np.ndarray = 0.0,
                        tolerance: Mapping[str, float] | None = None) -> list[list[Any]]:
    """Non-dominated sorting (`search.pareto.dominance`, errors within ``error_tolerance`` tying:
    a number, or one per pair [n, n] in ``vectors``' order): the first front, then the front of
    what is left, and so on."""
    keys = list(vectors)
    beats = dominance([vectors[k] for k in keys], objectives, error_tolerance, tolerance)
    left = np.ones(len(keys), dtype=bool)
    fronts = []
    while left.any():
        dominated = (beats & left[:, None]).any(0)
        front = left & ~dominated
        front = front if front.any() else left  # a tolerance cycle: what is left ties
        fronts.append([k for k, chosen in zip(keys, front) if chosen])
        left &= ~front
    return fronts


def promotion_order(vectors: dict[Any, Vector], objectives: Sequence[str],
                    error_tolerance: float | np.ndarray = 0.0,
                    tolerance: Mapping[str, float] | None = None) -> list[Any]:
    """Best first: by front, then within a front by error, then costs, then the key (determinism).
    Not by crowding distance: ties widen a front, and crowding would pick its extremes, the
    worst error and the most expensive, first. Vectors without a finite error (NaN, missing)
    rank last, in key order."""
    error = list(objectives).index("val_error") if "val_error" in objectives else 0
    measured = {k: v for k, v in vectors.items() if v[error] is not None and math.isfinite(v[error])}
    keys = list(vectors)
    if np.ndim(error_tolerance) == 2:  # keep the pairs of the measured vectors
        kept = [keys.index(k) for k in measured]
        error_tolerance = np.asarray(error_tolerance)[np.ix_(kept, kept)]
    order = []
    for front in nondominated_fronts(measured, objectives, error_tolerance, tolerance) if measured else []:
        order += sorted(front, key=lambda k: (vectors[k][error], tuple(vectors[k]), str(k)))
    return order + sorted((k for k in keys if k not in measured), key=str)


@dataclass
class Rung:
    epoch: int
    results: dict[Unit, Vector] = field(default_factory=dict)
    promoted: set[Unit] = field(default_factory=set)
    decided: bool = False  # complete, and its promotions made
    ranked: tuple[list[Unit], np.ndarray] | None = None  # the ranking of its results, until one arrives


# How a unit's trial ended, for `SuccessiveHalving.end`: the record statuses of `search.records`.
# Failed, diverged (or, in a replay, a recorded curve that stops) leave the halving for good.
GONE = (FAILED, DIVERGED, "truncated")


class SuccessiveHalving:
    """The bookkeeping of multi-objective successive halving over (point, seed) units (no Tune).

    ``decisions`` keeps every promotion decision (the audit trail a campaign stores and the
    report shows); ``on_decision`` is called with each as it is made.
    """

    def __init__(self, *, max_t: int, grace: int = 1, eta: int = 3, synchronous: bool = True,
                 min_results: int | None = None, objectives: Sequence[str] = DEFAULT_OBJECTIVES,
                 tolerance: Mapping[str, float] | None = None,
                 on_decision: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.max_t, self.eta, self.synchronous = max_t, eta, synchronous
        self.objectives = tuple(objectives)  # what a unit's result vector holds, in order
        self.tolerance = tolerance  # cost tolerances overriding the registry's (a spec's report section)
        self.min_results = min_results if min_results is not None else eta
        self.rungs = [Rung(grace * eta ** k) for k in range(64) if grace * eta ** k < max_t]
        self.units: set[Unit] = set()
        self.exempt: set[Unit] = set()
        self.ended: dict[Unit, int] = {}  # unit -> last epoch trained, while it is not running
        self.gone: set[Unit] = set()  # failed or diverged: never continued, never awaited
        self.interrupted: set[Unit] = set()  # ended by the machine: awaited, retried on --resume
        self.launching = True
        self.decisions: list[dict[str, Any]] = []
        self.on_decision = on_decision

    def restore(self, unit: Unit, results: dict[int, Vector], last_epoch: int, exempt: bool = False,
                status: str | None = None) -> None:
        """A unit of a resumed campaign, from its records: promoted wherever it trained past a rung."""
        self.units.add(unit)
        if exempt:
            self.exempt.add(unit)
        for rung in self.rungs:
            if rung.epoch in results:
                rung.results[unit] = results[rung.epoch]
                rung.ranked = None
                if last_epoch > rung.epoch:
                    rung.promoted.add(unit)
        self.ended[unit] = last_epoch
        if status in GONE:
            self.gone.add(unit)

    def add(self, unit: Unit, exempt: bool = False) -> None:
        """A trial of the unit starts (a new unit, or a promoted one continuing)."""
        self.units.add(unit)
        self.ended.pop(unit, None)
        self.interrupted.discard(unit)
        if exempt:
            self.exempt.add(unit)

    def done_launching(self) -> None:
        """No new unit will be added (continuations aside): the first rung can complete."""
        self.launching = False

    def result(self, unit: Unit, epoch: int, vector: Vector) -> bool:
        """Record a result; False if the unit must stop here (it may be promoted later). A result
        without a finite error stops the unit, ranks last and is never promoted."""
        rung = next((r for r in self.rungs if r.epoch == epoch), None)
        if rung is None:
            return True
        rung.results[unit] = tuple(math.nan if v is None else float(v) for v in vector)
        rung.ranked = None
        return unit in self.exempt or unit in rung.promoted

    def end(self, unit: Unit, epoch: int, status: str = STOPPED) -> None:
        """The unit's trial ended after ``epoch`` with the record ``status``: stopped (at a rung,
        where it may be promoted), ok, failed or diverged (gone), interrupted (awaited: the
        campaign halts and ``--resume`` retries it). A promoted unit that ends without a new epoch
        is gone too: its rung completes without it, and its place is not passed on (the promoted
        set was decided on the rung's results; a later failure says nothing about the others)."""
        promoted_here = any(unit in r.promoted and r.epoch == epoch for r in self.rungs)
        self.ended[unit] = epoch
        if status == INTERRUPTED:
            self.interrupted.add(unit)
        elif status in GONE or (promoted_here and status != OK):
            self.gone.add(unit)

    def _eligible(self, index: int) -> set[Unit]:
        """Units that take part in rung ``index``: all, then the promoted and exempt of the rung below."""
        if index == 0:
            return self.units
        below = self.rungs[index - 1]
        return below.promoted | {u for u in below.results if u in self.exempt}

    def _awaited(self, index: int) -> int:
        """Eligible units without a result here that may still bring one: running, promoted and
        waiting to continue, or interrupted (to be retried). Failed and diverged units are not."""
        rung = self.rungs[index]
        previous = self.rungs[index - 1].epoch if index else None
        return sum(1 for u in self._eligible(index) if u not in rung.results and u not in self.gone
                   and (u not in self.ended or self.ended[u] == previous or u in self.interrupted))

    def complete(self, index: int) -> bool:
        """No unit can still reach rung ``index`` without a result there."""
        ready = self.rungs[index - 1].decided if index else not self.launching
        return ready and self._awaited(index) == 0

    def error_tolerance(self, rung: Rung, units: Sequence[Unit]) -> np.ndarray:
        """Per pair of ``units``, the standard deviation of the difference of their errors at the
        rung from seed noise alone: sqrt(2) times the blocked model's residual SD (`search.design`)
        for two units under one seed, sqrt(2) times the pooled within-point SD for two under
        different seeds (the seed effect is then part of the noise); 0 until the rung holds points
        under several seeds (the anchors, the calibration cohort). From the rung's own results, so a
        complete rung always decides the same way."""
        runs: dict[str, dict[int, float]] = {}
        for (pid, seed), vector in rung.results.items():
            if math.isfinite(vector[0]):
                runs.setdefault(pid, {})[seed] = vector[0]
        across = pooled_noise(list(v.values()) for v in runs.values()).sigma or 0.0
        blocked = fit_blocked(runs) if runs else None
        within = blocked.sigma if blocked is not None and blocked.known else across
        seeds = np.array([seed for _, seed in units])
        same = seeds[:, None] == seeds[None, :]
        return math.sqrt(2) * np.where(same, within, across)

    def _ranking(self, rung: Rung) -> tuple[list[Unit], np.ndarray]:
        """The rung's halving units best first, and their pairs' error tolerances (kept until a
        result arrives: `promotions` asks whenever a slot frees)."""
        if rung.ranked is None:
            units = [u for u in rung.results if u not in self.exempt]
            tolerance = self.error_tolerance(rung, units)
            order = promotion_order({u: rung.results[u] for u in units}, self.objectives, tolerance, self.tolerance)
            index = [units.index(u) for u in order]
            rung.ranked = (order, tolerance[np.ix_(index, index)])
        return rung.ranked

    def _places(self, index: int, results: int) -> int:
        """How many of a rung's halving units go on: ceil(n/eta) once a synchronous rung is complete
        (so a small rung still promotes one); asynchronously floor(n/eta) of the n results so far,
        once there are ``min_results`` (ASHA's rule, which cannot over-promote as results arrive)."""
        if self.synchronous:
            return math.ceil(results / self.eta) if self.complete(index) else 0
        return results // self.eta if results >= self.min_results else 0

    def promotions(self) -> list[Unit]:
        """Units to continue now (stopped at a rung and among its best), highest rung first; marks
        them. Every promotion goes through here, when a slot is free, in both modes."""
        chosen: list[list[Unit]] = []
        for index, rung in enumerate(self.rungs):  # bottom-up: a rung's decision completes the next
            complete = self.complete(index)
            ranking, tolerance = self._ranking(rung)
            places = self._places(index, len(ranking))
            best = [u for u in ranking if math.isfinite(rung.results[u][0])][:places]
            room = max(0, places - len(rung.promoted - self.exempt))
            picked = [u for u in best if u not in rung.promoted and u not in self.gone
                      and self.ended.get(u) == rung.epoch][:room]
            rung.promoted.update(picked)
            if picked or (complete and not rung.decided):
                self._decide(rung, ranking, tolerance, places, picked, complete)
            rung.decided = rung.decided or complete
            chosen.append(picked)
        return [unit for picked in reversed(chosen) for unit in picked]

    def _decide(self, rung: Rung, ranking: list[Unit], tolerance: np.ndarray, places: int, picked: list[Unit],
                complete: bool) -> None:
        """Keep the decision: the ranking with its results, the tolerances, what was promoted and why."""
        across = float(tolerance[~np.eye(len(ranking), dtype=bool)].max(initial=0.0)) if len(ranking) else 0.0
        decision = {
            "rung": rung.epoch, "mode": "synchronous" if self.synchronous else "asynchronous",
            "complete": complete, "results": len(ranking), "places": places,
            "error_tolerance": {"same seed": float(tolerance.min(initial=0.0, where=~np.eye(len(ranking), dtype=bool))
                                                   if len(ranking) > 1 else 0.0), "across seeds": across},
            "cost_tolerance": {o: t for o, t in cost_tolerances(self.tolerance).items() if o in self.objectives[1:]},
            "ranking": [[pid, seed, *(v if math.isfinite(v) else None for v in rung.results[(pid, seed)])]
                        for pid, seed in ranking],
            "promoted": [list(u) for u in picked],
            "unranked": [list(u) for u in ranking if not math.isfinite(rung.results[u][0])],
            "gone": sorted([list(u) for u in rung.promoted & self.gone]),
        }
        self.decisions.append(decision)
        if self.on_decision is not None:
            self.on_decision(decision)


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
        if result.get("epoch") is None:
            return TrialScheduler.CONTINUE
        unit, epoch = self.unit(trial), int(result["epoch"])
        if result.get("val_error") is None:
            # A rung's epoch without an error (diverged or failed there) stops the unit and ranks
            # last; a final report repeating a rung it already holds (a promoted trial that ended at
            # once) changes nothing.
            rung = next((r for r in self.halving.rungs if r.epoch == epoch), None)
            if rung is None or unit in rung.results:
                return TrialScheduler.CONTINUE
        vector = tuple(result.get(o) for o in self.objectives)
        return TrialScheduler.CONTINUE if self.halving.result(unit, epoch, vector) else TrialScheduler.STOP

    def _ended(self, trial: Any, result: dict | None, status: str) -> None:
        last = (result or trial.last_result or {}).get("epoch") or 0
        self.halving.end(self.unit(trial), int(last), status)

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
        self._ended(trial, result, end_status(result or trial.last_result))

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        self._ended(trial, None, error_status(trial))

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        self._ended(trial, None, STOPPED)

    def debug_string(self) -> str:
        mode = "synchronous" if self.halving.synchronous else "asynchronous"
        return f"multi-objective successive halving ({mode}), rungs at {[r.epoch for r in self.halving.rungs]}"
