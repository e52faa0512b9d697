"""The live view of a campaign: a table per refresh on a terminal, plain lines in a log.

One row per running trial (point, seed, epoch k/n, latest validation error,
images/s), the last finished trials with their status, and a header with the
elapsed time, an ETA from measured trial times and what is left, the seed noise
and the front's size. Fits 80 columns: point labels shorten, numbers stay.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

from gespace.grammar import point_label
from gespace.objectives import DEFAULT_OBJECTIVES
from search.contract import TrialSpec
from search.pareto import pareto_front
from search.records import OK, TrialRecord
from search.statistics import campaign_noise, summarise

LABEL_WIDTH = 26  # the point column's share of 80 columns
FINISHED_SHOWN = 3


@dataclass
class Running:
    """A trial under way, as Tune last heard of it."""

    label: str
    seed: int
    epoch: int
    epochs: int
    val_error: float | None = None
    images_per_s: float | None = None

    @classmethod
    def of(cls, trial: Any) -> Running:
        spec, last = TrialSpec.of(trial.config), trial.last_result or {}
        return cls(point_label(spec.name, spec.point), spec.seed, int(last.get("epoch") or 0),
                   int(spec.point.get("train.epochs") or 0), last.get("val_error"), last.get("images_per_s"))


@dataclass
class CampaignState:
    name: str
    phase: str
    elapsed: float
    records: list[TrialRecord]
    running: list[Running] = field(default_factory=list)
    trials_left: int = 0  # not yet started (an estimate: promotions may add some)
    concurrency: int = 1
    objectives: tuple[str, ...] = DEFAULT_OBJECTIVES

    def eta(self) -> float | None:
        """Seconds left: what is queued and what runs, at the mean measured time of a full trial."""
        full = [r.train_time + (r.setup_time or 0.0) for r in self.records if r.status == OK and r.train_time]
        if not full:
            return None
        per_trial = sum(full) / len(full)
        running = sum(per_trial * (1 - t.epoch / t.epochs) for t in self.running if t.epochs)
        return (self.trials_left * per_trial + running) / max(1, self.concurrency)

    def summary(self) -> str:
        noise = campaign_noise(self.records)
        front = pareto_front(summarise(self.records, noise), self.objectives)
        eta = self.eta()
        parts = [f"{self.name} {self.phase}", f"{_duration(self.elapsed)} elapsed",
                 f"ETA {_duration(eta)}" if eta is not None else "ETA -",
                 f"{sum(r.status == OK for r in self.records)} done, {len(self.running)} running",
                 f"noise ±{100 * noise.sigma:.2f} pp" if noise.known else "noise -", f"front {len(front)}"]
        return ", ".join(parts)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{secs:02d}s"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def render(state: CampaignState) -> Table:
    """The live table: running trials, then the last finished ones."""
    table = Table(title=state.summary(), title_justify="left", expand=False)
    table.add_column("point", max_width=LABEL_WIDTH, no_wrap=True, overflow="ellipsis")
    for column in ("seed", "epoch", "val err %", "img/s", "status"):
        table.add_column(column, no_wrap=True, justify="right" if column != "status" else "left")
    for trial in state.running:
        table.add_row(trial.label, str(trial.seed), f"{trial.epoch}/{trial.epochs}", _percent(trial.val_error),
                      "-" if trial.images_per_s is None else f"{trial.images_per_s:.0f}", "running")
    finished = sorted((r for r in state.records if r.finished_at), key=lambda r: r.finished_at)[-FINISHED_SHOWN:]
    for record in reversed(finished):
        speed = record.epochs[-1].get("images_per_s") if record.epochs else None
        table.add_row(point_label(record.name, record.point), str(record.seed),
                      f"{record.epochs_done}/{record.budget or record.epochs_done}", _percent(record.val_error),
                      "-" if speed is None else f"{speed:.0f}", record.status)
    return table


def plain_line(state: CampaignState) -> str:
    """One line for a log: the summary and what runs."""
    running = "; ".join(f"{t.label[:LABEL_WIDTH]} s{t.seed} {t.epoch}/{t.epochs}" for t in state.running)
    return f"[{time.strftime('%H:%M:%S')}] {state.summary()}" + (f" | {running}" if running else "")
