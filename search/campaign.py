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
from search.pareto import pareto_front
from search import SCHEDULERS, SEARCHERS
from search.searchers import CampaignSearcher
from search.store import RANKED, CampaignStore

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

    @property
    def directory(self) -> Path:
        return Path(self.storage).resolve() / self.name

    def overrides(self) -> dict[str, Any]:
        """Training knobs every point of the campaign trains with (part of its id)."""
        knobs = {"train.epochs": self.epochs, "train.subset": self.subset, "train.dataset": self.data}
        return {key: value for key, value in knobs.items() if value is not None}


def _record(trial: Any, history: list[dict[str, Any]], status: str | None = None,
            reason: str | None = None) -> dict[str, Any]:
    """The store record of a finished Tune trial."""
    config, last = trial.config, trial.last_result or {}
    epochs = [{k: v for k, v in h.items() if k in EPOCH_KEYS} for h in history]
    status = status or last.get("status")
    if status in (None, "running"):
        status = "stopped"  # ended by the scheduler before its last epoch
    errors = [e["val_error"] for e in epochs if e.get("val_error") is not None]
    return {
        "id": config["point_id"], "name": config.get("name"), "point": config["point"],
        "cost": {k: last.get(k) for k in ("macs", "gmacs", "params", "params_m")},
        "epochs": epochs, "val_error": last.get("val_error") if status != "failed" else None,
        "best_val_error": min(errors) if errors and status != "failed" else None,
        "test_error": last.get("test_error"), "status": status,
        "reason": reason or last.get("reason"), "wall_time": last.get("time_total_s"),
        "train_time": last.get("train_time"), "setup_time": last.get("setup_time"),
        "started_at": last.get("started_at"), "finished_at": last.get("finished_at"),
        "seed": config["seed"], "trial_id": trial.trial_id, "order": config["order"],
    }


EPOCH_KEYS = ("epoch", "train_loss", "val_error", "val_top5_error", "images_per_s", "epoch_time")


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

    def __init__(self, store: CampaignStore, settings: CampaignSettings, progress: bool) -> None:
        self.store, self.settings, self.progress = store, settings, progress
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
        self.store.append(_record(trial, self.history.pop(trial.trial_id, []), "failed",
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
        records = self.store.records()
        statuses = Counter(r["status"] for r in records)
        running = sum(1 for t in trials if t.status == "RUNNING")
        best = min((r for r in records if r["status"] in RANKED), key=lambda r: r["val_error"], default=None)
        table = Table(title=f"campaign {self.settings.name}: {self.settings.searcher} search, "
                            f"{time.time() - self.started:.0f} s")
        for column in ("trained", "running", "failed", "rejected", "best val err", "best point", "Pareto"):
            table.add_column(column)
        trained = statuses["ok"] + statuses["stopped"] + statuses["diverged"]
        best_name = "-" if best is None else (anchor_label(best["name"]) if best["name"] else best["id"])
        table.add_row(f"{trained}/{self.settings.num_samples}", str(running), str(statuses["failed"]),
                      str(statuses["rejected"]), f"{best['val_error'] * 100:.2f}%" if best else "-",
                      best_name, str(len(pareto_front(records, self.settings.objectives))))
        return table


def _trial_dirname(trial: Any) -> str:
    return f"{trial.config['point_id']}-{trial.trial_id}"


def connect_ray(address: str | None, cpus: float | None = None) -> bool:
    """Start Ray on loopback (no address) or join a cluster; True if this process started it."""
    import ray

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: Tune prints nothing; gespace reports
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
    """Run (or continue, with ``resume``) a campaign; returns its store."""
    console = console or Console()
    store = CampaignStore(settings.directory)
    resume = resume and store.exists()  # nothing to resume yet: start it
    if resume:
        stored = CampaignSettings(**store.settings())
        stored.num_samples = max(stored.num_samples, settings.num_samples)
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

    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search import ConcurrencyLimiter

    from gespace.cost import point_cost
    from search.trial import run_trial

    started_ray = connect_ray(address, cpus=None)
    try:
        trial_settings = {"campaign_dir": str(store.directory), "seed": settings.seed,
                          "data_root": settings.data_root, "device": settings.device,
                          "cpus_per_trial": settings.cpus_per_trial}
        searcher = CampaignSearcher(space, store, method=settings.searcher, seed=settings.seed,
                                    objectives=list(settings.objectives), cost_fn=point_cost,
                                    trial_settings=trial_settings, overrides=settings.overrides())
        trials_done = sum(1 for r in store.records() if r["status"] != "rejected")
        remaining = settings.num_samples - trials_done
        if remaining <= 0:
            console.print(f"campaign {settings.name}: all {settings.num_samples} trials are done")
            return store
        search_alg = (ConcurrencyLimiter(searcher, max_concurrent=settings.max_concurrent)
                      if settings.max_concurrent else searcher)
        epoch_values = space.knobs["train.epochs"].domain.values() or [space.knobs["train.epochs"].default]
        max_epochs = settings.epochs or max(epoch_values)
        scheduler = (ASHAScheduler(time_attr="epoch", metric="val_error", mode="min", max_t=max_epochs,
                                   grace_period=1, reduction_factor=3)
                     if settings.scheduler == "asha" else FIFOScheduler())
        resources = {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial}
        tuner = tune.Tuner(
            tune.with_resources(run_trial, resources),
            # Reused actors keep torch imported between trials: a new one costs seconds.
            tune_config=tune.TuneConfig(search_alg=search_alg, scheduler=scheduler, num_samples=remaining,
                                        reuse_actors=True, trial_dirname_creator=_trial_dirname),
            run_config=tune.RunConfig(
                name="ray", storage_path=str(store.directory), verbose=0,
                failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
                callbacks=[CampaignCallback(store, settings, progress)]),
        )
        tuner.fit()
    finally:
        if started_ray:
            import ray
            ray.shutdown()
    return store
