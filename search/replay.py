"""Replay recorded learning curves through a scheduler's decisions, without training.

A campaign's ``trials.jsonl`` keeps every trial's per-epoch validation errors;
replaying them through `SuccessiveHalving` in a chosen launch order and with
chosen epoch durations shows, deterministically, which trials a scheduler
would have stopped, promoted and finished. Tests use it to show that the
synchronous mode's decisions do not depend on launch order.

A recorded campaign holds each unit's curve only as far as its own scheduler
let it train: a unit the replay promotes past the end of its recorded curve
has unknown later errors. The replay ends it there as ``truncated`` (gone:
its place is not passed on, as for a unit that fails after its promotion) and
counts it in `Replay.truncated`, so a comparison of schedulers on recorded
campaigns can say how much of it rests on curves that were never trained.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Sequence

from search.records import FAILED, OK, SEARCH, STOPPED, TrialRecord
from search.schedulers import SuccessiveHalving, Unit


@dataclass
class Curve:
    """A unit's validation error after each epoch (index 0: epoch 1) and its exact costs."""

    unit: Unit
    errors: Sequence[float]
    costs: tuple[float, ...] = ()
    exempt: bool = False


def curves_from_records(records: Sequence[TrialRecord], costs: Sequence[str] = ("gmacs",)) -> list[Curve]:
    """The learning curves of a campaign's search phase (what its scheduler decided on), one per
    (point, seed) unit: a promoted unit's records are segments of one curve, so the longest is
    kept; confirmation runs are left out. Exempt units (anchors, the calibration cohort) keep the
    campaign's rule (`search.records.exempt_from_stopping`)."""
    longest: dict[Unit, TrialRecord] = {}
    for record in records:
        if record.phase != SEARCH or record.seed is None:
            continue
        kept = longest.get(record.unit)
        if kept is None or len(record.epochs) > len(kept.epochs):
            longest[record.unit] = record
    curves = []
    for unit, record in longest.items():
        errors = [e["val_error"] for e in record.epochs if e.get("val_error") is not None]
        if errors:
            curves.append(Curve(unit, errors, tuple(getattr(record.cost, c) for c in costs), exempt=record.exempt))
    return curves


@dataclass
class Replay:
    epochs: dict[Unit, int] = field(default_factory=dict)  # epochs each unit trained in the end
    promoted: dict[int, set[Unit]] = field(default_factory=dict)  # rung epoch -> units promoted there
    truncated: set[Unit] = field(default_factory=set)  # promoted past the end of their recorded curve

    def finished(self, max_t: int) -> set[Unit]:
        return {u for u, e in self.epochs.items() if e >= max_t}


def replay(halving: SuccessiveHalving, curves: Sequence[Curve], *, workers: int = 2,
           durations: dict[Unit, float] | None = None, failures: dict[Unit, int] | None = None) -> Replay:
    """Run ``curves`` in their order on ``workers`` simulated slots (an epoch of unit u takes
    ``durations[u]``, default 1) with ``halving`` deciding; a promoted unit continues its curve.
    A unit in ``failures`` fails while training that epoch (it reports nothing for it)."""
    by_unit = {c.unit: c for c in curves}
    pending = list(curves)
    clock, busy = 0.0, []  # heap of (time the unit's next epoch ends, sequence, unit, epoch)
    trained: dict[Unit, int] = {}
    truncated: set[Unit] = set()
    sequence = 0

    def start(unit: Unit, epoch: int) -> None:
        nonlocal sequence
        sequence += 1
        heapq.heappush(busy, (clock + (durations or {}).get(unit, 1.0), sequence, unit, epoch))

    def fill() -> None:
        while len(busy) < workers:
            if not pending:
                halving.done_launching()
            promoted = halving.promotions()  # continued before new units start, as the searcher does
            for unit in promoted:
                if trained[unit] >= len(by_unit[unit].errors):  # its later errors were never recorded
                    truncated.add(unit)
                    halving.end(unit, trained[unit], "truncated")
                    continue
                halving.add(unit)
                start(unit, trained[unit] + 1)
            if promoted:
                continue
            if not pending:
                return
            curve = pending.pop(0)
            halving.add(curve.unit, exempt=curve.exempt)
            start(curve.unit, 1)

    fill()
    while busy:
        clock, _, unit, epoch = heapq.heappop(busy)
        curve = by_unit[unit]
        if (failures or {}).get(unit) == epoch:
            halving.end(unit, epoch - 1, FAILED)
            fill()
            continue
        trained[unit] = epoch
        go_on = halving.result(unit, epoch, (curve.errors[epoch - 1],) + tuple(curve.costs))
        if go_on and epoch < halving.max_t and epoch < len(curve.errors):
            start(unit, epoch + 1)
        elif go_on and epoch < halving.max_t:  # continued past its recorded curve
            truncated.add(unit)
            halving.end(unit, epoch, "truncated")
        else:
            halving.end(unit, epoch, OK if epoch >= halving.max_t else STOPPED)
        fill()
    return Replay(trained, {r.epoch: set(r.promoted) for r in halving.rungs}, truncated)
