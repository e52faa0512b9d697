"""The contract between a campaign and its trials: what a trial is asked to train
(`TrialSpec`, the one thing a Tune config carries), how its end maps to a record's
status (`end_status`), and the one function that makes its `TrialRecord`
(`make_record`), for the campaign's store and the searcher's bookkeeping alike.

Kept free of Ray, Tune and reports: a Ray worker imports it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from gespace.grammar.point import CanonicalPoint
from search.records import (FAILED, MEASURED, OK, STOPPED, CostFigures, TrialRecord, best_error,
                            exempt_from_stopping, unique_epochs)

TRIAL = "trial"  # the key of a Tune config that holds its TrialSpec


@dataclass(frozen=True)
class TrialSettings:
    """Where and how every trial of a campaign trains."""

    campaign_dir: str
    data_root: str | None = None
    device: str = "auto"
    cpus_per_trial: float = 1.0


@dataclass(frozen=True)
class TrialSpec:
    """One Tune trial: a point under a seed, in a campaign's phase."""

    point: CanonicalPoint
    seed: int
    phase: str
    settings: TrialSettings
    name: str | None = None  # the anchor's name, if the point is one
    cost: dict[str, Any] | None = None  # the figures known before training (`CostFigures.known`)
    calibration: bool = False  # of the calibration cohort
    continued: bool = False  # promoted: it resumes its checkpoint
    order: int | None = None  # suggestion order, set when Tune takes it

    @property
    def id(self) -> str:
        return self.point.id

    @property
    def unit(self) -> tuple[str, int]:
        """What is trained once: the point under the seed."""
        return self.point.id, self.seed

    @property
    def exempt(self) -> bool:
        """Runs its whole budget whatever a scheduler says (`exempt_from_stopping`)."""
        return exempt_from_stopping(self.name, self.calibration)

    def config(self, order: int | None = None) -> dict[str, Any]:
        """The Tune config that carries it (taken in suggestion ``order``)."""
        return {TRIAL: replace(self, order=order) if order is not None else self}

    @staticmethod
    def of(config: dict[str, Any]) -> TrialSpec:
        """The spec a Tune config carries."""
        return config[TRIAL]


def end_status(result: dict[str, Any] | None, error: bool = False) -> str:
    """A trial's record status from how it ended: failed for an error; else its final report's
    status, where a trial the scheduler stopped before its last epoch (its last report says
    running, or it made none) is stopped."""
    if error:
        return FAILED
    status = (result or {}).get("status")
    return STOPPED if status in (None, "running") else status


def make_record(spec: TrialSpec, last: dict[str, Any] | None, history: list[dict[str, Any]] | None = None, *,
                status: str | None = None, reason: str | None = None, previous: TrialRecord | None = None,
                trial_id: str | None = None) -> TrialRecord:
    """The record of a finished trial: ``last`` is its last report, ``history`` every report Tune
    saw; ``status`` (default `end_status(last)`) and ``reason`` override what it reported. A
    continued (promoted) trial's record carries its ``previous`` record's epochs and times."""
    last = dict(last or {})
    status = status or end_status(last)
    # A finished trial reports its checkpoint's whole history; one the scheduler stopped, only
    # the epochs Tune saw (a promoted one's earlier epochs are in its previous record).
    epochs = unique_epochs(last.get("history") or history or [])
    before = previous if spec.continued and previous else None
    if before:
        first = epochs[0]["epoch"] if epochs else before.epochs_done + 1
        epochs = [e for e in before.epochs if e["epoch"] < first] + epochs
    if last.get("train_time") is None:  # stopped by the scheduler: no final report, its epochs' times
        new = epochs if not before else epochs[before.epochs_done:]
        last["train_time"] = sum(e.get("epoch_time") or 0.0 for e in new)

    def total(key: str, field: str) -> float | None:
        now, then = last.get(key), getattr(before, field, None)
        return now if then is None or now is None else now + then

    return TrialRecord(
        id=spec.id, status=status, point=spec.point, name=spec.name, seed=spec.seed, phase=spec.phase,
        calibration=spec.calibration, cost=CostFigures.of(spec.cost or {}), epochs=epochs,
        budget=spec.point.get("train.epochs"),
        val_error=last.get("val_error") if status in MEASURED else None,
        best_val_error=best_error(epochs), test_error=last.get("test_error") if status == OK else None,
        images=last.get("images") if status == OK else None,
        reason=reason or last.get("reason"), wall_time=total("time_total_s", "wall_time"),
        train_time=total("train_time", "train_time"), setup_time=total("setup_time", "setup_time"),
        started_at=before.started_at if before else last.get("started_at"), finished_at=last.get("finished_at"),
        trial_id=trial_id, order=before.order if before else spec.order, node=last.get("node"))
