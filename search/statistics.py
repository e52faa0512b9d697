"""How much of a campaign's table is noise: seed noise, intervals, Pareto probabilities, power.

A point's validation error under seed s is its true error plus seed noise of
one standard deviation sigma shared by every point of the campaign at one
budget. For a point's own error, sigma is estimated by pooling the
within-point variances of the points trained under several seeds (the anchors
always are), so that a point's mean error over its n seeds has standard error
sigma / sqrt(n) and a t interval with the pooled degrees of freedom; a point
trained under one seed still gets an honest interval (marked, as its own noise
was not measured).

Differences between points are `search.verdicts`' (the blocked model of
`search.design`, Welch where no seed is shared, families adjusted).

``p_front``, a point's probability of being on the Pareto front, and
``p_best``, of having the lowest error, draw every point's error jointly from
the blocked model's posterior (flat prior): one sigma per draw from its scaled
inverse chi-square, the seed effects shared by the points that share seeds,
each point's own noise; costs are exact, equal within their tolerance
(`gespace.objectives.cost_tolerances`). 10,000 draws hold their Monte Carlo
standard error under 0.005.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
from scipy import stats

from gespace.objectives import DEFAULT_OBJECTIVES
from search.components import MIN_SEEDS, two_way
from search.design import fit_blocked
from search.pareto import non_dominated
from search.records import OK, CostFigures, TrialRecord

CONFIDENCE = 0.95
POWER = 0.8


@dataclass(frozen=True)
class Noise:
    """Pooled within-point standard deviation of validation error, with its degrees of freedom."""

    sigma: float | None
    df: int = 0
    points: int = 0  # points with two seeds or more that it pools

    @property
    def known(self) -> bool:
        return self.sigma is not None and self.df > 0

    def quantile(self, level: float) -> float:
        return float(stats.t.ppf(level, self.df))

    def interval(self, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
        """sigma's own confidence interval: (df s^2 / sigma^2 is chi-square with df degrees)."""
        if not self.known:
            return None
        tail = (1 - confidence) / 2
        return (self.sigma * math.sqrt(self.df / stats.chi2.ppf(1 - tail, self.df)),
                self.sigma * math.sqrt(self.df / stats.chi2.ppf(tail, self.df)))


def pooled_noise(groups: Iterable[Sequence[float]]) -> Noise:
    """Pool the sample variances of groups (a point's errors under its seeds); groups of one add nothing."""
    squares, df, points = 0.0, 0, 0
    for values in groups:
        if len(values) >= 2:
            squares += float(np.var(values, ddof=1)) * (len(values) - 1)
            df += len(values) - 1
            points += 1
    return Noise(math.sqrt(squares / df) if df else None, df, points)


@dataclass(frozen=True)
class Spread:
    """How the seed noise varies between points: their own standard deviations, and the
    Brown-Forsythe test (Levene's, around medians) of equal variances across them."""

    sds: dict[str, float]  # point id -> its seeds' sample standard deviation
    p_equal: float | None  # None: untestable (fewer than two points with two seeds, or two seeds each)


def noise_spread(runs: Mapping[str, Mapping[int | None, float]]) -> Spread:
    """Per-point standard deviations (point id -> seed -> value), and whether they differ more than noise."""
    groups = {pid: np.array(list(values.values())) for pid, values in runs.items() if len(values) >= 2}
    sds = {pid: float(np.std(values, ddof=1)) for pid, values in groups.items()}
    # The test compares the points' absolute deviations from their medians; where they are
    # constant within every point (two seeds a point: both deviate by half their range) it is
    # undefined.
    constant = all(np.allclose(deviation, deviation[0], rtol=1e-9, atol=1e-12)
                   for deviation in (np.abs(v - np.median(v)) for v in groups.values()))
    if len(groups) < 2 or constant:
        return Spread(sds, None)
    return Spread(sds, float(stats.levene(*groups.values(), center="median").pvalue))


def full_budget(records: Iterable[TrialRecord]) -> list[TrialRecord]:
    """Records that trained their whole budget: the only ones that rank."""
    return [r for r in records if r.status == OK and r.val_error is not None]


def campaign_noise(records: Iterable[TrialRecord]) -> Noise:
    """The seed noise of full-budget validation error."""
    by_point: dict[str, list[float]] = defaultdict(list)
    for record in full_budget(records):
        by_point[record.id].append(record.val_error)
    return pooled_noise(by_point.values())


