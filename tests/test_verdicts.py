"""Verdicts against maintained implementations and hand computations: the blocked model against
statsmodels' OLS, Holm and Benjamini-Hochberg on a given p-vector, Dunnett and Tukey against
scipy on a one-way layout and against the textbook formulas on a blocked one, Welch against scipy,
pairing that widens an interval, equivalence."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from search.design import fit_blocked
from search.verdicts import (BETTER, DUNNETT, TUKEY, WORSE, Experiment, PairTest, adjusted, all_pairs,
                             many_to_one)


def test_the_blocked_fit_is_statsmodels_ols_with_point_and_seed():
    """An incomplete block design (a point under seeds 1 and 2 only, two under seed 0 only):
    contrasts, their standard errors, the residual SD and df equal ``ols("y ~ C(point) + C(seed)")``."""
    rng = np.random.default_rng(1)
    seeds = {0: [0, 1, 2], 1: [0, 1, 2], 2: [0, 1, 2], 3: [1, 2], 4: [0], 5: [0]}
    runs = {f"p{p}": {s: 0.1 + 0.01 * p + 0.02 * s + rng.normal(0, 0.01) for s in ss} for p, ss in seeds.items()}
    fit = fit_blocked(runs)
    frame = pd.DataFrame([(pid, s, v) for pid, d in runs.items() for s, v in d.items()], columns=["point", "seed", "y"])
    model = smf.ols("y ~ C(point) + C(seed)", frame).fit()
    assert fit.df == model.df_resid == 5 and fit.sigma == pytest.approx(math.sqrt(model.scale), rel=1e-10)
    names = list(model.params.index)
    for i, j in [(1, 0), (4, 2), (5, 3), (3, 0)]:
        contrast = np.zeros(len(names))
        for k, sign in ((i, 1), (j, -1)):
            if k:
                contrast[names.index(f"C(point)[T.p{k}]")] += sign
        expected = model.t_test(contrast)
        estimate, stderr = fit.contrast(i, j)
        assert estimate == pytest.approx(float(expected.effect[0]), rel=1e-9)
        assert stderr == pytest.approx(float(expected.sd[0][0]), rel=1e-9)
    # A point under seeds no other point has is linked to none.
    alone = fit_blocked({**runs, "q": {7: 0.2, 8: 0.21}})
    assert not alone.linked(alone.index("q"), 0) and alone.linked(1, 5)


def with_p_values(p_values, df=10_000):
    """PairTests whose two-sided t p-values are ``p_values`` (stderr 1)."""
    return [PairTest(f"x{k}", "ref", float(stats.t.isf(p / 2, df)), 1.0, df, (), "blocked model")
            for k, p in enumerate(p_values)]


def test_holm_and_benjamini_hochberg_on_a_given_p_vector():
    # Holm: sorted .005 .01 .03 .04 times 4 3 2 1 -> .02 .03 .06 .04, made monotone -> .02 .03 .06 .06.
    # BH: times 4/1 4/2 4/3 4/4 -> .02 .02 .04 .04, minimum from the largest down.
    p = [0.01, 0.04, 0.03, 0.005]
    holm = adjusted(with_p_values(p), "holm")
    assert [v.p_adjusted for v in holm] == pytest.approx([0.03, 0.06, 0.06, 0.02], rel=1e-6)
    assert [v.resolved for v in holm] == [True, False, False, True]
    bh = adjusted(with_p_values(p), "bh")
    assert [v.p_adjusted for v in bh] == pytest.approx([0.02, 0.04, 0.04, 0.02], rel=1e-6)
    assert all(v.resolved for v in bh)
    none = adjusted(with_p_values(p), "none")
    assert [v.p_adjusted for v in none] == pytest.approx(p, rel=1e-6)
    # The printed interval and the verdict never disagree: it clears 0 exactly when p_adj < 0.05.
    for verdict in holm + bh + none:
        low, high = verdict.interval
        assert (low > 0 or high < 0) == (verdict.p_adjusted < 0.05) == verdict.resolved
    with pytest.raises(ValueError, match="unknown adjustment 'sidak'"):
        adjusted(with_p_values(p), "sidak")


def one_way():
    rng = np.random.default_rng(0)
    samples = [rng.normal(mean, 1, size=n) for mean, n in [(0, 5), (0.5, 4), (1.5, 6), (2, 5)]]
    return samples, Experiment({f"g{k}": dict(enumerate(s)) for k, s in enumerate(samples)}, blocks=False)


def test_dunnett_is_scipys_on_a_one_way_layout():
    samples, experiment = one_way()
    verdicts = many_to_one(experiment, "g0", ["g1", "g2", "g3"])
    expected = stats.dunnett(*samples[1:], control=samples[0], random_state=0)
    assert [v.p_adjusted for v in verdicts] == pytest.approx(expected.pvalue, abs=2e-3)
    interval = expected.confidence_interval()
    assert [v.interval[0] for v in verdicts] == pytest.approx(interval.low, abs=5e-3)
    assert [v.interval[1] for v in verdicts] == pytest.approx(interval.high, abs=5e-3)
    assert [v.verdict.split(" (")[0] for v in verdicts] == ["not resolved", "not resolved", WORSE]
    assert {v.procedure for v in verdicts} == {DUNNETT}


def test_tukey_is_scipys_on_a_one_way_layout():
    samples, experiment = one_way()
    verdicts = all_pairs(experiment, ["g0", "g1", "g2", "g3"])
    expected = stats.tukey_hsd(*samples)
    interval = expected.confidence_interval()
    pairs = [(1, 0), (2, 0), (3, 0), (2, 1), (3, 1), (3, 2)]
    assert [v.p_adjusted for v in verdicts] == pytest.approx([expected.pvalue[i, j] for i, j in pairs], rel=1e-6)
    assert [v.interval[0] for v in verdicts] == pytest.approx([interval.low[i, j] for i, j in pairs], rel=1e-6)
    assert [v.interval[1] for v in verdicts] == pytest.approx([interval.high[i, j] for i, j in pairs], rel=1e-6)
    assert {v.procedure for v in verdicts} == {TUKEY}


def blocked_design():
    """4 points x 4 seeds with strong seed effects: a complete block design."""
    seed_effect = np.array([0.02, -0.01, 0.015, -0.025])
    true = np.array([0.10, 0.102, 0.115, 0.095])
    noise = np.array([[0.001, -0.002, 0.0015, 0.0], [-0.001, 0.002, 0.0, -0.0015],
                      [0.0005, -0.0005, 0.001, -0.001], [0.002, 0.0, -0.001, -0.001]])
    y = true[:, None] + seed_effect[None, :] + noise
    return y, Experiment({f"p{i}": dict(enumerate(row)) for i, row in enumerate(y)})


def test_tukey_and_dunnett_on_a_blocked_design_by_hand():
    """A randomised complete block design: MSE = SS(residual) / ((k - 1)(b - 1)); a difference's
    standard error sqrt(2 MSE / b); Tukey's p from the studentized range of |d| / sqrt(MSE / b);
    Dunnett's from the bivariate... k-1-variate t with correlations 1/2."""
    y, experiment = blocked_design()
    k, b = y.shape
    residual = y - y.mean(1, keepdims=True) - y.mean(0, keepdims=True) + y.mean()
    df = (k - 1) * (b - 1)
    mse = float((residual ** 2).sum() / df)
    assert experiment.fit.df == df and experiment.fit.sigma ** 2 == pytest.approx(mse, rel=1e-9)
    means = y.mean(1)
    ids = [f"p{i}" for i in range(k)]
    tukey = all_pairs(experiment, ids)
    hand = [stats.studentized_range.sf(abs(means[j] - means[i]) / math.sqrt(mse / b), k, df)
            for i in range(k) for j in range(i + 1, k)]
    assert [v.p_adjusted for v in tukey] == pytest.approx(hand, rel=1e-6)
    assert [v.test.estimate for v in tukey] == pytest.approx([means[j] - means[i] for i in range(k)
                                                              for j in range(i + 1, k)], rel=1e-9)
    dunnett = many_to_one(experiment, "p0", ids[1:])
    statistic = np.abs(means[1:] - means[0]) / math.sqrt(2 * mse / b)
    rho = np.full((k - 1, k - 1), 0.5) + 0.5 * np.eye(k - 1)
    distribution = stats.multivariate_t(shape=rho, df=df, seed=np.random.default_rng(0))
    hand = [1 - distribution.cdf(np.full(k - 1, t), lower_limit=np.full(k - 1, -t)) for t in statistic]
    assert [v.p_adjusted for v in dunnett] == pytest.approx(hand, abs=2e-3)
    # The seed effects (+-2.5 pp) would swamp a one-way analysis; blocked, p2 and p3 are resolved.
    assert [v.verdict for v in dunnett][1:] == [WORSE, BETTER]
    assert experiment.omnibus(ids) < 0.001


