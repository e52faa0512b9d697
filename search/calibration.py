"""Fidelity calibration: do early rankings predict full-budget ones?

The calibration cohort (``--calibrate N``: the anchors and Sobol points, each
trained to the full budget under two seeds whatever the scheduler says) rates
every epoch k by the rank correlation (Spearman and Kendall, with
percentile-bootstrap intervals over points; Fisher-z ones above
BOOTSTRAP_POINTS points) between the points' errors after
epoch k and at the full budget: how far a scheduler may trust a ranking made at k.

Across seeds. Epoch k under one seed is set against the full budget under
another: the figure is the mean, over the ordered pairs (a, b) of distinct
seeds, of the correlation between the errors at k under a and at the end under
b, over the points trained under both (points with one seed are left out, and
pairs of seeds that fewer than 4 points share). Within one run the early and the
final error share that run's seed effect (its initialisation, its data order),
so a same-run correlation grows with the seed noise even where epoch k knows
nothing of the point: a cohort whose epoch 1 carries no information can score
0.8 or more that way. Across seeds that shared noise is gone and what is left is
what epoch k knows of the point itself. The same-run figure (the means over
seeds at k against the means at the end) is kept, for display only, in
`Calibration.same_seed`.

The ceiling is the rank correlation between two seeds at the full budget (the
same mean over seed pairs). With a point's final error its expected error T
plus its run's noise, the ceiling estimates r = var T / var(final), and epoch
k's cross-seed figure is corr(epoch k, T) times sqrt(r) (for linear correlations;
about so for rank ones): at most sqrt(r), reached by an epoch that ranks the
points by T itself. An epoch may beat the ceiling (seeing T with less seed
noise than the full budget does) but not its square root; a figure above that
is the noise of a small cohort, and is warned of.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import permutations
from typing import Callable, Sequence

import numpy as np
from scipy import stats

from search.records import OK, TrialRecord

CONFIDENCE = 0.95
# `--grace auto` starts decisions at the first epoch whose Spearman interval lies above this.
TRUSTED = 0.5
# Points (and, for a pair of seeds, points trained under both) a calibration needs.
MIN_POINTS = 4
# Above this many points the intervals are Fisher-z ones with Fieller, Hartley and Pearson's (1957)
# variances, 1.06 / (n - 3) for Spearman and 0.437 / (n - 4) for Kendall: accurate at that size, where a
# bootstrap of Kendall's n^2 pairs would take minutes.
BOOTSTRAP_POINTS = 150
FISHER_VARIANCE = {"spearman": (1.06, 3), "kendall": (0.437, 4)}

# Statistics take arrays whose last axis runs over points (nan: a point left out) and give one value per
# row: a resample each, in a bootstrap.
Statistic = Callable[[np.ndarray, np.ndarray], np.ndarray]
# A statistic's value over the points at an index (the whole cohort, or resamples of it, one a row).
Rated = Callable[[Statistic, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Correlation:
    """Rank correlations over points, with bootstrap intervals."""

    epoch: int | None  # None: the seed-vs-seed ceiling at the full budget
    points: int
    spearman: float
    spearman_interval: tuple[float, float]
    kendall: float
    kendall_interval: tuple[float, float]


def _joint(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y with nan wherever either has one: the points both sides have."""
    missing = np.isnan(x) | np.isnan(y)
    return np.where(missing, np.nan, x), np.where(missing, np.nan, y)


