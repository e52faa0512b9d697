"""Run a search campaign over a design space on Ray Tune, on this machine or a Ray cluster."""
from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ray.tune import Callback
from rich.console import Console
from rich.live import Live
from rich.table import Table

from gespace.grammar import anchor_label, load_space
from search import SCHEDULERS, SEARCHERS
from search.pareto import pareto_front
from search.records import (CONFIRM, DIVERGED, FAILED, MEASURED, OK, REJECTED, SEARCH, STOPPED, Cost,
                            TrialRecord, best_error, unique_epochs)
from search.searchers import CampaignSearcher, SeedPlan, _ListSource, make_source
from search.statistics import campaign_noise, noise_by_epoch, summarise, with_p_front
from search.store import SETTINGS, TORN, CampaignStore, StoreError


class CampaignError(Exception):
    """A campaign that cannot start (one line for the user)."""


@dataclass
class CampaignSettings:
    """What a campaign runs with; stored in campaign.json so --resume continues the same way."""

    spec: str
    name: str
    storage: str
    num_samples: int
    searcher: str = "random"
    scheduler: str = "asha"
    objectives: list[str] = field(default_factory=lambda: ["val_error", "gmacs"])
    epochs: int | None = None
    subset: float | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int | None = None
    seed: int = 0
    data: str | None = None
    data_root: str | None = None
    device: str = "auto"
    seeds: int = 1  # seeds of each sampled point
    anchor_seeds: int = 2  # seeds of each anchor: every campaign measures its noise
    confirm: int = 0  # search points confirmed (with the anchors) after the search
    confirm_seeds: int = 2

    @property
    def directory(self) -> Path:
        return Path(self.storage).resolve() / self.name

    def overrides(self) -> dict[str, Any]:
        """Training knobs every point of the campaign trains with (part of its id)."""
        knobs = {"train.epochs": self.epochs, "train.subset": self.subset, "train.dataset": self.data}
        return {key: value for key, value in knobs.items() if value is not None}


def _record(trial: Any, history: list[dict[str, Any]], status: str | None = None,
            reason: str | None = None) -> TrialRecord:
    """The store record of a finished Tune trial."""
    config, last = trial.config, trial.last_result or {}
    status = status or last.get("status")
    if status in (None, "running"):
        status = STOPPED  # ended by the scheduler before its last epoch
    epochs = unique_epochs(history)
    return TrialRecord(
        id=config["point_id"], status=status, point=config["point"], name=config.get("name"),
        seed=config["seed"], phase=config["phase"], cost=Cost.of(config["cost"]), epochs=epochs,
        budget=config["point"].get("train.epochs"),
        val_error=last.get("val_error") if status in MEASURED else None,
        best_val_error=best_error(epochs), test_error=last.get("test_error") if status == OK else None,
        reason=reason or last.get("reason"), wall_time=last.get("time_total_s"),
        train_time=last.get("train_time"), setup_time=last.get("setup_time"),
        started_at=last.get("started_at"), finished_at=last.get("finished_at"),
        trial_id=trial.trial_id, order=config["order"])


def _error_reason(trial: Any) -> str:
    """The last line of a failed trial's traceback: the exception and its message."""
    try:
        text = Path(trial.error_file).read_text() if trial.error_file else ""
    except OSError:
        text = ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "trial failed"


class CampaignCallback(Callback):
    """Appends a record per finished trial to the store and keeps a live progress table."""

    def __init__(self, store: CampaignStore, settings: CampaignSettings, progress: bool,
                 phase: str = SEARCH) -> None:
        self.store, self.settings, self.progress, self.phase = store, settings, progress, phase
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.started = time.time()
        self.live: Live | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "live": None}  # Tune pickles its callbacks

    def setup(self, **info: Any) -> None:
        if self.progress:
            self.live = Live(self.table([]), console=Console(), refresh_per_second=2)
            self.live.start()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self.history.setdefault(trial.trial_id, []).append(result)
        self.refresh(trials)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.store.append(_record(trial, self.history.pop(trial.trial_id, [])))
        self.refresh(trials)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.store.append(_record(trial, self.history.pop(trial.trial_id, []), FAILED,
                                  _error_reason(trial)))
        self.refresh(trials)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        if self.live:
            self.live.update(self.table(trials))
            self.live.stop()

    def refresh(self, trials: list) -> None:
        if self.live:
            self.live.update(self.table(trials))

    def table(self, trials: list) -> Table:
        return progress_table(self.store.records(), self.settings, self.phase,
                              running=sum(1 for t in trials if t.status == "RUNNING"),
                              elapsed=time.time() - self.started)


