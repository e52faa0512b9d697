"""What a training run returns, and the signal a callback raises to stop it."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any


class StopTraining(Exception):
    """Raised by an ``on_epoch`` callback to end training cleanly after that epoch.

    The run's status becomes ``stopped`` (with the exception's message as
    reason); its checkpoint is complete, so ``resume=True`` can continue it.
    """


@dataclass
class TrainResult:
    """One run's outcome. Errors are fractions in [0, 1] (top-1 unless named top-5).

    ``status``: ``ok`` (all epochs done, test split evaluated), ``diverged``
    (loss became NaN/inf), ``stopped`` (the callback raised StopTraining) or
    ``failed`` (any other error; ``reason`` says which, ``traceback`` has it).
    """

    status: str
    reason: str = ""
    epochs_completed: int = 0
    epochs: int = 0
    best_val_error: float | None = None
    final_val_error: float | None = None
    test_error: float | None = None
    test_top5_error: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    wall_time: float = 0.0
    checkpoint: str | None = None
    point_id: str | None = None
    seed: int = 0
    precision: str | None = None  # the arithmetic it trained in: train.precision resolved, fp32 or bf16
    traceback: str | None = None
    # Which images of the validation (after the last epoch) and test splits it classified right:
    # split name -> `gespace.train.metrics.ImageBits` as JSON; only for a run that finished ("ok").
    images: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), default=str, **kwargs)
