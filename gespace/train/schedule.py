"""The learning-rate schedule: linear warm-up, then step, plateau or cosine decay.

The rate is a pure function of the optimiser step (plus, for ``plateau``, a
decay factor updated from the validation loss at each epoch's end), so the
schedule's whole state is a few numbers and a resumed run continues exactly.
Warm-up and cosine move per step; step decays happen at epoch boundaries.
"""
from __future__ import annotations

import math
from typing import Any


class LRSchedule:
    def __init__(self, config: dict[str, Any], steps_per_epoch: int):
        self.base_lr = config["train.lr"]
        self.kind = config["train.schedule"]
        self.epochs = config["train.epochs"]
        self.steps_per_epoch = max(1, int(steps_per_epoch))
        self.warmup_steps = config["train.warmup_epochs"] * self.steps_per_epoch
        self.total_steps = self.epochs * self.steps_per_epoch
        self.gamma = config["train.gamma"]
        self.patience = config["train.patience"]
        self.milestones = sorted(round(m * self.epochs) for m in config["train.milestones"])
        if self.kind not in ("step", "plateau", "cosine"):
            raise ValueError(f"unknown schedule {self.kind!r}")
        # plateau state (ReduceLROnPlateau: mode min, relative threshold 1e-4)
        self.factor = 1.0
        self.best = math.inf
        self.bad_epochs = 0

    def lr(self, step: int) -> float:
        """The learning rate of optimiser step ``step`` (0-based, counted over the run)."""
        if step < self.warmup_steps:
            return self.base_lr * (step + 1) / self.warmup_steps
        if self.kind == "cosine":
            span = max(1, self.total_steps - self.warmup_steps)
            progress = min(1.0, (step - self.warmup_steps) / span)
            return self.base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))
        if self.kind == "step":
            epoch = step // self.steps_per_epoch
            return self.base_lr * self.gamma ** sum(epoch >= m for m in self.milestones)
        return self.base_lr * self.factor

    def epoch_end(self, epoch: int, monitored_loss: float) -> None:
        """Feed the plateau schedule the loss after epoch ``epoch`` (0-based)."""
        if self.kind != "plateau" or (epoch + 1) * self.steps_per_epoch <= self.warmup_steps:
            return
        if monitored_loss < self.best * (1.0 - 1e-4):
            self.best = monitored_loss
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs > self.patience:
                self.factor *= self.gamma
                self.bad_epochs = 0

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "factor": self.factor, "best": self.best,
                "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.factor = float(state["factor"])
        self.best = float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])