def test_negatively_correlated_seeds_make_the_paired_interval_wider():
    """sigma^2 (1 - rho) with rho < 0: the paired (blocked) standard error exceeds the unpaired one."""
    a = {s: v for s, v in enumerate([0.10, 0.11, 0.12, 0.13, 0.115])}
    b = {s: v for s, v in enumerate([0.125, 0.115, 0.105, 0.095, 0.11])}
    assert np.corrcoef(list(a.values()), list(b.values()))[0, 1] < -0.9
    experiment = Experiment({"a": a, "b": b})
    paired = experiment.pair("a", "b")
    welch = stats.ttest_ind(list(a.values()), list(b.values()), equal_var=False)
    unpaired = abs(paired.estimate / welch.statistic)
    assert paired.method == "blocked model" and paired.stderr > 1.3 * unpaired
    paired_width = np.diff(paired.interval(paired.critical(0.05)))[0]
    assert paired_width > np.diff(welch.confidence_interval(0.95))[0]
    differences = np.subtract(list(a.values()), list(b.values()))
    assert paired.stderr == pytest.approx(np.std(differences, ddof=1) / math.sqrt(5), rel=1e-9)
    assert paired.check_p == pytest.approx(stats.ttest_rel(list(a.values()), list(b.values())).pvalue)