def noise_by_epoch(records: Iterable[TrialRecord]) -> dict[int, Noise]:
    """The seed noise of validation error after each epoch, from every trial that reached it."""
    by_epoch: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        for epoch in record.epochs:
            if epoch.get("val_error") is not None:
                by_epoch[epoch["epoch"]][record.id].append(epoch["val_error"])
    return {e: pooled_noise(groups.values()) for e, groups in sorted(by_epoch.items())}


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds, its standard error and degrees of freedom (None: noise unknown);
    ``images``: the interval counts the evaluation images as well as the seeds."""

    mean: float
    n: int
    stderr: float | None
    df: float
    images: bool = False

    def interval(self, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
        if self.stderr is None:
            return None
        half = float(stats.t.ppf(0.5 + confidence / 2, self.df)) * self.stderr
        return self.mean - half, self.mean + half


def estimate(values: Sequence[float], noise: Noise) -> Estimate:
    """The mean of ``values`` (one per seed) with the pooled noise's standard error."""
    n = len(values)
    stderr = noise.sigma / math.sqrt(n) if noise.known else None
    return Estimate(float(np.mean(values)), n, stderr, noise.df)


Bits = dict[int, tuple[str, np.ndarray]]  # seed -> (the split's identity, one bool per image: right)


def image_estimate(bits: Bits) -> Estimate | None:
    """The error over seeds and images with the two-way random model's interval
    (`search.components`), for ``MIN_SEEDS`` seeds or more on one split; None otherwise."""
    if len(bits) < MIN_SEEDS or len({split for split, _ in bits.values()}) != 1:
        return None
    result = two_way(np.array([~correct for _, correct in bits.values()], dtype=float))
    return Estimate(result.mean, result.seeds, result.stderr, result.df, images=True)


def record_bits(records: Iterable[TrialRecord], split: str) -> Bits:
    """The per-image bits of ``split`` that ``records`` (one point's runs) carry, by seed."""
    found = {}
    for record in records:
        bits = record.bits(split)
        if bits is not None:
            found[record.seed] = (bits.split, bits.correct())
    return found


@dataclass
class PointSummary:
    """One point's full-budget results over its seeds."""

    id: str
    name: str | None
    point: dict
    cost: CostFigures
    errors: dict[int, float]  # seed -> validation error
    tests: dict[int, float]  # seed -> test error (shown, never used to rank)
    error: Estimate
    test: Estimate | None
    p_front: float | None = None
    p_best: float | None = None  # probability of the lowest validation error
    records: list[TrialRecord] = field(default_factory=list, repr=False)
    bits: dict[str, Bits] = field(default_factory=dict, repr=False)  # "val", "test" -> per-image bits

    @property
    def single_seed(self) -> bool:
        return len(self.errors) == 1

    def objective(self, name: str) -> float | None:
        return self.error.mean if name == "val_error" else getattr(self.cost, name, None)


def summarise(records: Iterable[TrialRecord], noise: Noise) -> list[PointSummary]:
    """Full-budget records grouped by point (in first-seen order), each with its error estimate
    (test errors with the seed noise of test error, pooled the same way). Where a point's runs
    carry per-image bits under two seeds or more, its intervals count the images too
    (`image_estimate`); else the seeds alone."""
    groups: dict[str, list[TrialRecord]] = {}
    for record in full_budget(records):
        groups.setdefault(record.id, []).append(record)
    tests = {pid: {r.seed: r.test_error for r in group if r.test_error is not None}
             for pid, group in groups.items()}
    test_noise = pooled_noise(list(t.values()) for t in tests.values())
    summaries = []
    for pid, group in groups.items():
        errors = {r.seed: r.val_error for r in group}
        bits = {split: record_bits(group, split) for split in ("val", "test")}
        val = image_estimate(bits["val"]) if len(bits["val"]) == len(errors) else None
        test = image_estimate(bits["test"]) if len(bits["test"]) == len(tests[pid]) else None
        summaries.append(PointSummary(
            pid, group[0].name, group[0].point, group[0].cost, errors, tests[pid],
            val or estimate(list(errors.values()), noise),
            test or (estimate(list(tests[pid].values()), test_noise) if tests[pid] else None),
            records=group, bits=bits))
    return summaries


