"""Run a search campaign over a design space on Ray Tune, on this machine or a Ray cluster."""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from ray.tune import Callback, Stopper
from rich.console import Console
from rich.live import Live

from gespace.files import read_json
from gespace.grammar import PointError, load_space, point_id
from search import SCHEDULERS, SEARCHERS
from search.latency import campaign_cost
from search.progress import CampaignState, Running, plain_line, render
from search.endings import error_reason, lines, machine_cause
from search.contract import TrialSettings, TrialSpec, make_record
from search.records import CONFIRM, FAILED, INTERRUPTED, OK, SEARCH
from search.ablation import one_knob_changes
from search.schedulers import SuccessiveHalving
from search.settings import CampaignSettings
from search.racing import RACE_SEED, RaceSettings, RaceState, race, race_rules
from search.searchers import CONFIRM_SEED_OFFSET, CampaignSearcher, ListSource, SeedPlan, make_source
from search.statistics import campaign_noise, summarise, with_p_front
from search.store import SETTINGS, TORN, CampaignStore, StoreError, write_json
from search.trial import trial_threads


ETA = 3  # successive halving keeps a third of a rung's trials


class CampaignError(Exception):
    """A campaign that cannot start (one line for the user)."""


class CampaignHalted(Exception):
    """A failure of the machine stopped the campaign (one line: the cause, where, how to go on)."""


def _headline(error: BaseException) -> str:
    """The first line of a Ray error's message: its summary (the last lines are details)."""
    return (lines(str(error)) or [type(error).__name__])[0]


class CampaignCallback(Callback):
    """Appends a record per finished trial to the store and shows the campaign's progress: a live
    table on a terminal, a plain line at most every ``LOG_INTERVAL`` seconds (and per finished
    trial) in a log.

    A trial that a failure of the machine ended is recorded ``interrupted`` and halts the phase
    (``halted`` says why; `HaltOnMachineFailure` stops Tune): every later trial would meet it
    too. Trials that Tune then stops before their last epoch are interrupted as well.
    """

    LOG_INTERVAL = 60.0

    def __init__(self, store: CampaignStore, settings: CampaignSettings, progress: bool,
                 phase: str = SEARCH, trials_left: Callable[[], int] = int) -> None:
        self.store, self.settings, self.progress, self.phase = store, settings, progress, phase
        self.trials_left = trials_left
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.started = time.time()
        self.logged = 0.0
        self.live: Live | None = None
        self.halted: str | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its callbacks (the copy is never used): not the live view nor the searcher.
        return {**self.__dict__, "live": None, "trials_left": int}

    def setup(self, **info: Any) -> None:
        if self.progress and sys.stdout.isatty():
            self.live = Live(render(self.state([])), console=Console(), refresh_per_second=2)
            self.live.start()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self.history.setdefault(trial.trial_id, []).append(result)
        self.refresh(trials)

    def _append(self, trial: Any, status: str | None = None, reason: str | None = None) -> None:
        spec = TrialSpec.of(trial.config)
        previous = self.store.finished().get(spec.unit) if spec.continued else None
        self.store.append(make_record(spec, trial.last_result, self.history.pop(trial.trial_id, []), status=status,
                                      reason=reason, previous=previous, trial_id=trial.trial_id))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if self.halted and (trial.last_result or {}).get("status") in (None, "running"):
            self._append(trial, INTERRUPTED, f"stopped when the campaign halted: {self.halted}")
        else:
            self._append(trial)
        self.refresh(trials, finished=True)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        cause = machine_cause(trial)
        if cause:
            self._append(trial, INTERRUPTED, cause)
            self.halted = self.halted or f"{cause} (trial {_unit_name(TrialSpec.of(trial.config))})"
        else:
            self._append(trial, FAILED, error_reason(trial))
        self.refresh(trials, finished=True)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if self.live:
            self.live.update(render(self.state(trials)))
            self.live.stop()
        elif self.progress:
            print(plain_line(self.state(trials)), flush=True)

    def refresh(self, trials: list, finished: bool = False) -> None:
        if self.live:
            self.live.update(render(self.state(trials)))
        elif self.progress and (finished or time.time() - self.logged >= self.LOG_INTERVAL):
            self.logged = time.time()
            print(plain_line(self.state(trials)), flush=True)

    def state(self, trials: list) -> CampaignState:
        running = [Running.of(t) for t in trials if t.status == "RUNNING"]
        return CampaignState(self.settings.name, self.phase, time.time() - self.started,
                             [r for r in self.store.latest() if r.phase == self.phase], running,
                             self.trials_left(), self.settings.max_concurrent or 1,
                             tuple(self.settings.objectives))


