"""One schema for a campaign's trial records: a line of ``trials.jsonl`` each.

Every writer (the campaign's Tune callback, the searcher's rejections) builds a
`TrialRecord`, and every reader (searchers on resume, Pareto fronts, reports,
EDFs) gets one back from `CampaignStore.records`. Records carry the schema
version they were written with; older versions are upgraded when read, so
campaigns committed under ``results/`` keep reporting.

What was not measured is ``None``: a trial that failed or diverged has no
validation error of its own (its per-epoch history keeps what was measured
before it broke).
"""
from __future__ import annotations

import binascii
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Sequence

from gespace.images import ImageBits

SCHEMA = 3  # 3: per-image correctness (images); 2: no made-up errors of unfinished trials

# Statuses, the one definition. A trial the trainer ran ends as ok (its whole
# budget), stopped (early-stopped by the scheduler: a lower-fidelity result),
# diverged (its loss blew up) or failed (an error of the point's); a point that
# breaks the spec's constraints is rejected before any training. A trial that a
# failure of the machine ended (a full disk, a cluster that could not run it, a
# lost node) is interrupted: not the point's result, so `--resume` trains it again.
OK, STOPPED, DIVERGED, FAILED, REJECTED, INTERRUPTED = (
    "ok", "stopped", "diverged", "failed", "rejected", "interrupted")
STATUSES = (OK, STOPPED, DIVERGED, FAILED, REJECTED, INTERRUPTED)
# Statuses whose record holds a measured validation error.
MEASURED = (OK, STOPPED)

# Phases of a campaign: the search proper, then the confirmation of its most
# likely front points and the anchors under fresh seeds at the full budget.
SEARCH, CONFIRM = "search", "confirm"
PHASES = (SEARCH, CONFIRM)

# Per-epoch figures a record keeps, in this order.
EPOCH_KEYS = ("epoch", "train_loss", "val_error", "val_top5_error", "images_per_s", "epoch_time")
# A point's figures known before training: exact costs, and the latency a campaign that uses it
# measures (`search.latency`; None elsewhere, and in records written before it).
COST_KEYS = ("macs", "gmacs", "params", "params_m", "latency_ms", "latency_batch_ms")


def exempt_from_stopping(name: str | None, calibration: bool | None) -> bool:
    """The one rule for which trials run their whole budget whatever a scheduler says: the anchors
    (the campaign's references; their seeds measure its noise) and the calibration cohort (whose
    full budgets rate the early epochs). Read from a record or a trial's config alike."""
    return bool(name) or bool(calibration)


class RecordError(ValueError):
    """A line of trials.jsonl that is not a trial record this gespace can read."""


@dataclass(frozen=True)
class CostFigures:
    """A point's exact cost: multiply-accumulates and parameters (raw and scaled); and its
    measured forward time in milliseconds at batch 1 and at its training batch, where the campaign
    measures it."""

    macs: int | None = None
    gmacs: float | None = None
    params: int | None = None
    params_m: float | None = None
    latency_ms: float | None = None
    latency_batch_ms: float | None = None

    @classmethod
    def of(cls, cost: Any) -> CostFigures:
        """From a `gespace.cost` result or a mapping with the same names."""
        get = cost.get if isinstance(cost, dict) else lambda key: getattr(cost, key, None)
        return cls(**{key: get(key) for key in COST_KEYS})

    def known(self) -> dict[str, Any]:
        """The figures it has (what a trial's config and results carry)."""
        return {key: value for key, value in dataclasses.asdict(self).items() if value is not None}