DRAWS = 10_000


@dataclass(frozen=True)
class FrontOdds:
    """Each point's probability of being on the Pareto front and of having the lowest error."""

    p_front: np.ndarray
    p_best: np.ndarray
    draws: int

    @property
    def monte_carlo_error(self) -> float:
        """The largest Monte Carlo standard error of any of the probabilities."""
        if not self.draws:
            return 0.0
        p = np.concatenate([self.p_front, self.p_best])
        return float(np.sqrt(p * (1 - p) / self.draws).max(initial=0.0))


def p_front(summaries: Sequence[PointSummary], objectives: Sequence[str] = DEFAULT_OBJECTIVES,
            draws: int = DRAWS, seed: int = 0, tolerance: Mapping[str, float] | None = None) -> FrontOdds:
    """p_front and p_best by joint draws of the points' errors (module doc). Without a noise
    estimate the front and the best are taken as measured (probabilities 0 or 1, draws 0)."""
    if not summaries:
        return FrontOdds(np.zeros(0), np.zeros(0), 0)
    fixed = np.array([[s.objective(o) for o in objectives] for s in summaries], dtype=float)
    column = list(objectives).index("val_error") if "val_error" in objectives else None
    fit = fit_blocked({str(k): s.errors for k, s in enumerate(summaries)})
    if not fit.known or len(fit.ids) < len(summaries):
        means = np.array([s.error.mean for s in summaries])
        best = (means == means.min()).astype(float)
        return FrontOdds(non_dominated(fixed, objectives, tolerance=tolerance).astype(float),
                         best / best.sum(), 0)
    rng = np.random.default_rng(seed)
    shared = fit.loadings @ fit.sqrt_seed_covariance()  # [P, S]: how the seed effects move each point
    own = 1 / np.sqrt(fit.counts)
    front, best = np.zeros(len(summaries)), np.zeros(len(summaries))
    chunk = max(1, min(draws, 2_000_000 // len(summaries)))
    done = 0
    while done < draws:
        count = min(chunk, draws - done)
        sigma = fit.sigma * np.sqrt(fit.df / rng.chisquare(fit.df, size=(count, 1)))
        unit = rng.standard_normal((count, len(summaries))) * own
        if shared.shape[1]:
            unit += rng.standard_normal((count, shared.shape[1])) @ shared.T
        errors = fit.effects + sigma * unit  # [count, P]
        best += np.bincount(errors.argmin(1), minlength=len(summaries))
        if column is not None:
            values = np.repeat(fixed[None], count, axis=0)
            values[..., column] = errors
            front += non_dominated(values, objectives, tolerance=tolerance).sum(0)
        else:
            front += count * non_dominated(fixed, objectives, tolerance=tolerance)
        done += count
    return FrontOdds(front / draws, best / draws, draws)


def with_p_front(summaries: list[PointSummary], objectives: Sequence[str] = DEFAULT_OBJECTIVES,
                 draws: int = DRAWS, seed: int = 0, tolerance: Mapping[str, float] | None = None) -> FrontOdds:
    """Set each summary's p_front and p_best (`p_front`); returns the odds, for their Monte Carlo error."""
    odds = p_front(summaries, objectives, draws, seed, tolerance)
    for summary, front, best in zip(summaries, odds.p_front, odds.p_best):
        summary.p_front, summary.p_best = float(front), float(best)
    return odds


def resolvable_difference(noise: Noise, seeds: int, confidence: float = CONFIDENCE,
                          power: float = POWER) -> float | None:
    """The smallest true paired difference that ``seeds`` common seeds resolve with ``power``."""
    if not noise.known:
        return None
    factor = noise.quantile(0.5 + confidence / 2) + noise.quantile(power)
    return factor * noise.sigma * math.sqrt(2 / seeds)


def seeds_to_resolve(noise: Noise, difference: float, confidence: float = CONFIDENCE,
                     power: float = POWER) -> int | None:
    """Common seeds a paired comparison needs to resolve ``difference`` with ``power``."""
    if not noise.known or difference <= 0:
        return None
    factor = noise.quantile(0.5 + confidence / 2) + noise.quantile(power)
    return max(1, math.ceil(2 * (factor * noise.sigma / difference) ** 2))