class HaltOnMachineFailure(Stopper):
    """Stops every trial once the campaign's callback has met a failure of the machine."""

    def __init__(self, callback: CampaignCallback) -> None:
        self.callback = callback

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.callback.halted is not None


def _unit_name(spec: TrialSpec) -> str:
    return f"{spec.id}-s{spec.seed}"


def _trial_dirname(trial: Any) -> str:
    return f"{_unit_name(TrialSpec.of(trial.config))}-{trial.trial_id}"


RAY_LOG = "ray.log"  # what Ray and Tune say during a campaign: never on the user's terminal


@contextlib.contextmanager
def ray_output_to(path: Path) -> Iterator[None]:
    """Ray's and Tune's messages go to ``path`` while the campaign runs, not to the terminal: the
    ``ray`` loggers' records, and what Ray's C++ core and the processes it starts write to the
    standard error (gespace's own messages are on the standard output, and a command's one-line
    error is printed after this ends)."""
    logger = logging.getLogger("ray")
    handlers, propagate = list(logger.handlers), logger.propagate
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path, "a") as log:
            os.dup2(log.fileno(), 2)
        for old in handlers:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.propagate = False
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        logger.removeHandler(handler)
        handler.close()
        for old in handlers:
            logger.addHandler(old)
        logger.propagate = propagate


def connect_ray(address: str | None, cpus: float | None = None) -> bool:
    """Start Ray on loopback (no address) or join a cluster; True if this process started it.

    A cluster is joined with its own authentication: ``RAY_AUTH_MODE`` where the
    user sets it, else without a token first (a driver holding a token that the
    cluster does not use connects, yet none of its trials ever starts) and with
    one where the cluster refuses that.
    """
    import ray

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: Tune prints nothing; gespace reports
    # A trial that diverged or failed reports no val_error (it measured none); Tune's
    # strict check would call that an error, and the schedulers skip such a result.
    os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")
    # The records, trials/*/result.json and CAMPAIGN/tensorboard hold every figure; Tune's own CSV,
    # JSON and TensorBoard loggers would repeat them in ray-*/ (and warn about the final history).
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    if ray.is_initialized():
        return False
    if address:
        if "RAY_AUTH_MODE" not in os.environ:
            _follow_cluster_authentication(address)
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError) as error:
            raise CampaignError(f"cannot join the Ray cluster at {address}: {_headline(error)}") from None
        return False
    # address="local" never joins a cluster named in a stale Ray address file.
    ray.init(address="local", num_cpus=int(cpus) if cpus else None, include_dashboard=False,
             log_to_driver=False, configure_logging=False)
    return True


def _follow_cluster_authentication(address: str) -> None:
    """Set ``RAY_AUTH_MODE`` to what the cluster at ``address`` uses: its GCS refuses one call
    without a token where it wants one. (A driver that holds a token the cluster does not use
    joins it, yet none of its trials ever starts; one without the token the cluster wants is
    refused after 20 s of retries.)"""
    from ray._private.services import canonicalize_bootstrap_address
    from ray._raylet import Config, GcsClient
    from ray.exceptions import AuthenticationError

    if address.startswith("ray://"):  # Ray Client: no GCS to ask; Ray's own default applies
        return
    try:  # 'auto': the cluster `ray start` recorded on this machine
        gcs = canonicalize_bootstrap_address(address) if address == "auto" else address
    except Exception as error:
        raise CampaignError(f"cannot find the Ray cluster at {address}: {_headline(error)}") from None
    if gcs is None:
        raise CampaignError(f"no Ray cluster found for --address {address} (start one with `ray start --head`)")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    Config.initialize("")  # Ray caches the mode in its config: read it again
    try:
        GcsClient(address=gcs).cluster_id
    except AuthenticationError:
        os.environ["RAY_AUTH_MODE"] = "token"
        Config.initialize("")
    except Exception as error:  # nothing answers there
        raise CampaignError(f"cannot reach the Ray cluster at {address}: {_headline(error)}") from None


