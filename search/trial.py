"""The Ray Tune trainable: build, cost and train one point, reporting every epoch."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from gespace.grammar import point_label
from search.contract import TrialSpec
from search.curves import CurveWriter, run_directory
from search.records import EPOCH_KEYS, OK

# The trainer's name for each of a record's epoch figures.
_TRAINER_NAMES = {"val_error": "val_top1_error"}


def epoch_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The per-epoch figures a campaign keeps (`EPOCH_KEYS`), from the trainer's epoch metrics."""
    return {key: metrics.get(_TRAINER_NAMES.get(key, key)) for key in EPOCH_KEYS}


def trial_threads(cpus_per_trial: float) -> int:
    """The CPU threads a trial trains with: its whole CPUs, at least one."""
    return max(1, int(cpus_per_trial))


def run_trial(config: dict[str, Any]) -> None:
    """Tune function trainable. ``config`` carries the `TrialSpec` `CampaignSearcher.suggest` made."""
    started, started_at = time.perf_counter(), time.time()
    import ray
    from ray import tune

    from gespace.builder import build_model
    from gespace.train import train

    spec = TrialSpec.of(config)
    point, pid, settings = spec.point, spec.id, spec.settings
    # Costed by the searcher (schedulers rank on the costs each result carries); the node says which
    # machine of a cluster trained it.
    fixed = {"point_id": pid, **(spec.cost or {}), "node": ray.get_runtime_context().get_node_id()}
    model = build_model(point, seed=spec.seed)
    epochs = point["train.epochs"]
    last: dict[str, Any] = {}
    curves = CurveWriter(run_directory(settings.campaign_dir, spec.name, pid, spec.seed),
                         point_label(spec.name, point))

    def on_epoch(metrics: dict[str, Any]) -> None:
        # The final epoch is reported after training, together with the test error.
        last.clear()
        last.update(epoch_metrics(metrics))
        curves.epoch(last)
        if metrics["epoch"] < epochs:
            tune.report({**fixed, **last, "status": "running"})

    setup_time = time.perf_counter() - started
    result = train(model, point=point, data_root=settings.data_root, device=settings.device, seed=spec.seed,
                   out_dir=str(Path(settings.campaign_dir) / "trials" / pid / f"s{spec.seed}"),
                   # A promoted trial (or one a killed campaign left half-way) continues its checkpoint.
                   resume=True, callback=on_epoch, progress=False,
                   threads=trial_threads(settings.cpus_per_trial))
    # Every epoch the checkpoint holds, including those trained before a killed driver's restart
    # (Tune saw them in a run that is gone) or all of them, if the checkpoint was already complete.
    history = [epoch_metrics(h) for h in result.history]
    last = history[-1] if history else last
    curves.close(result.test_error, last.get("epoch", 0), knobs=point,
                 finals={"val_error": last.get("val_error"), "test_error": result.test_error, **(spec.cost or {})})
    final = {**fixed, **last, "history": history, "status": result.status, "reason": result.reason or None,
             "test_error": result.test_error, "images": result.images or None, "epoch": last.get("epoch", 0),
             "train_time": result.wall_time,
             "setup_time": setup_time, "started_at": started_at, "finished_at": time.time()}
    if result.status != OK:
        final.pop("val_error", None)  # not measured at the end: schedulers skip a result without it
    tune.report(final)
