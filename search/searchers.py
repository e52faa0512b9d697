"""Ray Tune searchers over a gespace design space.

`CampaignSearcher` is the one searcher Tune sees. It draws candidate points from
a *source* (the grammar's own random, Sobol or grid sampling, or Optuna's TPE or
NSGA-II through Ray Tune's OptunaSearch with a define-by-run space built from
the grammar), and before any training:
- serves the space's anchors first;
- never trains a point twice: a candidate whose canonical id has a result is
  answered from it (and the source is told), one still running is skipped;
- rejects points that break the spec's constraints, recording why.
"""
from __future__ import annotations

import itertools
import json
from typing import Any, Callable, Iterator

from ray.tune.search import Searcher

from gespace.grammar import Point, Space, point_id
from gespace.grammar.domains import Choice, FloatRange, IntRange
from search import SEARCHERS
from search.pareto import objective
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

    def tell(self, token: str | None, result: dict[str, Any] | None, error: bool = False) -> None:
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

    def tell(self, token: str | None, result: dict[str, Any] | None, error: bool = False) -> None:
        values = None
        if result is not None:
            values = {name: objective(result, name) for name in self.objectives}
            if any(v is None for v in values.values()):
                values = None
        self.searcher.on_trial_complete(token, result=values, error=error and values is None)


class CampaignSearcher(Searcher):
    """Anchors first, no point twice, constraints enforced; see the module docstring."""

    def __init__(self, space: Space, store: CampaignStore, *, method: str, seed: int,
                 objectives: list[str], cost_fn: Callable[[Point], Any],
                 trial_settings: dict[str, Any], overrides: dict[str, Any] | None = None) -> None:
        super().__init__(metric=objectives[0], mode="min")
        if method not in SEARCHERS:
            raise ValueError(f"unknown searcher {method!r}; use {', '.join(SEARCHERS)}")
        self.space = space
        self.store = store
        self.cost_fn = cost_fn
        self.trial_settings = trial_settings
        self.overrides = overrides or {}
        self.source = (_OptunaSource(space, method, seed, objectives) if method in ("tpe", "nsga2")
                       else _GrammarSource(space, method, seed))
        self.finished: dict[str, dict[str, Any]] = store.finished()
        self.running: dict[str, str] = {}  # point id -> Tune trial id
        self.trials: dict[str, tuple[str, str | None]] = {}  # Tune trial id -> (point id, token)
        self.suggested = sum(1 for r in self.finished.values() if r.get("trial_id"))

    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: a campaign resumes from its trials.jsonl (see `run_campaign`)."""

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # the campaign sets its own objectives

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        for _ in range(_MAX_DRAWS):
            candidate = self.source.next()
            if candidate is None:
                return Searcher.FINISHED if not self.running else None
            name, point, token = candidate
            if self.overrides:  # campaign-wide training knobs (--epochs, --subset, --data)
                point = self.space.canonicalise({**point, **self.overrides})
            pid = point_id(point)
            if pid in self.finished:
                self.source.tell(token, self.finished[pid])
                continue
            if pid in self.running:
                self.source.tell(token, None)
                continue
            # Costed here, once (composed from cached parts): the trial gets the figures in
            # its config and spends its slot training, not tracing.
            cost = self.cost_fn(point)
            broken = self.space.constraint_violations(cost) if self.space.constraints else []
            if broken:
                record = rejected_record(pid, name, point, cost, "; ".join(broken))
                self.store.append(record)
                self.finished[pid] = record
                self.source.tell(token, None, error=True)
                continue
            self.running[pid] = trial_id
            self.trials[trial_id] = (pid, token)
            self.suggested += 1
            return {"point": point, "point_id": pid, "name": name, "order": self.suggested,
                    "cost": cost_summary(cost), **self.trial_settings}
        return None

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pid, token = self.trials.pop(trial_id, (None, None))
        if pid is None:
            return
        self.running.pop(pid, None)
        summary = {"status": "failed" if error else (result or {}).get("status", "stopped"),
                   "val_error": (result or {}).get("val_error"),
                   "cost": {"gmacs": (result or {}).get("gmacs"), "params_m": (result or {}).get("params_m")}}
        self.finished[pid] = summary
        self.source.tell(token, None if error else summary, error=error)


def rejected_record(pid: str, name: str | None, point: Point, cost: Any, reason: str) -> dict[str, Any]:
    """The store record of a point refused before training for breaking a constraint."""
    return {"id": pid, "name": name, "point": point, "cost": cost_summary(cost), "status": "rejected",
            "reason": reason, "epochs": [], "val_error": None, "best_val_error": None,
            "test_error": None, "wall_time": 0.0, "seed": None, "trial_id": None}


def cost_summary(cost: Any) -> dict[str, Any]:
    """The cost fields a record keeps: macs, gmacs, params, params_m."""
    return {"macs": cost.macs, "gmacs": cost.gmacs, "params": cost.params, "params_m": cost.params_m}