def run_campaign(settings: CampaignSettings, *, resume: bool = False, address: str | None = None,
                 progress: bool = True, console: Console | None = None) -> CampaignStore:
    """Run (or continue, with ``resume``) a campaign; returns its store.

    One driver per campaign directory: a second is refused (`CampaignError`)
    while the first runs, and a torn last record of a killed one is set aside.
    """
    console = console or Console()
    store = CampaignStore(settings.directory)
    try:
        with store.lock():
            torn = store.repair()
            if torn:
                console.print(f"campaign {settings.name}: the last record of {store.trials_path} was torn "
                              f"by an interrupted write; its {torn} bytes were moved to {TORN}")
            return _run_locked(store, settings, resume=resume, address=address, progress=progress,
                               console=console)
    except StoreError as error:
        raise CampaignError(str(error)) from None
    except OSError as error:  # storage that cannot be written: a file, a read-only mount, ...
        raise CampaignError(f"{error.filename or store.directory}: {error.strerror}") from None


def _stored_settings(store: CampaignStore) -> CampaignSettings:
    try:
        # Campaigns from before seeds trained each anchor once.
        return CampaignSettings(**{"anchor_seeds": 1, **store.settings()})
    except TypeError as error:  # keys this gespace does not know
        raise CampaignError(f"{store.directory / SETTINGS}: not campaign settings ({error})") from None


def _run_locked(store: CampaignStore, settings: CampaignSettings, *, resume: bool, address: str | None,
                progress: bool, console: Console) -> CampaignStore:
    resume = resume and store.exists()  # nothing to resume yet: start it
    if resume:
        # A resume may widen the campaign (more points, a confirmation), never change how it ran.
        stored = _stored_settings(store)
        stored.num_samples = max(stored.num_samples, settings.num_samples)
        if store.confirmation() is None:
            stored.confirm = max(stored.confirm, settings.confirm)
        if settings.race and not stored.race:  # race a campaign's confirmation onward
            stored.race, stored.race_delta = True, settings.race_delta
        if stored.race:  # a race may get more runs, never another margin, and other rounds only before it looks
            if settings.race_rounds not in (None, stored.race_rounds):
                if _race_state(store, stored, load_space(store.spec_path)).looks:
                    raise CampaignError(f"campaign {store.directory}: its race has looked already, so its "
                                        f"{stored.race_rounds or RaceSettings.rounds} declared rounds stay (other "
                                        "rounds would re-judge what it settled); --race-budget may grow")
                stored.race_rounds = settings.race_rounds
            stored.race_budget = (None if settings.race_budget is None or stored.race_budget is None
                                  else max(stored.race_budget, settings.race_budget))
            stored.race_hours = (None if settings.race_hours is None or stored.race_hours is None
                                 else max(stored.race_hours, settings.race_hours))
        if stored != _stored_settings(store):
            store.update_settings(asdict(stored))
        settings = stored
    elif store.exists():
        raise CampaignError(f"campaign {store.directory} exists: add --resume to continue it, "
                            "or give another --name")
    if settings.searcher not in SEARCHERS:
        raise CampaignError(f"unknown searcher {settings.searcher!r}; use {', '.join(SEARCHERS)}")
    if settings.scheduler not in SCHEDULERS:
        raise CampaignError(f"unknown scheduler {settings.scheduler!r}; use {', '.join(SCHEDULERS)}")
    space = load_space(store.spec_path if resume else settings.spec)
    if settings.searcher == "ablation":
        ablation_points(space, settings)  # a malformed ablation stops here, before anything starts
    if settings.prefilter:
        _check_prefilter(settings)
    # Before anything starts: an unusable latency cache or device ends the campaign in one line.
    cost_fn = campaign_cost(space, settings.objectives, store.directory, settings.device,
                            trial_threads(settings.cpus_per_trial))
    if not resume:
        store.create(settings.spec, asdict(settings))

    with ray_output_to(store.directory / RAY_LOG):
        started_ray = connect_ray(address, cpus=None)
        try:
            _run_phases(store, settings, space, cost_fn, progress, console)
        except CampaignHalted as halted:
            where = f" on the Ray cluster at {address}" if address else ""
            raise CampaignHalted(f"campaign {store.directory}{where} stopped: {halted}; the finished "
                                 "trials are kept: fix the cause, then run again with --resume to train "
                                 "the interrupted ones") from None
        finally:
            if started_ray:
                import ray
                ray.shutdown()
    return store


