"""Run a search campaign over a design space on Ray Tune, on this machine or a Ray cluster."""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from gespace.grammar import anchor_label, load_space
from search.pareto import pareto_front
from search.searchers import SEARCHERS, CampaignSearcher
from search.store import CampaignStore

SCHEDULERS = ("none", "asha")


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
        "seed": config["seed"], "trial_id": trial.trial_id,
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


def _callbacks(store: CampaignStore, searcher: CampaignSearcher, settings: CampaignSettings,
               console: Console, progress: bool) -> list:
    from ray.tune import Callback

    class StoreAndProgress(Callback):
        """Appends a record per finished trial and keeps a live progress table."""

        def __init__(self) -> None:
            self.history: dict[str, list[dict[str, Any]]] = {}
            self.live = Live(console=console, refresh_per_second=2, transient=False) if progress else None
            self.started = time.time()

        def setup(self, **info: Any) -> None:
            if self.live:
                self.live.start()
                self.live.update(self.table([]))

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            self.history.setdefault(trial.trial_id, []).append(result)
            self.refresh(trials)

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            store.append(_record(trial, self.history.pop(trial.trial_id, [])))
            self.refresh(trials)

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            store.append(_record(trial, self.history.pop(trial.trial_id, []), "failed", _error_reason(trial)))
            self.refresh(trials)

        def on_experiment_end(self, trials: list, **info: Any) -> None:
            if self.live:
                self.live.update(self.table(trials))
                self.live.stop()

        def refresh(self, trials: list) -> None:
            if self.live:
                self.live.update(self.table(trials))

        def table(self, trials: list) -> Table:
            records = store.records()
            running = sum(1 for t in trials if t.status == "RUNNING")
            done = sum(1 for r in records if r["status"] in ("ok", "stopped", "diverged"))
            failed = sum(1 for r in records if r["status"] == "failed")
            rejected = sum(1 for r in records if r["status"] == "rejected")
            front = pareto_front(records, settings.objectives)
            best = min((r for r in records if r["status"] in ("ok", "stopped")),
                       key=lambda r: r["val_error"], default=None)
            table = Table(title=f"campaign {settings.name}: {settings.searcher} search, "
                                f"{time.time() - self.started:.0f} s", show_header=True)
            for column in ("done", "running", "failed", "rejected", "best val err", "best point",
                           "pareto size"):
                table.add_column(column)
            best_text = f"{best['val_error'] * 100:.2f}%" if best else "-"
            best_name = (anchor_label(best["name"]) if best and best["name"] else best["id"]) if best else "-"
            table.add_row(f"{done}/{settings.num_samples}", str(running), str(failed), str(rejected),
                          best_text, best_name, str(len(front)))
            return table

    return [StoreAndProgress()]


def connect_ray(address: str | None, cpus: float | None = None) -> bool:
    """Start Ray on loopback (no address) or join a cluster; True if this process started it."""
    import ray

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
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
    if resume:
        if not store.exists():
            raise CampaignError(f"no campaign to resume in {store.directory}")
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
                          "epochs": settings.epochs, "data": settings.data, "data_root": settings.data_root,
                          "device": settings.device, "cpus_per_trial": settings.cpus_per_trial}
        searcher = CampaignSearcher(space, store, method=settings.searcher, seed=settings.seed,
                                    objectives=list(settings.objectives), cost_fn=point_cost,
                                    trial_settings=trial_settings)
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
            tune_config=tune.TuneConfig(search_alg=search_alg, scheduler=scheduler, num_samples=remaining),
            run_config=tune.RunConfig(
                name="ray", storage_path=str(store.directory), verbose=0,
                failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
                callbacks=_callbacks(store, searcher, settings, console, progress)),
        )
        tuner.fit()
    finally:
        if started_ray:
            import ray
            ray.shutdown()
    return store
