"""The Ray Tune trainable: build, cost and train one point, reporting every epoch."""
from __future__ import annotations

from pathlib import Path
from typing import Any

# Val error reported for a diverged point, so that searchers see it as the worst outcome.
DIVERGED_ERROR = 1.0


def run_trial(config: dict[str, Any]) -> None:
    """Tune function trainable. ``config`` comes from `CampaignSearcher.suggest`."""
    import torch
    from ray import tune

    from gespace.builder import build_model
    from gespace.cost import point_cost
    from gespace.train import train

    torch.set_num_threads(max(1, int(config["cpus_per_trial"])))
    point, pid = config["point"], config["point_id"]
    cost = point_cost(point)
    fixed = {"point_id": pid, "gmacs": cost.gmacs, "params_m": cost.params_m,
             "macs": cost.macs, "params": cost.params}
    model = build_model(point, seed=config["seed"])
    epochs = config["epochs"] or point["train.epochs"]
    last: dict[str, Any] = {}

    def on_epoch(metrics: dict[str, Any]) -> None:
        # The final epoch is reported after training, together with the test error.
        last.clear()
        last.update(metrics)
        if metrics["epoch"] < epochs:
            tune.report({**fixed, **metrics, "status": "running"})

    out_dir = Path(config["campaign_dir"]) / "trials" / pid
    result = train(model, point=point, data=config["data"], data_root=config["data_root"],
                   device=config["device"], seed=config["seed"], out_dir=str(out_dir), epochs=epochs,
                   callback=on_epoch, progress=False)
    final = {**fixed, **last, "status": result.status, "reason": result.reason,
             "test_error": result.test_error, "best_val_error": result.best_val_error,
             "epoch": last.get("epoch", epochs)}
    if result.status != "ok":
        final["val_error"] = DIVERGED_ERROR
    tune.report(final)