def _run_phases(store: CampaignStore, settings: CampaignSettings, space: Any, cost_fn: Any, progress: bool,
                console: Console) -> None:
    """The campaign's phases: calibration cohort (for --grace auto), search, confirmation (or race)."""
    if settings.race:
        race_settings(settings, space)  # a race without a margin stops here, before any training
    common = {"cost_fn": cost_fn, "overrides": settings.overrides(),
              "trial_settings": TrialSettings(str(store.directory), settings.data_root, settings.device,
                                              settings.cpus_per_trial)}
    plan = SeedPlan(SEARCH, settings.seed, settings.anchor_seeds, settings.seeds)
    calibration = _calibration_points(space, settings)
    if calibration and (settings.grace == "auto" or settings.prefilter):  # the cohort first: it rates fidelities
        cohort = CampaignSearcher(space, store, source=ListSource([]), plan=plan, points=0,
                                  calibration=calibration, **common)
        _fit(cohort, None, settings, store, progress, console)
    if settings.searcher == "ablation":
        if settings.race:  # each change against the anchor, a seed a round until it is settled
            _race(store, settings, space, common, progress, console)
            return
        points = ablation_points(space, settings)
        plan = SeedPlan(SEARCH, settings.seed, settings.seeds, settings.seeds)  # every point under the same seeds
        searcher = CampaignSearcher(space, store, source=ListSource(points), plan=plan, points=len(points), **common)
        _fit(searcher, None, settings, store, progress, console)
        return
    if store.confirmation() is None:  # once the confirmation is chosen, the search is over
        grace = _grace(settings, store, space)
        scheduler, halving = _scheduler(settings, space, store, grace)
        source, points = make_source(space, settings.searcher, settings.seed, list(settings.objectives)), settings.num_samples
        chosen = prefilter_points(store, space, settings, console) if settings.prefilter else None
        if chosen is not None:
            source, points = ListSource(chosen), len(chosen)
        searcher = CampaignSearcher(space, store, source=source, plan=plan, points=points,
                                    halving=halving, rungs=len(halving.rungs) if halving else 0,
                                    calibration=calibration, **common)
        repeated_anchors = len(space.anchors()) if settings.anchor_seeds < settings.confirm_seeds else 0
        confirmation = (repeated_anchors + settings.confirm) * settings.confirm_seeds if settings.confirm else 0
        _fit(searcher, scheduler, settings, store, progress, console, later=0 if settings.race else confirmation)
    if settings.calibrate:  # the cohort's proxies, for the report's calibration (search.proxies)
        from gespace.data import DataError
        from search.proxies import cohort_scores

        try:
            cohort_scores(store.directory, store.latest(), space, settings.data_root)
        except (DataError, ValueError, RuntimeError) as error:  # the campaign's runs stand without them
            console.print(f"campaign {settings.name}: zero-cost proxies not scored: {error}", markup=False)
    if settings.race:
        _race(store, settings, space, common, progress, console)
    elif settings.confirm:
        points = _confirmation_points(store, space, settings)
        plan = SeedPlan(CONFIRM, settings.seed, settings.confirm_seeds, settings.confirm_seeds)
        searcher = CampaignSearcher(space, store, source=ListSource(points), plan=plan,
                                    points=len(points), **common)
        _fit(searcher, None, settings, store, progress, console)


PREFILTER = "prefilter.json"  # the prefilter's choice, made once: a resumed campaign trains the same points


def _check_prefilter(settings: CampaignSettings) -> None:
    from search.calibration import MIN_POINTS
    from search.proxies import parse_prefilter

    try:
        parse_prefilter(settings.prefilter)
    except ValueError as error:
        raise CampaignError(str(error)) from None
    if settings.calibrate < MIN_POINTS:
        raise CampaignError(f"--prefilter needs --calibrate N ({MIN_POINTS} or more): the cohort that says whether "
                            "the proxy ranks designs well enough to trust")
    if settings.searcher not in ("random", "sobol"):
        raise CampaignError(f"--prefilter draws its candidates up front: use --searcher random or sobol, not "
                            f"{settings.searcher}")


