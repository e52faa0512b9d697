"""Verdicts on families of comparisons: which differences the runs resolve once the family is
adjusted for, by which procedure, with intervals that agree with the verdict.

**One pair's test** (`Experiment.pair`, ``point - reference`` of one metric):

- points linked by shared seeds: the contrast of the blocked model
  (`search.design`: point + seed), on its residual variance and degrees of
  freedom; this is the paired comparison, its variance 2 sigma^2 (1 - rho) / n
  measured rather than assumed, and wider than the unpaired one when seeds
  correlate negatively;
- points with no seed in common (directly or through others; a confirmed
  point under fresh seeds against an anchor): Welch's t on their own runs;
- where the points' variances differ (Brown-Forsythe p < 0.05 over points with
  3 runs or more), every pair uses its own runs: the paired t over its common
  seeds, else Welch;
- a single run against one without common seeds: the means on the one-way
  pooled noise, the only noise there is;
- where both points' records carry per-image bits for three common seeds or
  more on the same split (`search.components.MIN_SEEDS`): image by image per
  seed, combined over seeds by random effects (`search.components`), which
  counts the test set's own noise and pairs the images; this takes precedence
  over all of the above.

``check_p`` is the plain paired t over the common seeds (Welch without two),
raw, shown beside the verdict as a check on the model.

**Families** (the comparisons of one report section or one table):

- `adjusted`: any family; Holm (default) or Benjamini-Hochberg
  (statsmodels' `multipletests`), or none. The interval printed is the pair's
  t interval at level 1 - alpha p / p_adjusted, which excludes 0 exactly
  when the adjusted p-value is below alpha (for Holm, the step-down's own
  level for that comparison; Bonferroni's simultaneous intervals are wider
  and would disagree with its verdicts).
- `many_to_one` (Dunnett): every point against a control (where the pairs are
  image-wise, the ``--adjust`` procedure on them instead, and the row says so); simultaneous
  intervals from the multivariate t of the contrasts' correlations
  (`scipy.stats.multivariate_t`, as `scipy.stats.dunnett` computes it for a
  one-way layout, which the tests check), on the blocked model's residual
  variance and degrees of freedom.
- `all_pairs` (Tukey's HSD, Tukey-Kramer for unequal seeds): the
  studentized range (`scipy.stats.studentized_range`, as in
  `scipy.stats.tukey_hsd`) on the blocked model's variance and degrees of
  freedom, beside the omnibus F test of the same model (statsmodels'
  `anova_lm`).

A verdict is "better" or "worse" when the interval clears 0; "equal within
m pp" when it lies inside +-m, the equivalence margin (``report:
{equivalence_pp: m}``; two one-sided tests, each at half the interval's
error rate); otherwise "not resolved", with about how many seeds a point
would resolve the difference measured.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import numpy as np
from scipy import optimize, special, stats
from statsmodels.stats.multitest import multipletests

from search.components import MIN_SEEDS, paired_over_images
from search.design import BlockedFit, fit_blocked
from search.statistics import Bits

ALPHA = 0.05
POWER = 0.8
# Below this Brown-Forsythe p-value the points' variances count as unequal (each pair its own).
HETEROGENEITY = 0.05
ADJUSTMENTS = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "unadjusted"}
DUNNETT, TUKEY = "Dunnett", "Tukey HSD"
BETTER, WORSE, UNRESOLVED = "better", "worse", "not resolved"
MOST_SEEDS = 1000  # beyond it a count of seeds says only "a difference near 0": an equivalence margin settles that


@dataclass(frozen=True)
class PairTest:
    """``point`` minus ``reference`` in one metric: estimate, standard error and its df."""

    point: str
    reference: str
    estimate: float
    stderr: float | None  # None: no noise estimate (untestable)
    df: float
    seeds: tuple  # the common seeds
    method: str  # "blocked model", "paired t", "Welch", "means, pooled noise", "untestable"
    check_p: float | None = None
    runs: int = 1  # runs a point: what "seeds to resolve" scales

    @property
    def p(self) -> float | None:
        if not self.stderr:
            return None
        return float(2 * stats.t.sf(abs(self.estimate) / self.stderr, self.df))

    def interval(self, critical: float) -> tuple[float, float] | None:
        if self.stderr is None:
            return None
        return self.estimate - critical * self.stderr, self.estimate + critical * self.stderr

    def critical(self, alpha: float) -> float:
        """The two-sided t quantile at level ``alpha`` (``stats.t.ppf``'s value, as its fast ufunc)."""
        return float(-special.stdtrit(self.df, alpha / 2))  # the lower tail keeps tiny alphas precise


@dataclass(frozen=True)
class Verdict:
    """One comparison of a family: its test, the adjusted p and interval, and what they say."""

    test: PairTest
    procedure: str
    p_adjusted: float | None
    interval: tuple[float, float] | None
    verdict: str

    @property
    def resolved(self) -> bool:
        return self.verdict in (BETTER, WORSE)


class Experiment:
    """One metric's full-budget runs of a set of points (point id -> seed -> value), with the
    blocked model fitted once (``blocks=False``: the one-way layout, seeds ignored)."""

    def __init__(self, runs: Mapping[str, Mapping[int | None, float]], blocks: bool = True,
                 bits: Mapping[str, Bits] | None = None) -> None:
        self.runs = {pid: dict(values) for pid, values in runs.items() if values}
        self.bits = {pid: dict(b) for pid, b in (bits or {}).items() if b}
        self.fit: BlockedFit = fit_blocked(self.runs, blocks)
        self.pooled: BlockedFit = fit_blocked(self.runs, blocks=False)
        groups = [list(v.values()) for v in self.runs.values() if len(v) >= 3]
        self.p_equal_variances = (float(stats.levene(*groups, center="median").pvalue)
                                  if len(groups) >= 2 and any(np.ptp(g) > 0 for g in groups) else None)

    @property
    def equal_variances(self) -> bool:
        return self.p_equal_variances is None or self.p_equal_variances >= HETEROGENEITY

    def mean(self, point: str) -> float:
        return float(np.mean(list(self.runs[point].values())))

    def image_seeds(self, point: str, reference: str) -> tuple:
        """The common seeds under which both points' runs carry bits of one split (``MIN_SEEDS`` or
        more: the pair is compared image by image), else ()."""
        a, b = self.bits.get(point, {}), self.bits.get(reference, {})
        common = tuple(sorted(set(a) & set(b), key=repr))
        splits = {a[s][0] for s in common} | {b[s][0] for s in common}
        return common if len(common) >= MIN_SEEDS and len(splits) == 1 else ()

    def pair(self, point: str, reference: str, check: bool = True) -> PairTest:
        """``point - reference`` (module doc); ``check=False`` leaves out ``check_p`` (costly in bulk)."""
        a, b = self.runs[point], self.runs[reference]
        common = tuple(sorted(set(a) & set(b), key=repr))
        i, j = self.fit.index(point), self.fit.index(reference)
        check = _check_p(a, b, common) if check else None
        runs = min(len(a), len(b))
        image_seeds = self.image_seeds(point, reference)
        if image_seeds:
            # Error differences per (seed, image): (1 - right_point) - (1 - right_reference).
            differences = np.array([self.bits[reference][s][1].astype(float) - self.bits[point][s][1]
                                    for s in image_seeds])
            result = paired_over_images(differences)
            return PairTest(point, reference, result.mean, result.stderr or None, result.df, image_seeds,
                            "images and seeds", check, len(image_seeds))
        if self.equal_variances and self.fit.linked(i, j) and self.fit.known:
            estimate, stderr = self.fit.contrast(i, j)
            return PairTest(point, reference, estimate, stderr, self.fit.df, common, "blocked model", check, runs)
        if not self.equal_variances and len(common) >= 2:
            differences = np.array([a[s] - b[s] for s in common])
            stderr = float(np.std(differences, ddof=1) / math.sqrt(len(common)))
            return PairTest(point, reference, float(differences.mean()), stderr, len(common) - 1, common,
                            "paired t", check, len(common))
        if len(a) >= 2 and len(b) >= 2:
            x, y = np.array(list(a.values())), np.array(list(b.values()))
            va, vb = np.var(x, ddof=1) / len(x), np.var(y, ddof=1) / len(y)
            df = float(stats.ttest_ind(x, y, equal_var=False).df) if va + vb > 0 else 1.0
            return PairTest(point, reference, float(x.mean() - y.mean()), float(math.sqrt(va + vb)), df, common,
                            "Welch", check, runs)
        estimate = self.mean(point) - self.mean(reference)
        if self.pooled.known:
            stderr = self.pooled.sigma * math.sqrt(1 / len(a) + 1 / len(b))
            return PairTest(point, reference, estimate, stderr, self.pooled.df, common, "means, pooled noise",
                            check, runs)
        return PairTest(point, reference, estimate, None, 0, common, "untestable", check, runs)

    def omnibus(self, points: Sequence[str]) -> float | None:
        """The F test that ``points`` all have one mean (blocked model when they share seeds)."""
        import pandas as pd
        import statsmodels.formula.api as smf
        from statsmodels.stats.anova import anova_lm

        rows = [(pid, repr(seed), value) for pid in points for seed, value in self.runs[pid].items()]
        frame = pd.DataFrame(rows, columns=["point", "seed", "y"])
        sub = fit_blocked({pid: self.runs[pid] for pid in points})
        blocked = len(set(sub.component)) == 1 and sub.known and frame.seed.nunique() > 1
        try:
            model = smf.ols("y ~ C(point) + C(seed)" if blocked else "y ~ C(point)", frame).fit()
            if model.df_resid < 1:
                return None
            return float(anova_lm(model, typ=2).loc["C(point)", "PR(>F)"])
        except (ValueError, np.linalg.LinAlgError):
            return None


def _check_p(a: Mapping, b: Mapping, common: tuple) -> float | None:
    """The plain paired t over common seeds (Welch without two of them), raw."""
    if len(common) >= 2:
        differences = [a[s] - b[s] for s in common]
        if np.ptp(differences) > 0:
            return float(stats.ttest_rel([a[s] for s in common], [b[s] for s in common]).pvalue)
    x, y = list(a.values()), list(b.values())
    if len(x) >= 2 and len(y) >= 2 and (np.ptp(x) > 0 or np.ptp(y) > 0):
        return float(stats.ttest_ind(x, y, equal_var=False).pvalue)
    return None


def equal_within(margin: float) -> str:
    """The verdict of an interval that lies inside +-``margin``."""
    return f"equal within {100 * margin:g} pp"


def interval_verdict(low: float, high: float, margin: float | None) -> str | None:
    """What an interval says, the one rule: better or worse when it clears 0, equal when it lies
    within the margin; None when neither."""
    if high < 0 or low > 0:
        return BETTER if high < 0 else WORSE
    if margin and -margin < low and high < margin:
        return equal_within(margin)
    return None


def _judge(test: PairTest, procedure: str, p_adjusted: float | None, critical: float | None,
           margin: float | None, alpha: float) -> Verdict:
    interval = test.interval(critical) if critical is not None else None
    if interval is None:
        return Verdict(test, procedure, p_adjusted, None, f"{UNRESOLVED} (noise unknown)")
    settled = interval_verdict(*interval, margin)
    if settled:
        return Verdict(test, procedure, p_adjusted, interval, settled)
    if abs(test.estimate) > 0 and test.stderr:
        power = float(stats.norm.ppf(POWER))
        needed = math.ceil(test.runs * ((critical + power) * test.stderr / abs(test.estimate)) ** 2)
        seeds = f"about {needed}" if needed <= MOST_SEEDS else f"over {MOST_SEEDS:,}"
        return Verdict(test, procedure, p_adjusted, interval,
                       f"{UNRESOLVED} ({seeds} seeds a point would resolve {100 * abs(test.estimate):.2f} pp)")
    return Verdict(test, procedure, p_adjusted, interval, UNRESOLVED)


def adjusted(tests: Sequence[PairTest], method: str = "holm", margin: float | None = None,
             alpha: float = ALPHA) -> list[Verdict]:
    """A family's verdicts with Holm's, Benjamini-Hochberg's or no adjustment (module doc)."""
    if method not in ADJUSTMENTS:
        raise ValueError(f"unknown adjustment {method!r}; use {', '.join(ADJUSTMENTS)}")
    testable = [k for k, t in enumerate(tests) if t.p is not None]
    raw = np.array([tests[k].p for k in testable])
    if method == "none" or not testable:
        adjusted_p = raw
    else:
        adjusted_p = multipletests(raw, alpha=alpha, method={"holm": "holm", "bh": "fdr_bh"}[method])[1]
    by_test = dict(zip(testable, adjusted_p))
    verdicts = []
    for k, test in enumerate(tests):
        if k not in by_test:
            verdicts.append(_judge(test, ADJUSTMENTS[method], None, None, margin, alpha))
            continue
        p, p_adj = test.p, float(by_test[k])
        level = alpha * p / p_adj if p_adj > 0 else alpha  # excludes 0 exactly when p_adj < alpha
        verdicts.append(_judge(test, ADJUSTMENTS[method], p_adj, test.critical(level), margin, alpha))
    return verdicts


def _joint_ready(experiment: Experiment, points: Sequence[str]) -> bool:
    """Whether a simultaneous procedure can run on the blocked model for ``points`` (not where
    their pairs are compared image by image: those go to the family's adjustment)."""
    fit = experiment.fit
    indices = [fit.index(p) for p in points]
    image_wise = any(experiment.image_seeds(a, b) for a in points for b in points if a != b)
    return (experiment.equal_variances and fit.known and len({fit.component[i] for i in indices}) == 1
            and not image_wise)


def many_to_one(experiment: Experiment, control: str, points: Sequence[str], margin: float | None = None,
                alpha: float = ALPHA, fallback: str = "holm", seed: int = 0) -> list[Verdict]:
    """Dunnett's comparisons of ``points`` with ``control`` (module doc); where the blocked model
    cannot carry them (no shared seeds, unequal variances), the ``fallback`` adjustment."""
    tests = [experiment.pair(p, control) for p in points]
    if not tests:
        return []
    if not _joint_ready(experiment, [control, *points]):
        return [replace(v, procedure=f"{v.procedure} (in place of Dunnett)")
                for v in adjusted(tests, fallback, margin, alpha)]
    fit = experiment.fit
    rows = [fit.index(control)] + [fit.index(p) for p in points]
    contrasts = np.hstack([-np.ones((len(points), 1)), np.eye(len(points))])
    covariance = contrasts @ fit.covariance(rows) @ contrasts.T
    scale = np.sqrt(np.diag(covariance))
    rho = covariance / np.outer(scale, scale)
    statistics = np.array([abs(t.estimate) / t.stderr for t in tests])
    distribution = stats.multivariate_t(shape=rho, df=fit.df, seed=np.random.default_rng(seed))

    def tail(c: np.ndarray) -> float:
        return float(1 - distribution.cdf(c, lower_limit=-c))

    p_values = [tail(np.full(len(points), s)) for s in statistics]
    critical = optimize.brentq(lambda c: tail(np.full(len(points), c)) - alpha, 0.5, 50, xtol=1e-4)
    return [_judge(t, DUNNETT, min(1.0, p), critical, margin, alpha) for t, p in zip(tests, p_values)]


def all_pairs(experiment: Experiment, points: Sequence[str], margin: float | None = None,
              alpha: float = ALPHA, fallback: str = "holm") -> list[Verdict]:
    """Tukey's HSD over every pair of ``points`` (each later point minus each earlier one)."""
    tests = [experiment.pair(b, a) for k, a in enumerate(points) for b in points[k + 1:]]
    if not tests:
        return []
    if not _joint_ready(experiment, points):
        return [replace(v, procedure=f"{v.procedure} (in place of Tukey)")
                for v in adjusted(tests, fallback, margin, alpha)]
    k, df = len(points), experiment.fit.df
    critical = float(stats.studentized_range.ppf(1 - alpha, k, df)) / math.sqrt(2)
    return [_judge(t, TUKEY, float(stats.studentized_range.sf(math.sqrt(2) * abs(t.estimate) / t.stderr, k, df)),
                   critical, margin, alpha) for t in tests]
