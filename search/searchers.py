"""Ray Tune searchers over a gespace design space.

`CampaignSearcher` is the one searcher Tune sees. It draws candidate points from
a *source* (the grammar's own random, Sobol or grid sampling, or Optuna's TPE or
NSGA-II through Ray Tune's OptunaSearch with a define-by-run space built from
the grammar), and before any training:
- serves the space's anchors first;
- trains each chosen point under the seeds of its `SeedPlan` (anchors under
  more, so that every campaign measures its noise), and never a (point, seed)
  twice, also across resumes: a candidate chosen before is answered from its
  results (the source is told their mean);
- rejects points that break the spec's constraints, recording why.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ray.tune.search import Searcher

from gespace.grammar import Point, Space, point_id
from gespace.grammar.domains import Choice, FloatRange, IntRange
from search import SEARCHERS
from search.contract import TrialSettings, TrialSpec, end_status, make_record
from search.records import CONFIRM, DIVERGED, REJECTED, SEARCH, CostFigures, TrialRecord
from search.schedulers import SuccessiveHalving
from search.store import CampaignStore

_MAX_DRAWS = 2000  # candidates examined per suggestion before giving Tune a pause


class _GrammarSource:
    """Anchors, then the grammar's samples (random, sobol) or every point (grid).

    Picklable (Tune saves its searcher): the stream is rebuilt from the seed and
    fast-forwarded to where it was.
    """

    def __init__(self, space: Space, method: str, seed: int) -> None:
        self.space, self.method, self.seed = space, method, seed
        self.position = 0
        self._points: Iterator[tuple[str | None, Point]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_points": None}

    def _stream(self) -> Iterator[tuple[str | None, Point]]:
        anchors = ((name, point) for name, point in self.space.anchors())
        if self.method == "grid":
            rest: Iterator[Point] = self.space.enumerate()
        else:
            rest = self.space.iter_samples(seed=self.seed, method=self.method)
        stream = itertools.chain(anchors, ((None, point) for point in rest))
        return itertools.islice(stream, self.position, None)

    def next(self) -> tuple[str | None, Point, str | None] | None:
        """(anchor name or None, point, source token) or None when exhausted."""
        if self._points is None:
            self._points = self._stream()
        item = next(self._points, None)
        if item is None:
            return None
        self.position += 1
        return item[0], item[1], None

    def tell(self, token: str | None, result: TrialRecord | None, error: bool = False) -> None:
        """Grammar sampling learns nothing from results."""


def _label(value: Any) -> str | int | float | bool:
    """An Optuna-friendly categorical label (lists become their JSON text)."""
    return json.dumps(list(value)) if isinstance(value, tuple) else value


class _OptunaSource:
    """Optuna (TPE or NSGA-II) through Ray Tune's OptunaSearch, define-by-run from the grammar."""

    def __init__(self, space: Space, method: str, seed: int, objectives: list[str]) -> None:
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space = space
        self.objectives = objectives
        self._anchor_names = {point_id(p): name for name, p in space.anchors()}
        if method == "tpe":
            sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)
            metric: Any = objectives[0]
            mode: Any = "min"
        else:
            sampler = optuna.samplers.NSGAIISampler(seed=seed)
            metric, mode = list(objectives), ["min"] * len(objectives)
        self.searcher = OptunaSearch(space=self._define_by_run, metric=metric, mode=mode,
                                     sampler=sampler,
                                     points_to_evaluate=[self._params(p) for _, p in space.anchors()])
        self._asked = 0

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its search algorithm for Tuner.restore, which a campaign never uses (it
        # resumes from its records), so the copy is never asked; Optuna 5's genetic samplers hold
        # a thread lock that cannot be pickled.
        return {**self.__dict__, "searcher": None}

    def _choose(self, trial: Any) -> Callable:
        def choose(key: str, knob: Any, values: Point) -> Any:
            domain = knob.domain
            if isinstance(domain, Choice):
                labels = {_label(v): v for v in domain.options}
                return labels[trial.suggest_categorical(key, list(labels))]
            if isinstance(domain, IntRange):
                return trial.suggest_int(key, domain.low, domain.high, step=domain.step)
            if isinstance(domain, FloatRange):
                return trial.suggest_float(key, domain.low, domain.high, log=domain.log)
            return knob.default if not getattr(domain, "explicit", False) else domain.value
        return choose

    def _define_by_run(self, trial: Any) -> None:
        self.space.resolve(self._choose(trial))

    def _params(self, point: Point) -> dict[str, Any]:
        """The Optuna parameters that reproduce ``point`` (its active, searched knobs)."""
        params = {}
        for key, value in point.items():
            domain = self.space.knobs[key].domain
            if isinstance(domain, Choice):  # the option that normalises to the value ('all' -> stages)
                params[key] = next(_label(o) for o in domain.options
                                   if self.space.normalise(key, o, point) == value)
            elif isinstance(domain, (IntRange, FloatRange)):
                params[key] = value
        return params

    def next(self) -> tuple[str | None, Point, str | None] | None:
        token = f"optuna-{self._asked}"
        self._asked += 1
        params = self.searcher.suggest(token)
        if params is None:
            return None
        point = self.space.resolve(self._replay(params))
        return self._anchor_names.get(point_id(point)), point, token

    def _replay(self, params: dict[str, Any]) -> Callable:
        def choose(key: str, knob: Any, values: Point) -> Any:
            if key not in params:
                return knob.default
            domain = knob.domain
            if isinstance(domain, Choice):
                return {_label(v): v for v in domain.options}[params[key]]
            return params[key]
        return choose

    def tell(self, token: str | None, result: TrialRecord | None, error: bool = False) -> None:
        values = None
        if result is not None:
            values = {name: searcher_value(result, name) for name in self.objectives}
            if any(v is None for v in values.values()):
                values = None
        self.searcher.on_trial_complete(token, result=values, error=error and values is None)


# What a searcher is told of a point that diverged: the worst error, so that a
# model-based searcher steers away from it. Never stored: the record says None.
WORST_ERROR = 1.0


def searcher_value(record: TrialRecord, name: str) -> float | None:
    """An objective as a searcher sees it: measured, or the worst error for a diverged point."""
    if name == "val_error" and record.status == DIVERGED:
        return WORST_ERROR
    return record.objective(name)


class ListSource:
    """A fixed list of (name, point): the confirmation phase's points."""

    def __init__(self, points: list[tuple[str | None, Point]]) -> None:
        self.points = list(points)
        self.position = 0

    def next(self) -> tuple[str | None, Point, str | None] | None:
        if self.position >= len(self.points):
            return None
        name, point = self.points[self.position]
        self.position += 1
        return name, point, None

    def tell(self, token: str | None, result: TrialRecord | None, error: bool = False) -> None:
        """A fixed list learns nothing."""


def make_source(space: Space, method: str, seed: int, objectives: list[str]) -> Any:
    """The candidate source of a search: the grammar's sampling or Optuna's."""
    if method not in SEARCHERS:
        raise ValueError(f"unknown searcher {method!r}; use {', '.join(SEARCHERS)}")
    return (_OptunaSource(space, method, seed, objectives) if method in ("tpe", "nsga2")
            else _GrammarSource(space, method, seed))


# Confirmation seeds start here, so they are fresh: the points were chosen on
# the search's seeds, and re-measuring on those would confirm the noise too.
CONFIRM_SEED_OFFSET = 1000


@dataclass(frozen=True)
class SeedPlan:
    """The seeds a point trains under in one phase; seed i is paired across points."""

    phase: str = SEARCH
    base: int = 0
    anchor_seeds: int = 2
    point_seeds: int = 1

    def seeds(self, anchor: bool, at_least: int = 1) -> list[int]:
        first = self.base + (CONFIRM_SEED_OFFSET if self.phase == CONFIRM else 0)
        return [first + i for i in range(max(at_least, self.anchor_seeds if anchor else self.point_seeds))]


class CampaignSearcher(Searcher):
    """Anchors first, no (point, seed) twice, constraints enforced; see the module docstring.

    ``points`` bounds the distinct points of the phase (anchors included, rejected
    ones not); each chosen point is queued once per seed of ``plan``.
    """

    def __init__(self, space: Space, store: CampaignStore, *, source: Any, plan: SeedPlan, points: int,
                 cost_fn: Callable[[Point], Any], trial_settings: TrialSettings,
                 overrides: dict[str, Any] | None = None, halving: SuccessiveHalving | None = None,
                 rungs: int = 0, calibration: list[tuple[str | None, Point]] | None = None,
                 resume_phase: bool = True) -> None:
        super().__init__(metric=None, mode=None)  # the campaign keeps its own objectives
        self.space, self.store, self.source, self.plan = space, store, source, plan
        # Multi-objective successive halving: promoted (point, seed) trials continue from here.
        self.halving, self.rungs = halving, rungs
        # The calibration cohort comes first, under two seeds at least, and adds to the budget.
        self.calibration = ListSource(calibration or [])
        self.calibration_ids: set[str] = set()
        self.budget = points
        self.cost_fn = cost_fn
        self.trial_settings = trial_settings
        self.overrides = overrides or {}
        self.finished: dict[tuple[str, int | None], TrialRecord] = store.finished()
        self.running: dict[tuple[str, int], str] = {}  # (point id, seed) -> Tune trial id
        self.trials: dict[str, TrialSpec] = {}  # Tune trial id -> what it trains
        self.queue: deque[TrialSpec] = deque()
        self.tokens: dict[str, str | None] = {}  # point id -> its source token, until all seeds end
        self.suggested = sum(1 for r in self.finished.values() if r.trial_id)
        self.rejected = {r.id for r in self.finished.values() if r.status == REJECTED}
        self.points: dict[str, tuple[str | None, Point, dict[str, Any]]] = {}
        # Resumed: points of this phase count and their missing seeds queue, those of trials a
        # failure of the machine interrupted among them (not for a race's round: ``resume_phase``
        # False, as its source names every point the round trains).
        for record in [*self.finished.values(), *store.interrupted()] if resume_phase else []:
            if record.phase == plan.phase and record.status != REJECTED and record.id not in self.points:
                point = space.canonicalise(record.point)  # JSON gave lists for tuples
                self.points[record.id] = (record.name, point, record.cost.known())
                if record.calibration:
                    self.calibration_ids.add(record.id)
        for pid, (name, point, cost) in self.points.items():
            self._enqueue(pid, name, point, cost, None)
        self.budget += sum(1 for name, _ in self.calibration.points if name is None)

    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: a campaign resumes from its trials.jsonl (see `run_campaign`)."""

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # the campaign sets its own objectives

    def trials_left(self) -> int:
        """An upper bound on the Tune trials this searcher will still suggest."""
        most = max(self.plan.anchor_seeds, self.plan.point_seeds)
        new = len(self.queue) + max(0, self.budget - len(self.points)) * most
        return new * (1 + self.rungs) + len(self.points) * most * self.rungs  # + continuations

    def pending_trials(self) -> int:
        """Trials not yet started that the phase will surely run (promotions may add some)."""
        return len(self.queue) + max(0, self.budget - len(self.points)) * self.plan.point_seeds

    def _enqueue(self, pid: str, name: str | None, point: Point, cost: dict[str, Any],
                 token: str | None) -> bool:
        """Queue the seeds of a point that are neither done nor under way; False if none."""
        queued = {spec.unit for spec in self.queue}
        calibration = pid in self.calibration_ids
        seeds = self.plan.seeds(anchor=name is not None, at_least=2 if calibration else 1)
        seeds = [s for s in seeds
                 if (pid, s) not in self.finished and (pid, s) not in self.running and (pid, s) not in queued]
        for seed in seeds:
            self.queue.append(TrialSpec(point, seed, self.plan.phase, self.trial_settings, name=name, cost=cost,
                                        calibration=calibration))
        if seeds:
            self.tokens[pid] = token
        return bool(seeds)

    def _results(self, pid: str) -> TrialRecord | None:
        """A point's result for its source: its mean measured error over the seeds that ended."""
        records = [r for (p, _), r in self.finished.items() if p == pid and r.phase == self.plan.phase]
        measured = [r for r in records if r.measured]
        if not measured:
            return records[0] if records else None
        mean = sum(r.val_error for r in measured) / len(measured)
        return dataclasses.replace(measured[0], val_error=mean)

    def _continue(self, unit: tuple[str, int]) -> None:
        """Queue a promoted (point, seed) first: its trial resumes the trainer's checkpoint."""
        del self.finished[unit]
        name, point, cost = self.points[unit[0]]
        self.queue.appendleft(TrialSpec(point, unit[1], self.plan.phase, self.trial_settings, name=name, cost=cost,
                                        calibration=unit[0] in self.calibration_ids, continued=True))

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        for _ in range(_MAX_DRAWS):
            if self.halving is not None:
                if not self.queue and len(self.points) >= self.budget:
                    self.halving.done_launching()
                for unit in reversed(self.halving.promotions()):
                    self._continue(unit)
            if self.queue:
                spec = self.queue.popleft()
                self.running[spec.unit] = trial_id
                self.trials[trial_id] = spec
                self.suggested += 1
                return spec.config(order=self.suggested)
            if len(self.points) >= self.budget:
                # Promotions may still come from trials under way (successive halving).
                return None if self.halving is not None and self.running else Searcher.FINISHED
            calibrating = self.calibration.next()
            candidate = calibrating or self.source.next()
            if candidate is None:  # the space is exhausted
                self.budget = len(self.points)
                continue
            name, point, token = candidate
            # Campaign-wide training knobs (--epochs, --subset, --data) are part of the point: the
            # space makes the campaign's point (a source's is canonical already).
            if self.overrides:
                point = self.space.canonicalise({**point, **self.overrides})
            pid = point.id
            if pid in self.rejected:
                self.source.tell(token, None, error=True)
                continue
            if pid in self.points:  # chosen before: answered from what it has
                if calibrating:  # a resumed campaign's cohort: its missing seeds are queued already
                    continue
                self.source.tell(token, self._results(pid))
                continue
            # Costed here, once (composed from cached parts; latency, where the campaign uses it,
            # timed once per architecture): the trial gets the figures in its config and spends
            # its slot training, not tracing.
            cost = self.cost_fn(point)
            broken = self.space.constraint_violations(cost) if self.space.constraints else []
            if broken:
                record = TrialRecord(id=pid, status=REJECTED, point=point, name=name, cost=CostFigures.of(cost),
                                     reason="; ".join(broken), budget=point.get("train.epochs"),
                                     phase=self.plan.phase)
                self.store.append(record)
                self.finished[record.unit] = record
                self.rejected.add(pid)
                self.source.tell(token, None, error=True)
                continue
            summary = CostFigures.of(cost).known()
            self.points[pid] = (name, point, summary)
            if calibrating:
                self.calibration_ids.add(pid)
            if not self._enqueue(pid, name, point, summary, token):
                self.source.tell(token, self._results(pid))
        return None

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        spec = self.trials.pop(trial_id, None)
        if spec is None:
            return
        self.running.pop(spec.unit, None)
        self.finished[spec.unit] = make_record(spec, result, status=end_status(result, error), trial_id=trial_id)
        pid = spec.id
        under_way = any(p == pid for p, _ in self.running) or any(queued.id == pid for queued in self.queue)
        if not under_way and pid in self.tokens:
            self.source.tell(self.tokens.pop(pid), self._results(pid), error=error)
