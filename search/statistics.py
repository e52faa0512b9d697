"""How much of a campaign's table is noise: seed noise, intervals, Pareto probabilities, power.

The model is the one-way layout of a designed experiment: a point's validation
error under seed s is its true error plus seed noise of one standard deviation
sigma shared by every point of the campaign at one budget. sigma is estimated by
pooling the within-point variances of the points trained under several seeds
(the anchors always are), so that

- a point's mean error over its n seeds has standard error sigma / sqrt(n) and a
  t interval with the pooled degrees of freedom: more seeds always narrow it,
  and a point trained under one seed still gets an honest interval (marked, as
  its own noise was not measured);
- a paired difference between two points over their n common seeds (seed i
  gives every point the same data order, augmentation and initial weights) is
  given standard error sigma * sqrt(2 / n), the unpaired one: the paired
  variance 2 sigma^2 (1 - rho) / n is smaller only when the seeds correlate
  positively (measured rho: +0.12 and -0.04 in results/answer), so this is not
  a bound; two points with no seed in common (a confirmed point under
  fresh seeds against an anchor trained once, in the search) are compared by
  their means, standard error sigma * sqrt(1 / n1 + 1 / n2);
- ``p_front``, a point's probability of being on the Pareto front, resamples
  every point's mean error from its t distribution (costs are exact) and
  counts the draws in which nothing dominates it.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
from scipy import stats

from gespace.objectives import DEFAULT_OBJECTIVES
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


def noise_spread(summaries: Sequence[PointSummary]) -> Spread:
    """Per-point standard deviations of validation error, and whether they differ more than noise."""
    groups = {s.id: np.array(list(s.errors.values())) for s in summaries if len(s.errors) >= 2}
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
    """A mean over seeds, its standard error and degrees of freedom (None: noise unknown)."""

    mean: float
    n: int
    stderr: float | None
    df: int

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
    records: list[TrialRecord] = field(default_factory=list, repr=False)

    @property
    def single_seed(self) -> bool:
        return len(self.errors) == 1

    def objective(self, name: str) -> float | None:
        return self.error.mean if name == "val_error" else getattr(self.cost, name, None)


def summarise(records: Iterable[TrialRecord], noise: Noise) -> list[PointSummary]:
    """Full-budget records grouped by point (in first-seen order), each with its error estimate
    (test errors with the seed noise of test error, pooled the same way)."""
    groups: dict[str, list[TrialRecord]] = {}
    for record in full_budget(records):
        groups.setdefault(record.id, []).append(record)
    tests = {pid: {r.seed: r.test_error for r in group if r.test_error is not None}
             for pid, group in groups.items()}
    test_noise = pooled_noise(list(t.values()) for t in tests.values())
    summaries = []
    for pid, group in groups.items():
        errors = {r.seed: r.val_error for r in group}
        summaries.append(PointSummary(
            pid, group[0].name, group[0].point, group[0].cost, errors, tests[pid],
            estimate(list(errors.values()), noise),
            estimate(list(tests[pid].values()), test_noise) if tests[pid] else None, records=group))
    return summaries


def p_front(summaries: Sequence[PointSummary], objectives: Sequence[str] = DEFAULT_OBJECTIVES,
            draws: int = 4000, seed: int = 0) -> np.ndarray:
    """Each point's probability of being on the Pareto front, by resampling mean errors.

    Costs are exact; each point's mean validation error is drawn from its t
    distribution (mean + stderr * T(df)). Without a noise estimate the front is
    taken as measured (probabilities 0 or 1).
    """
    if not summaries:
        return np.zeros(0)
    rng = np.random.default_rng(seed)
    fixed = np.array([[s.objective(o) for o in objectives] for s in summaries], dtype=float)
    probability = np.zeros(len(summaries))
    # Draws go in chunks that bound the general rule's (d, i, j, m) array; the chunks also fix the
    # order the draws take from the random stream, so figures stay reproducible across versions.
    chunk = max(1, 2_000_000 // (len(summaries) ** 2 * len(objectives)))
    noisy = [j for j, s in enumerate(summaries) if s.error.stderr]
    means = np.array([[summaries[j].error.mean] for j in noisy])
    scales = np.array([[summaries[j].error.stderr] for j in noisy])
    dfs = np.array([[summaries[j].error.df] for j in noisy])
    column = list(objectives).index("val_error") if "val_error" in objectives else None
    done = 0
    while done < draws:
        count = min(chunk, draws - done)
        values = np.repeat(fixed[None], count, axis=0)
        if column is not None and noisy:  # one draw per noisy point, point by point, as it always was
            drawn = means + scales * stats.t.rvs(dfs, size=(len(noisy), count), random_state=rng)
            values[:, noisy, column] = drawn.T
        probability += non_dominated(values, objectives).sum(0)  # nothing dominates it in that draw
        done += count
    return probability / draws


def with_p_front(summaries: list[PointSummary], objectives: Sequence[str] = DEFAULT_OBJECTIVES,
                 draws: int = 4000, seed: int = 0) -> list[PointSummary]:
    for summary, probability in zip(summaries, p_front(summaries, objectives, draws, seed)):
        summary.p_front = float(probability)
    return summaries


BETTER, WORSE, UNRESOLVED = "better", "worse", "not resolved at this budget"


@dataclass(frozen=True)
class Comparison:
    """A point's validation error minus a reference's, paired over their common seeds."""

    point: str
    reference: str
    seeds: tuple[int, ...]  # common seeds; () when compared unpaired
    difference: Estimate | None  # None: noise unknown, or a point without results

    @property
    def verdict(self) -> str:
        interval = self.difference.interval() if self.difference else None
        if interval is None:
            return UNRESOLVED
        low, high = interval
        return BETTER if high < 0 else WORSE if low > 0 else UNRESOLVED


def paired_difference(point: PointSummary, reference: PointSummary, noise: Noise) -> Comparison:
    """``point`` minus ``reference`` over common seeds, stderr sigma * sqrt(2 / n); without a
    common seed, the difference of their means, stderr sigma * sqrt(1 / n1 + 1 / n2) (module doc)."""
    seeds = tuple(sorted(set(point.errors) & set(reference.errors)))
    if seeds:
        differences = [point.errors[s] - reference.errors[s] for s in seeds]
        pair_noise = Noise(noise.sigma * math.sqrt(2), noise.df, noise.points) if noise.known else noise
        return Comparison(point.id, reference.id, seeds, estimate(differences, pair_noise))
    if not point.errors or not reference.errors:
        return Comparison(point.id, reference.id, seeds, None)
    n, m = len(point.errors), len(reference.errors)
    stderr = noise.sigma * math.sqrt(1 / n + 1 / m) if noise.known else None
    mean = float(np.mean(list(point.errors.values())) - np.mean(list(reference.errors.values())))
    return Comparison(point.id, reference.id, seeds, Estimate(mean, min(n, m), stderr, noise.df))


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