def prefilter_points(store: CampaignStore, space: Any, settings: CampaignSettings, console: Console
                     ) -> list[tuple[str | None, dict[str, Any]]] | None:
    """``--prefilter PROXY:K`` (`search.proxies`): the anchors and the K of the search's sampled
    points the proxy scores best, if the calibration cohort trusts the proxy; else None (it says
    why), and every sampled point is trained. Chosen once (``prefilter.json``)."""
    from search.calibration import TRUSTED
    from search.proxies import cohort_scores, parse_prefilter, prefiltered, rate_proxies, score_points

    path = store.directory / PREFILTER
    if path.exists():
        saved = read_json(path, "prefilter choice")
        return [(item["name"], space.canonicalise(item["point"])) for item in saved["chosen"]] if saved["trusted"] else None
    name, count = parse_prefilter(settings.prefilter)
    cohort = [r for r in store.latest() if r.calibration]
    scores = cohort_scores(store.directory, cohort, space, settings.data_root)
    rating = rate_proxies(cohort, {name: scores.get(name, {})})
    if rating is None or not rating.trusted(name):
        how = ("the cohort has too few points under two seeds" if rating is None else
               f"Spearman {rating.proxies[name].spearman:.2f}, interval {rating.proxies[name].spearman_interval[0]:.2f} "
               f"to {rating.proxies[name].spearman_interval[1]:.2f}, must clear {TRUSTED}")
        console.print(f"campaign {settings.name}: --prefilter {name}: not trusted by the calibration cohort ({how}); "
                      "every sampled point is trained", markup=False)
        write_json(path, {"proxy": name, "count": count, "trusted": False, "chosen": []})
        return None
    overrides = settings.overrides()
    anchors = [(n, space.canonicalise({**p, **overrides})) for n, p in space.anchors()]
    taken = {point_id(p) for _, p in anchors}
    candidates: list[tuple[str, dict[str, Any]]] = []
    for point in space.iter_samples(seed=settings.seed, method=settings.searcher):
        if len(candidates) >= settings.num_samples - len(anchors):
            break
        point = space.canonicalise({**point, **overrides})
        if point_id(point) not in taken:
            taken.add(point_id(point))
            candidates.append((point_id(point), point))
    scores = score_points({(pid, settings.seed): p for pid, p in candidates}, [name], settings.data_root)[name]
    kept = set(prefiltered(candidates, {pid: scores[(pid, settings.seed)] for pid, _ in candidates}, count))
    chosen = anchors + [(None, p) for pid, p in candidates if pid in kept]
    console.print(f"campaign {settings.name}: --prefilter {name}: trusted (Spearman "
                  f"{rating.proxies[name].spearman:.2f}); training the {len(kept)} of {len(candidates)} sampled "
                  "points it scores best", markup=False)
    write_json(path, {"proxy": name, "count": count, "trusted": True,
                      "chosen": [{"name": n, "point": dict(p)} for n, p in chosen]})
    return chosen


def ablation_points(space: Any, settings: CampaignSettings) -> list[tuple[str | None, dict[str, Any]]]:
    """An ablation's points (`search.ablation`): the anchor ``--around``, then each one-knob change,
    named when it is another of the spec's anchors; `CampaignError` (one line) when the ablation
    cannot run as asked."""
    if not settings.around:
        raise CampaignError("--searcher ablation needs --around ANCHOR: the anchor whose one-knob changes it trains")
    if settings.seeds < 2 and not settings.race:
        raise CampaignError("--searcher ablation needs --seeds 2 or more (or --race): each change is judged against "
                            "the anchor under the same seeds (3 resolve about twice the difference 2 do)")
    if settings.scheduler != "none" or settings.confirm:
        raise CampaignError("--searcher ablation trains every point to the full budget: it takes no --scheduler "
                            "but none and no --confirm")
    try:
        changes = one_knob_changes(space, settings.around, settings.knobs, settings.overrides())
    except PointError as error:
        raise CampaignError(f"{settings.spec}: {error}") from None
    overrides = settings.overrides()
    names = {point_id(space.canonicalise({**p, **overrides})): name for name, p in space.anchors()}
    points = [space.canonicalise({**space.anchor(settings.around), **overrides})] + [
        space.canonicalise(c.point) for c in changes]
    return [(settings.around if k == 0 else names.get(point_id(p)), p) for k, p in enumerate(points)]


def race_settings(settings: CampaignSettings, space: Any) -> RaceSettings:
    """The race's settings: its margin from --race-delta, else the spec's report.equivalence_pp."""
    try:
        return race_rules(settings.race_delta, space.report.equivalence_pp, settings.race_rounds, settings.race_budget,
                          settings.race_hours, settings.cpus_per_trial)
    except ValueError as error:
        raise CampaignError(str(error)) from None