def progress_table(records: list[TrialRecord], settings: CampaignSettings, phase: str, *, running: int,
                   elapsed: float) -> Table:
    """The live view: trials of the phase by status, the seed noise, the best mean error and the front."""
    statuses = Counter(r.status for r in records if r.phase == phase)
    noise = campaign_noise(records)
    summaries = summarise([r for r in records if r.phase == phase], noise)
    best = min(summaries, key=lambda s: s.error.mean, default=None)
    front = pareto_front(summaries, settings.objectives)
    table = Table(title=f"campaign {settings.name}: {phase} ({settings.searcher}), {elapsed:.0f} s")
    for column in ("trained", "running", "stopped", "failed", "rejected", "seed noise", "best val err",
                   "best point", "front"):
        table.add_column(column)
    trained = statuses[OK] + statuses[STOPPED] + statuses[DIVERGED]
    table.add_row(str(trained), str(running), str(statuses[STOPPED]), str(statuses[FAILED]),
                  str(statuses[REJECTED]),
                  f"±{100 * noise.sigma:.2f} pp (df {noise.df})" if noise.known else "-",
                  f"{100 * best.error.mean:.2f}%" if best else "-",
                  "-" if best is None else anchor_label(best.name) if best.name else best.id, str(len(front)))
    return table


def _trial_dirname(trial: Any) -> str:
    return f"{trial.config['point_id']}-s{trial.config['seed']}-{trial.trial_id}"


def connect_ray(address: str | None, cpus: float | None = None) -> bool:
    """Start Ray on loopback (no address) or join a cluster; True if this process started it."""
    import ray

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: Tune prints nothing; gespace reports
    # A trial that diverged or failed reports no val_error (it measured none); Tune's
    # strict check would call that an error, and the schedulers skip such a result.
    os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")
    if ray.is_initialized():
        return False
    if address:
        os.environ.setdefault("RAY_AUTH_MODE", "token")
        ray.init(address=address, log_to_driver=False, configure_logging=False)
        return False
    # address="local" never joins a cluster named in a stale Ray address file.
    ray.init(address="local", num_cpus=int(cpus) if cpus else None, include_dashboard=False,
             log_to_driver=False, configure_logging=False)
    return True


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
    if not resume:
        store.create(settings.spec, asdict(settings))

    from gespace.cost import point_cost

    started_ray = connect_ray(address, cpus=None)
    try:
        common = {"cost_fn": point_cost, "overrides": settings.overrides(),
                  "trial_settings": {"campaign_dir": str(store.directory), "data_root": settings.data_root,
                                     "device": settings.device, "cpus_per_trial": settings.cpus_per_trial}}
        source = make_source(space, settings.searcher, settings.seed, list(settings.objectives))
        plan = SeedPlan(SEARCH, settings.seed, settings.anchor_seeds, settings.seeds)
        searcher = CampaignSearcher(space, store, source=source, plan=plan, points=settings.num_samples,
                                    **common)
        _fit(searcher, _scheduler(settings, space), settings, store, progress, console)
        if settings.confirm:
            points = _confirmation_points(store, space, settings)
            plan = SeedPlan(CONFIRM, settings.seed, settings.confirm_seeds, settings.confirm_seeds)
            searcher = CampaignSearcher(space, store, source=_ListSource(points), plan=plan,
                                        points=len(points), **common)
            _fit(searcher, None, settings, store, progress, console)
    finally:
        if started_ray:
            import ray
            ray.shutdown()
    return store


def _scheduler(settings: CampaignSettings, space: Any) -> Any:
    """The search phase's early-stopping scheduler (None: every trial runs its whole budget)."""
    if settings.scheduler == "none":
        return None
    from search.schedulers import AnchoredASHA

    epoch_values = space.knobs["train.epochs"].domain.values() or [space.knobs["train.epochs"].default]
    max_epochs = settings.epochs or max(epoch_values)
    return AnchoredASHA(time_attr="epoch", metric="val_error", mode="min", max_t=max_epochs,
                        grace_period=1, reduction_factor=3)


def _fit(searcher: CampaignSearcher, scheduler: Any, settings: CampaignSettings, store: CampaignStore,
         progress: bool, console: Console) -> None:
    """Run one phase on Tune until its searcher has nothing left."""
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
    tuner = tune.Tuner(
        tune.with_resources(run_trial, resources),
        # Reused actors keep torch imported between trials: a new one costs seconds.
        tune_config=tune.TuneConfig(search_alg=search_alg, scheduler=scheduler or FIFOScheduler(),
                                    num_samples=trials, reuse_actors=True,
                                    trial_dirname_creator=_trial_dirname),
        run_config=tune.RunConfig(
            name=f"ray-{searcher.plan.phase}", storage_path=str(store.directory), verbose=0,
            failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
            callbacks=[CampaignCallback(store, settings, progress, searcher.plan.phase)]),
    )
    tuner.fit()


def _confirmation_points(store: CampaignStore, space: Any, settings: CampaignSettings
                         ) -> list[tuple[str | None, dict[str, Any]]]:
    """The anchors and the ``confirm`` search points most likely on the front, chosen once.

    The choice is written to the campaign directory, so a resumed campaign
    confirms the same points whatever it trains meanwhile.
    """
    chosen = store.confirmation()
    if chosen is None:
        records = [r for r in store.records() if r.phase == SEARCH]
        summaries = with_p_front(summarise(records, campaign_noise(records)), settings.objectives)
        candidates = sorted((s for s in summaries if not s.name and s.p_front > 0),
                            key=lambda s: -s.p_front)[:settings.confirm]
        anchors = [(name, space.canonicalise({**point, **settings.overrides()}))
                   for name, point in space.anchors()]
        chosen = anchors + [(None, s.point) for s in candidates]
        store.save_confirmation(chosen)
    return chosen
