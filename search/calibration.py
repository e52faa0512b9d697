"""Fidelity calibration: do early rankings predict full-budget ones?

The calibration cohort (``--calibrate N``: the anchors and Sobol points, each
trained to the full budget under two seeds whatever the scheduler says) gives,
for every epoch, the points' mean errors after that epoch and at the end. Their
rank correlations (Spearman and Kendall, with percentile-bootstrap intervals
over points) say how far a scheduler may trust a ranking made at that epoch.
The ceiling is the rank correlation between two seeds at the full budget: no
early ranking can predict the final one better than the final one predicts
itself under another seed.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from scipy import stats

from search.records import OK, TrialRecord

CONFIDENCE = 0.95
# `--grace auto` starts decisions at the first epoch whose Spearman interval lies above this.
TRUSTED = 0.5


@dataclass(frozen=True)
class Correlation:
    """Rank correlations of two vectors over points, with bootstrap intervals."""

    epoch: int | None  # None: the seed-vs-seed ceiling at the full budget
    points: int
    spearman: float
    spearman_interval: tuple[float, float]
    kendall: float
    kendall_interval: tuple[float, float]


def _bootstrap(x: np.ndarray, y: np.ndarray, statistic: Callable, resamples: int,
               rng: np.random.Generator) -> tuple[float, float]:
    """Percentile interval over resampled points; resamples with a constant side are skipped."""
    values = []
    for _ in range(resamples):
        index = rng.integers(0, len(x), len(x))
        if np.ptp(x[index]) > 0 and np.ptp(y[index]) > 0:
            values.append(statistic(x[index], y[index]))
    if not values:
        return (float("nan"), float("nan"))
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return float(low), float(high)


def correlate(x: Sequence[float], y: Sequence[float], epoch: int | None, resamples: int = 2000,
              seed: int = 0) -> Correlation:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    rng = np.random.default_rng(seed)

    def spearman(a, b):
        return stats.spearmanr(a, b).statistic

    def kendall(a, b):
        return stats.kendalltau(a, b).statistic

    return Correlation(epoch, len(x), float(spearman(x, y)), _bootstrap(x, y, spearman, resamples, rng),
                       float(kendall(x, y)), _bootstrap(x, y, kendall, resamples, rng))


@dataclass
class Calibration:
    epochs: list[Correlation]  # each epoch before the last against the full budget
    ceiling: Correlation | None
    warnings: list[str] = field(default_factory=list)


def calibrate(records: Sequence[TrialRecord], max_epoch: int, resamples: int = 2000) -> Calibration | None:
    """The calibration of a campaign's cohort (None without at least 4 fully trained points)."""
    by_point: dict[str, list[TrialRecord]] = defaultdict(list)
    for record in records:
        if record.calibration and record.status == OK and record.epochs_done >= max_epoch:
            by_point[record.id].append(record)
    if len(by_point) < 4:
        return None
    groups = list(by_point.values())
    final = [np.mean([r.val_error for r in group]) for group in groups]
    correlations = []
    for epoch in range(1, max_epoch):
        early = [np.mean([r.epochs[epoch - 1]["val_error"] for r in group]) for group in groups]
        correlations.append(correlate(early, final, epoch, resamples))
    paired = [group for group in groups if len(group) >= 2]
    ceiling = None
    if len(paired) >= 4:
        ordered = [sorted(group, key=lambda r: r.seed) for group in paired]
        ceiling = correlate([g[0].val_error for g in ordered], [g[1].val_error for g in ordered], None, resamples)
    calibration = Calibration(correlations, ceiling)
    for c in correlations:
        low, high = c.spearman_interval
        if not low > 0:
            calibration.warnings.append(
                f"epoch {c.epoch}: its ranking is not clearly above chance (Spearman {c.spearman:.2f}, "
                f"95% interval {low:.2f} to {high:.2f}); decisions there are noise")
        elif ceiling is not None and high < ceiling.spearman:
            calibration.warnings.append(
                f"epoch {c.epoch}: its ranking is far below the noise ceiling (Spearman {c.spearman:.2f}, "
                f"at most {high:.2f}, vs {ceiling.spearman:.2f} between two seeds at the full budget)")
    return calibration


def first_trusted_epoch(calibration: Calibration | None, threshold: float = TRUSTED) -> int | None:
    """The first epoch whose Spearman interval clears ``threshold`` (None: none does, or no cohort)."""
    if calibration is None:
        return None
    return next((c.epoch for c in calibration.epochs if c.spearman_interval[0] >= threshold), None)