def race_points(store: CampaignStore, space: Any, settings: CampaignSettings
                ) -> dict[str, tuple[str | None, dict[str, Any]]]:
    """The race's points by id: every anchor, and the search points the confirmation chose."""
    chosen = [(None, point) for name, point in _confirmation_points(store, space, settings) if not name]
    anchors = [(name, space.canonicalise({**point, **settings.overrides()})) for name, point in space.anchors()]
    return {point_id(point): (name, point) for name, point in anchors + chosen}


def _race_entries(store: CampaignStore, space: Any, settings: CampaignSettings
                  ) -> tuple[dict[str, tuple[str | None, dict[str, Any]]], str | None]:
    """The race's points by id and its control: an ablation's changes against its anchor, else the
    confirmation's points racing for the front (no control)."""
    if settings.searcher == "ablation":
        points = ablation_points(space, settings)
        return {point_id(p): (name, p) for name, p in points}, point_id(points[0][1])
    return race_points(store, space, settings), None


def _race_state(store: CampaignStore, settings: CampaignSettings, space: Any,
                entries: Mapping[str, Any] | None = None, control: str | None = None) -> RaceState:
    """Where the campaign's race stands, from its records. Without ``entries`` (the race's points)
    a race with no run yet is taken as not begun: its points are chosen when it begins."""
    records = store.latest()
    if entries is None:
        if not any(r.seed is not None and r.seed >= RACE_SEED for r in records):
            return RaceState({}, [], [], None, 0)
        entries, control = _race_entries(store, space, settings)
    costs = {} if control else {pid: {o: next(r for r in records if r.id == pid).objective(o)
                                      for o in settings.objectives[1:]} for pid in entries}
    return race(list(entries), costs, records, race_settings(settings, space), space.report.cost_tolerance or None,
                control=control)


def _race(store: CampaignStore, settings: CampaignSettings, space: Any, common: dict[str, Any], progress: bool,
          console: Console) -> None:
    """Race the confirmation, or an ablation against its anchor (`search.racing`): a round at a
    time, each a phase of its own units."""
    entries, control = _race_entries(store, space, settings)
    while True:
        state = _race_state(store, settings, space, entries, control)
        if not state.next_units:
            return
        seed = state.next_units[0][1]
        points = [entries[pid] for pid, _ in state.next_units]
        # The round's one seed, for every point: an ablation's rounds are its search, a confirmation's its own.
        plan = SeedPlan(SEARCH, seed, 1, 1) if control else SeedPlan(CONFIRM, seed - CONFIRM_SEED_OFFSET, 1, 1)
        searcher = CampaignSearcher(space, store, source=ListSource(points), plan=plan, points=len(points),
                                    resume_phase=False, **common)
        _fit(searcher, None, settings, store, progress, console)


def max_epochs(settings: CampaignSettings, space: Any) -> int:
    """The full budget of the campaign's points, in epochs."""
    epoch_values = space.knobs["train.epochs"].domain.values() or [space.knobs["train.epochs"].default]
    return settings.epochs or max(epoch_values)


def _scheduler(settings: CampaignSettings, space: Any, store: CampaignStore, grace: int
               ) -> tuple[Any, SuccessiveHalving | None]:
    """The search phase's early-stopping scheduler (None: every trial runs its whole budget), and
    the successive-halving state a multi-objective one shares with the searcher."""
    budget = max_epochs(settings, space)
    if settings.scheduler == "none" or grace >= budget:
        return None, None
    if settings.scheduler == "asha":
        from search.schedulers import AnchoredASHA

        return AnchoredASHA(time_attr="epoch", metric="val_error", mode="min", max_t=budget,
                            grace_period=grace, reduction_factor=ETA), None
    from search.schedulers import MultiObjectiveSH

    halving = SuccessiveHalving(max_t=budget, grace=grace, eta=ETA, synchronous=settings.scheduler == "mosha",
                                min_results=settings.min_results, objectives=settings.objectives,
                                tolerance=space.report.cost_tolerance or None, on_decision=store.append_decision)
    for record in store.latest():  # a resumed campaign's trials, as the rungs saw them
        if record.phase == SEARCH and record.epochs and record.seed is not None:
            results = {e["epoch"]: (e["val_error"],) + tuple(record.objective(o) for o in settings.objectives[1:])
                       for e in record.epochs if e.get("val_error") is not None}
            halving.restore(record.unit, results, record.epochs_done, exempt=record.exempt, status=record.status)
    return MultiObjectiveSH(halving, settings.objectives), halving


