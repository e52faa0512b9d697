"""A campaign's settings: what `gespace search` runs with, stored in campaign.json.

Kept apart from `search.campaign` (which imports Ray) so that the command line
reads its defaults from here cheaply.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from gespace.objectives import DEFAULT_OBJECTIVES


@dataclass
class CampaignSettings:
    """What a campaign runs with; stored in campaign.json so --resume continues the same way."""

    spec: str
    name: str
    storage: str
    num_samples: int
    searcher: str = "random"
    scheduler: str = "asha"
    objectives: list[str] = field(default_factory=lambda: list(DEFAULT_OBJECTIVES))
    epochs: int | None = None
    subset: float | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int | None = None
    seed: int = 0
    data: str | None = None
    data_root: str | None = None
    device: str = "auto"
    min_results: int = 6  # moasha: results a rung holds before it promotes anything
    grace: int | str = 1  # first rung, in epochs, or "auto" (from the calibration)
    calibrate: int = 0  # points (anchors included) trained to the full budget under 2 seeds
    seeds: int = 1  # seeds of each sampled point
    anchor_seeds: int = 2  # seeds of each anchor: every campaign measures its noise
    confirm: int = 0  # search points confirmed (with the anchors) after the search
    confirm_seeds: int = 2
    race: bool = False  # race the confirmation (search.racing) instead of fixed confirm_seeds
    race_rounds: int | None = None  # declared rounds of the race (most race seeds a point); None: 30 (search.racing)
    race_budget: int | None = None  # most race runs in all
    race_hours: float | None = None  # most core-hours of race runs in all
    race_delta: float | None = None  # indifference margin (pp); default: the spec's report.equivalence_pp
    prefilter: str | None = None  # "PROXY:K": train only the K sampled points the proxy scores best (search.proxies)
    around: str | None = None  # --searcher ablation: the anchor whose one-knob changes it trains (search.ablation)
    knobs: list[str] | None = None  # the knobs an ablation varies; None: the GE knobs

    @property
    def directory(self) -> Path:
        return Path(self.storage).resolve() / self.name

    def overrides(self) -> dict[str, Any]:
        """Training knobs every point of the campaign trains with (part of its id)."""
        knobs = {"train.epochs": self.epochs, "train.subset": self.subset, "train.dataset": self.data}
        return {key: value for key, value in knobs.items() if value is not None}


def default(name: str) -> Any:
    """A setting's default, for the command line."""
    item = next(f for f in fields(CampaignSettings) if f.name == name)
    return item.default