def test_points_without_common_seeds_are_compared_by_welch():
    x, y = [0.10, 0.12, 0.11], [0.15, 0.13, 0.19, 0.16]
    experiment = Experiment({"x": dict(enumerate(x)), "y": {100 + k: v for k, v in enumerate(y)},
                             "z": {0: 0.2, 1: 0.21, 2: 0.2}})
    test = experiment.pair("x", "y")
    expected = stats.ttest_ind(x, y, equal_var=False)
    assert test.method == "Welch" and test.p == pytest.approx(expected.pvalue, rel=1e-9)
    interval = expected.confidence_interval(0.95)
    assert test.interval(test.critical(0.05)) == pytest.approx((interval.low, interval.high), rel=1e-9)


def test_unequal_variances_judge_each_pair_on_its_own_runs():
    runs = {"steady": {s: 0.10 + 0.0001 * s for s in range(4)},
            "wild": {s: v for s, v in enumerate([0.05, 0.20, 0.08, 0.17])},
            "calm": {s: 0.12 + 0.0002 * (s % 2) for s in range(4)},
            "mild": {s: 0.11 + 0.0003 * (s % 3) for s in range(4)}}
    experiment = Experiment(runs)
    assert experiment.p_equal_variances < 0.05 and not experiment.equal_variances
    test = experiment.pair("steady", "calm")
    differences = [runs["steady"][s] - runs["calm"][s] for s in range(4)]
    assert test.method == "paired t" and test.df == 3
    assert test.p == pytest.approx(stats.ttest_rel(list(runs["steady"].values()),
                                                   list(runs["calm"].values())).pvalue, rel=1e-9)
    assert test.estimate == pytest.approx(np.mean(differences))
    # Tukey needs the pooled variance: the family falls back to Holm, and says so.
    assert all("in place of Tukey" in v.procedure for v in all_pairs(experiment, list(runs)))


def test_equivalence_within_a_declared_margin():
    """Ten seeds, differences of 0.01 +- 0.05 pp: inside a 0.3 pp margin, 'equal'; three noisy seeds
    of the same mean difference: 'not resolved', with the seeds it would take."""
    rng = np.random.default_rng(3)
    base = 0.10 + 0.01 * rng.standard_normal(10)
    tight = Experiment({"a": dict(enumerate(base + 0.0001 + 0.0005 * rng.standard_normal(10))),
                        "b": dict(enumerate(base))})
    verdict = adjusted([tight.pair("a", "b")], margin=0.003)[0]
    low, high = verdict.interval
    assert -0.003 < low < 0 < high < 0.003 and verdict.verdict == "equal within 0.3 pp"
    # The same interval read by two one-sided tests at 2.5% each: statsmodels' TOST agrees.
    from statsmodels.stats.weightstats import ttost_paired

    a, b = [tight.runs["a"][s] for s in range(10)], [tight.runs["b"][s] for s in range(10)]
    assert ttost_paired(np.array(a), np.array(b), -0.003, 0.003)[0] < 0.025
    noisy = Experiment({"a": {0: 0.1005, 1: 0.115, 2: 0.09}, "b": {0: 0.10, 1: 0.10, 2: 0.10}})
    verdict = adjusted([noisy.pair("a", "b")], margin=0.003)[0]
    assert verdict.verdict == "not resolved (over 1,000 seeds a point would resolve 0.18 pp)"
    clearer = Experiment({"a": {0: 0.105, 1: 0.112, 2: 0.10}, "b": {0: 0.10, 1: 0.10, 2: 0.10}})
    assert adjusted([clearer.pair("a", "b")], margin=0.003)[0].verdict == "not resolved (about 30 seeds a point would resolve 0.57 pp)"  # 3 x ((t(2) 4.303 + z 0.842) x se 0.00348 / 0.00567)^2 = 29.9


def test_an_unknown_control_is_refused_in_one_line_before_anything_trains(tmp_path, capsys):
    from gespace.cli import main

    spec = str(__import__("pathlib").Path(__file__).resolve().parent.parent / "spaces" / "fashion-demo.yaml")
    assert main(["search", spec, "--control", "nope", "--storage", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "--control 'nope' is not an anchor of " + spec + "; its anchors: baseline, se, ge-theta-minus, ge-theta, "
        "ge-theta-plus")
    assert not list(tmp_path.iterdir())