def _calibration_points(space: Any, settings: CampaignSettings) -> list[tuple[str | None, dict[str, Any]]]:
    """The calibration cohort: the anchors, then Sobol points (stratified over every knob) up to
    ``settings.calibrate`` distinct points."""
    if not settings.calibrate:
        return []
    overrides = settings.overrides()
    chosen = {point_id(p): (name, p) for name, p in
              ((name, space.canonicalise({**point, **overrides})) for name, point in space.anchors())}
    for point in space.iter_samples(seed=settings.seed, method="sobol"):
        if len(chosen) >= settings.calibrate:
            break
        point = space.canonicalise({**point, **overrides})
        chosen.setdefault(point_id(point), (None, point))
    return list(chosen.values())


def _grace(settings: CampaignSettings, store: CampaignStore, space: Any) -> int:
    """The first rung's epoch: given, or (``auto``) the first epoch whose ranking the calibration
    says predicts the full-budget one."""
    if settings.grace != "auto":
        return int(settings.grace)
    from search.calibration import calibrate, first_trusted_epoch

    budget = max_epochs(settings, space)
    # No epoch to trust: no early decisions at all.
    return first_trusted_epoch(calibrate(store.latest(), budget)) or budget


def _fit(searcher: CampaignSearcher, scheduler: Any, settings: CampaignSettings, store: CampaignStore,
         progress: bool, console: Console, later: int = 0) -> None:
    """Run one phase on Tune until its searcher has nothing left (``later``: trials of the phases
    after it, for the ETA); `CampaignHalted` if a failure of the machine stopped it."""
    from ray import tune
    from ray.tune.schedulers import FIFOScheduler
    from ray.tune.search import ConcurrencyLimiter

    from search.trial import run_trial

    trials = searcher.trials_left()
    if trials <= 0:
        console.print(f"campaign {settings.name}: the {searcher.plan.phase} phase is done")
        return
    search_alg = (ConcurrencyLimiter(searcher, max_concurrent=settings.max_concurrent)
                  if settings.max_concurrent else searcher)
    resources = {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial}
    callback = CampaignCallback(store, settings, progress, searcher.plan.phase,
                                lambda: searcher.pending_trials() + later)
    tuner = tune.Tuner(
        tune.with_resources(run_trial, resources),
        # Reused actors keep torch imported between trials: a new one costs seconds.
        tune_config=tune.TuneConfig(search_alg=search_alg, scheduler=scheduler or FIFOScheduler(),
                                    num_samples=trials, reuse_actors=True,
                                    trial_dirname_creator=_trial_dirname),
        run_config=tune.RunConfig(
            name=f"ray-{searcher.plan.phase}", storage_path=str(store.directory), verbose=0,
            failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
            stop=HaltOnMachineFailure(callback), callbacks=[callback]),
    )
    tuner.fit()
    if callback.halted:
        raise CampaignHalted(callback.halted)


def _confirmation_points(store: CampaignStore, space: Any, settings: CampaignSettings
                         ) -> list[tuple[str | None, dict[str, Any]]]:
    """The ``confirm`` search points most likely on the front, and the anchors with fewer full-budget
    runs than ``confirm_seeds``, chosen once.

    The choice is written to the campaign directory, so a resumed campaign
    confirms the same points whatever it trains meanwhile.
    """
    chosen = store.confirmation()
    if chosen is None:
        records = [r for r in store.latest() if r.phase == SEARCH]
        summaries = summarise(records, campaign_noise(records))
        with_p_front(summaries, settings.objectives, tolerance=space.report.cost_tolerance or None)
        candidates = sorted((s for s in summaries if not s.name and s.p_front > 0),
                            key=lambda s: -s.p_front)[:settings.confirm]
        # Anchors are fixed before the search: their full-budget search runs need no fresh seeds.
        trained = Counter(r.name for r in records if r.name and r.status == OK)
        anchors = [(name, space.canonicalise({**point, **settings.overrides()}))
                   for name, point in space.anchors() if trained[name] < settings.confirm_seeds]
        chosen = anchors + [(None, s.point) for s in candidates]
        store.save_confirmation(chosen)
    return [(name, space.canonicalise(point)) for name, point in chosen]  # the points JSON stored