@dataclass
class TrialRecord:
    """A finished (or rejected) trial of one point under one seed."""

    id: str
    status: str
    point: dict[str, Any]
    name: str | None = None  # the anchor's name, if the point is one
    seed: int | None = None
    cost: CostFigures = field(default_factory=CostFigures)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    budget: int | None = None  # epochs the point was to train (train.epochs)
    val_error: float | None = None  # at the last epoch trained (None unless MEASURED)
    best_val_error: float | None = None
    test_error: float | None = None  # only for ok records; never used to rank
    reason: str | None = None
    wall_time: float | None = None
    train_time: float | None = None
    setup_time: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    trial_id: str | None = None
    order: int | None = None  # suggestion order (anchors first)
    phase: str = SEARCH
    calibration: bool = False  # of the calibration cohort: full budget whatever the scheduler says
    node: str | None = None  # the Ray node that trained it (None in records written before 2026-12-06)
    # A finished trial's per-image correctness: split ("val", "test") -> `gespace.images.ImageBits`
    # as JSON (None in records of schema 2 and older: their intervals count seeds only).
    images: dict[str, dict[str, Any]] | None = None
    schema: int = SCHEMA

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise RecordError(f"unknown status {self.status!r}; statuses are {', '.join(STATUSES)}")
        if self.val_error is not None and self.status not in MEASURED:
            raise RecordError(f"a {self.status} trial has no validation error of its own (got {self.val_error})")
        if self.phase not in PHASES:
            raise RecordError(f"unknown phase {self.phase!r}; phases are {', '.join(PHASES)}")

    @property
    def unit(self) -> tuple[str, int | None]:
        """What is trained once: a point under a seed."""
        return self.id, self.seed

    @property
    def exempt(self) -> bool:
        """Ran its whole budget whatever the scheduler said (`exempt_from_stopping`)."""
        return exempt_from_stopping(self.name, self.calibration)

    @property
    def measured(self) -> bool:
        """Holds a validation error measured at the end of its training (full or stopped)."""
        return self.status in MEASURED and self.val_error is not None

    @property
    def epochs_done(self) -> int:
        return len(self.epochs)

    @property
    def trained_fully(self) -> bool:
        """Ended ok having trained every epoch of its budget (what effects, proxies and exports read)."""
        return self.status == OK and bool(self.budget) and self.epochs_done >= self.budget

    def bits(self, split: str) -> ImageBits | None:
        """Which images of ``split`` ("val" or "test") it classified right, where recorded."""
        data = (self.images or {}).get(split)
        return ImageBits.from_json(data) if data else None

    def objective(self, name: str) -> float | None:
        """An objective's value: val_error from the record, a cost (gmacs, params_m, latency_ms, ...)
        from its cost."""
        return self.val_error if name == "val_error" else getattr(self.cost, name, None)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrialRecord:
        """A record from its JSON object, upgrading older schemas; RecordError if it is not one."""
        if not isinstance(data, dict):
            raise RecordError("not a JSON object")
        version = data.get("schema", 1)
        if not isinstance(version, int) or version > SCHEMA:
            raise RecordError(f"written with record schema {version!r}; this gespace reads up to {SCHEMA}")
        data = _upgrade_v1(data) if version == 1 else dict(data)
        missing = [key for key in ("id", "status", "point") if key not in data]
        if missing:
            raise RecordError(f"missing {', '.join(missing)}")
        known = {f.name for f in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["cost"] = CostFigures.of(values.get("cost") or {})
        for split, bits in (values.get("images") or {}).items():
            try:
                ImageBits.from_json(bits)
            except (KeyError, TypeError, ValueError, binascii.Error) as err:
                raise RecordError(f"images.{split}: not per-image bits ({err})") from None
        return cls(**values)


def phase_records(records: Sequence[TrialRecord], phase: str) -> list[TrialRecord]:
    """The runs a phase's table is built from.

    The confirmation's are its own runs and the anchors' full-budget search runs
    it did not repeat: anchors are fixed before the search, so their results
    carry no selection and need no fresh seeds.
    """
    if phase == SEARCH or not any(r.phase == CONFIRM for r in records):
        return [r for r in records if r.phase == phase]
    repeated = {r.name for r in records if r.phase == CONFIRM and r.name}
    return [r for r in records
            if r.phase == CONFIRM or (r.phase == SEARCH and r.name and r.name not in repeated)]


def unique_epochs(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first report of each epoch, with the keys a record keeps.

    A trial that ends badly repeats its last good epoch's figures in its final
    report; that repeat is not a new measurement.
    """
    epochs: dict[int, dict[str, Any]] = {}
    for report in history:
        if (report.get("epoch") or 0) >= 1:  # a trial that broke before its first epoch reports epoch 0
            epochs.setdefault(report["epoch"], {k: report[k] for k in EPOCH_KEYS if k in report})
    return list(epochs.values())


def best_error(epochs: list[dict[str, Any]]) -> float | None:
    errors = [e["val_error"] for e in epochs if e.get("val_error") is not None]
    return min(errors) if errors else None


def _upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 (before 2026-11-26) stored a made-up val_error of 1.0 for trials that did not
    finish, also as a repeated last epoch."""
    data = {**data, "schema": 2}
    if data.get("status") not in MEASURED:
        epochs = data.get("epochs") or []
        if len(epochs) >= 2 and epochs[-1].get("epoch") == epochs[-2].get("epoch"):
            epochs = epochs[:-1]
        data["epochs"], data["val_error"], data["best_val_error"] = epochs, None, best_error(epochs)
    if data.get("budget") is None:
        data["budget"] = (data.get("point") or {}).get("train.epochs")
    return data