def _spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho (Pearson's r of the ranks, ties averaged: scipy.stats.spearmanr's); nan where a
    side is constant."""
    x, y = (stats.rankdata(v, axis=-1, nan_policy="omit") for v in _joint(x, y))
    count = np.sum(~np.isnan(x), axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        x, y = x - np.nansum(x, axis=-1, keepdims=True) / count, y - np.nansum(y, axis=-1, keepdims=True) / count
        return np.nansum(x * y, axis=-1) / np.sqrt(np.nansum(x * x, axis=-1) * np.nansum(y * y, axis=-1))


def _kendall(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b (scipy.stats.kendalltau's default) from the signs of all pairs of points; nan where a side
    is constant."""
    x, y = _joint(x, y)
    sx, sy = np.sign(x[..., :, None] - x[..., None, :]), np.sign(y[..., :, None] - y[..., None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nansum(sx * sy, axis=(-2, -1)) / np.sqrt(
            np.nansum(sx * sx, axis=(-2, -1)) * np.nansum(sy * sy, axis=(-2, -1)))


def _interval(value: Callable[[np.ndarray], np.ndarray], points: int, resamples: int,
              rng: np.random.Generator) -> tuple[float, float]:
    """Percentile interval over resampled points; resamples where the value is undefined are skipped."""
    index = rng.integers(0, points, (resamples, points))
    blocks = max(1, resamples * points * points // 1_000_000)  # Kendall's pairs of points, a million at a time
    values = np.concatenate([value(block) for block in np.array_split(index, blocks)])
    values = values[~np.isnan(values)]
    if not len(values):
        return (float("nan"), float("nan"))
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def fisher_interval(value: float, points: int, kind: str) -> tuple[float, float]:
    """The large-sample interval of a rank correlation: Fisher's z with ``FISHER_VARIANCE``."""
    factor, offset = FISHER_VARIANCE[kind]
    half = stats.norm.ppf(0.5 + CONFIDENCE / 2) * math.sqrt(factor / (points - offset))
    z = math.atanh(min(max(value, -0.999999), 0.999999))
    return math.tanh(z - half), math.tanh(z + half)


def _rate(rated: Rated, points: int, epoch: int | None, resamples: int, seed: int = 0) -> Correlation:
    rng = np.random.default_rng(seed)

    def figures(statistic: Statistic) -> tuple[float, tuple[float, float]]:
        value = float(rated(statistic, np.arange(points)))
        if points > BOOTSTRAP_POINTS:
            return value, fisher_interval(value, points, statistic.__name__.removeprefix("_"))
        return value, _interval(lambda index: rated(statistic, index), points, resamples, rng)

    return Correlation(epoch, points, *figures(_spearman), *figures(_kendall))


def correlate(x: Sequence[float], y: Sequence[float], epoch: int | None, resamples: int = 2000,
              seed: int = 0) -> Correlation:
    """Rank correlations of two vectors over points."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return _rate(lambda statistic, index: statistic(x[index], y[index]), len(x), epoch, resamples, seed)


def seed_pairs(final: np.ndarray) -> list[tuple[int, int]]:
    """The ordered pairs of distinct seeds (columns of a points x seeds array, nan where a point
    lacks the seed) that at least MIN_POINTS points share."""
    shared = ~np.isnan(final)
    return [(a, b) for a, b in permutations(range(final.shape[1]), 2)
            if np.sum(shared[:, a] & shared[:, b]) >= MIN_POINTS]


def cross_seed(early: np.ndarray, final: np.ndarray, pairs: list[tuple[int, int]], epoch: int | None,
               resamples: int = 2000) -> Correlation:
    """Epoch k under one seed against the full budget under another (points x seeds arrays of errors):
    the mean over the ordered seed pairs (a, b) of the correlation of k under a with the end under b,
    each over the points with both."""
    def rated(statistic: Statistic, index: np.ndarray) -> np.ndarray:
        return np.mean([statistic(early[index][..., a], final[index][..., b]) for a, b in pairs], axis=0)

    return _rate(rated, len(final), epoch, resamples)


@dataclass
class Calibration:
    epochs: list[Correlation]  # each epoch before the last under one seed vs the full budget under another
    ceiling: Correlation  # seed vs seed at the full budget
    # Each epoch vs the full budget within the same runs (means over seeds): for display only, as it is
    # inflated by each run's own seed effect, which its early and final errors share.
    same_seed: list[Correlation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def calibrate(records: Sequence[TrialRecord], max_epoch: int, resamples: int = 2000) -> Calibration | None:
    """The calibration of a campaign's cohort (None without at least 4 points fully trained under 2 seeds)."""
    by_point: dict[str, dict[int | None, TrialRecord]] = defaultdict(dict)
    for record in records:
        if record.calibration and record.status == OK and record.measured and record.epochs_done >= max_epoch:
            by_point[record.id][record.seed] = record
    runs = [point for point in by_point.values() if len(point) >= 2]
    seeds = list(dict.fromkeys(seed for point in runs for seed in point))

    def table(error: Callable[[TrialRecord], float | None]) -> np.ndarray:
        """Points x seeds, nan where a point lacks the seed."""
        return np.array([[error(point[s]) if s in point else None for s in seeds] for point in runs], dtype=float)

    final = table(lambda r: r.val_error)
    pairs = seed_pairs(final) if len(runs) >= MIN_POINTS else []
    if not pairs:
        return None
    calibration = Calibration([], cross_seed(final, final, pairs, None, resamples))
    ceiling = calibration.ceiling
    for epoch in range(1, max_epoch):
        early = table(lambda r: r.epochs[epoch - 1]["val_error"])
        calibration.epochs.append(cross_seed(early, final, pairs, epoch, resamples))
        calibration.same_seed.append(
            correlate(np.nanmean(early, axis=1), np.nanmean(final, axis=1), epoch, resamples))
    bound = math.sqrt(max(ceiling.spearman, 0.0))
    for c in calibration.epochs:
        low, high = c.spearman_interval
        if not low > 0:
            calibration.warnings.append(
                f"epoch {c.epoch}: its ranking is not clearly above chance (Spearman {c.spearman:.2f}, "
                f"95% interval {low:.2f} to {high:.2f}); decisions there are noise")
        elif high < ceiling.spearman:
            calibration.warnings.append(
                f"epoch {c.epoch}: its ranking is far below the noise ceiling (Spearman {c.spearman:.2f}, "
                f"at most {high:.2f}, vs {ceiling.spearman:.2f} between two seeds at the full budget)")
        if c.spearman > bound + 1e-9:
            calibration.warnings.append(
                f"epoch {c.epoch}: its ranking predicts another seed's final one better than seed noise allows "
                f"(Spearman {c.spearman:.2f} above {bound:.2f}, the square root of the ceiling "
                f"{ceiling.spearman:.2f}); the excess is noise of a small cohort")
    return calibration


def first_trusted_epoch(calibration: Calibration | None, threshold: float = TRUSTED) -> int | None:
    """The first epoch whose cross-seed Spearman interval clears ``threshold`` (None: none does, or no cohort)."""
    if calibration is None:
        return None
    return next((c.epoch for c in calibration.epochs if c.spearman_interval[0] >= threshold), None)
