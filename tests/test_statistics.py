"""The statistics layer against hand-computed values on hand-made records."""
from __future__ import annotations

import math

import numpy as np
import pytest

from search.records import CostFigures, TrialRecord
from search.statistics import (Noise, campaign_noise, estimate, noise_by_epoch, p_front, pooled_noise,
                               resolvable_difference, seeds_to_resolve, summarise)


def trial(pid: str, seed: int, error: float, gmacs: float = 1.0, status: str = "ok", name: str | None = None,
          epochs: list[float] | None = None) -> TrialRecord:
    curve = epochs or [error]
    measured = status in ("ok", "stopped")
    return TrialRecord(id=pid, status=status, point={"ge.placement.stages": ()}, name=name, seed=seed,
                       cost=CostFigures(gmacs=gmacs, params_m=gmacs), val_error=error if measured else None,
                       test_error=error + 0.01 if status == "ok" else None,
                       epochs=[{"epoch": i + 1, "val_error": e} for i, e in enumerate(curve)])


def test_pooled_noise_by_hand():
    # var(.10, .12) = .0002 (1 df); var(.20, .26, .23) = .0009 (2 df); pooled = (.0002 + .0018) / 3.
    noise = pooled_noise([[0.10, 0.12], [0.20, 0.26, 0.23], [0.5]])
    assert noise.sigma == pytest.approx(math.sqrt(0.002 / 3)) and noise.df == 3 and noise.points == 2
    assert not pooled_noise([[0.1], [0.2]]).known


def test_campaign_noise_uses_full_budget_seeds_only():
    records = [trial("a", 0, 0.10), trial("a", 1, 0.12), trial("b", 0, 0.30),
               trial("b", 1, 0.90, status="stopped"), trial("c", 0, 0.2, status="diverged")]
    noise = campaign_noise(records)
    assert noise.sigma == pytest.approx(math.sqrt(0.0002)) and noise.df == 1


def test_noise_by_epoch_pools_every_trial_that_reached_the_epoch():
    records = [trial("a", 0, 0.2, epochs=[0.5, 0.2]), trial("a", 1, 0.3, epochs=[0.7, 0.3]),
               trial("b", 0, 0.6, status="stopped", epochs=[0.6]), trial("b", 1, 0.6, status="stopped",
                                                                      epochs=[0.8])]
    by_epoch = noise_by_epoch(records)
    # Epoch 1: var(.5, .7) = .02 and var(.6, .8) = .02 -> sigma .1414 on 2 df; epoch 2: var(.2, .3) = .005.
    assert by_epoch[1].sigma == pytest.approx(math.sqrt(0.02)) and by_epoch[1].df == 2
    assert by_epoch[2].sigma == pytest.approx(math.sqrt(0.005)) and by_epoch[2].df == 1


def test_estimate_interval_is_a_t_interval_on_the_pooled_df():
    result = estimate([0.10, 0.12], Noise(0.02, 10, 5))
    assert result.mean == pytest.approx(0.11) and result.stderr == pytest.approx(0.02 / math.sqrt(2))
    low, high = result.interval()
    assert high - 0.11 == pytest.approx(2.228139 * 0.02 / math.sqrt(2), rel=1e-5)  # t(0.975, 10)
    assert low == pytest.approx(0.22 - high)
    assert estimate([0.1], Noise(None)).interval() is None


def test_a_single_seed_point_gets_the_pooled_noise():
    records = [trial("a", 0, 0.10), trial("a", 1, 0.12), trial("b", 0, 0.20, gmacs=0.5)]
    noise = campaign_noise(records)
    by_id = {s.id: s for s in summarise(records, noise)}
    assert by_id["b"].single_seed and by_id["b"].error.stderr == pytest.approx(noise.sigma)
    assert by_id["a"].error.stderr == pytest.approx(noise.sigma / math.sqrt(2))
    assert by_id["a"].error.df == by_id["b"].error.df == 1
    assert by_id["a"].test.mean == pytest.approx(0.12)


def summaries(*rows):
    """rows of (id, errors by seed, gmacs) with noise sigma .01 on 50 df."""
    records = [trial(pid, seed, error, gmacs) for pid, errors, gmacs in rows for seed, error in enumerate(errors)]
    return summarise(records, Noise(0.01, 50, 10))


def test_p_front_far_worse_point_is_off_and_identical_points_share():
    far = summaries(("good", [0.10, 0.10], 1.0), ("bad", [0.10 + 10 * 0.01, 0.20], 1.0), ("c", [0.3, 0.31], 0.5))
    probability = p_front(far).p_front
    assert probability[0] > 0.998 and probability[1] < 0.001  # the blocked model's 2 df: heavy tails
    twins = summaries(("x", [0.10, 0.12], 1.0), ("y", [0.10, 0.12], 1.0), ("cheap", [0.5, 0.51], 0.1))
    odds = p_front(twins)
    assert odds.p_front[0] == pytest.approx(0.5, abs=0.02) and odds.p_front[1] == pytest.approx(0.5, abs=0.02)
    assert odds.p_front[0] + odds.p_front[1] == pytest.approx(1.0)  # exactly one twin leads in each draw
    assert odds.p_front[2] == 1.0  # the cheapest point is always on the front
    assert odds.p_best.sum() == pytest.approx(1.0) and odds.p_best[2] == 0.0
    # 10,000 draws: no probability's Monte Carlo standard error reaches 0.005.
    assert odds.draws == 10_000 and odds.monte_carlo_error < 0.005
    # Without a noise estimate the measured front is taken as it is.
    unknown = summarise([trial("a", 0, 0.1), trial("b", 0, 0.2)], Noise(None))
    assert list(p_front(unknown).p_front) == [1.0, 0.0] and list(p_front(unknown).p_best) == [1.0, 0.0]


def test_points_02_percent_apart_in_cost_with_equal_errors_share_p_front():
    """Costs within the registry's 1% count as equal: the cheaper twin no longer takes the front by
    0.2% of GMACs; with costs exact (the spec's report.cost_tolerance: 0) it does."""
    twins = summaries(("a", [0.10, 0.12, 0.11], 1.000), ("b", [0.11, 0.10, 0.12], 1.002))
    shared = p_front(twins).p_front
    assert shared[0] == pytest.approx(0.5, abs=0.02) and shared[1] == pytest.approx(0.5, abs=0.02)
    assert list(p_front(twins, tolerance={"gmacs": 0.0}).p_front) == [1.0, pytest.approx(0.5, abs=0.02)]


def test_joint_draws_share_the_seed_effects():
    """Two points under the same 5 seeds, b below a by 0.2 pp under every seed, with seed effects of
    +-3 pp: the blocked model sees the difference the seeds share and b has the lowest error in
    nearly every draw; independent draws with the points' own spread would split them about evenly."""
    seed_effect = [0.03, -0.02, 0.01, -0.03, 0.01]
    jitter = [0.0001, -0.0001, 0.0002, 0.0, -0.0002]
    records = [trial("a", s, 0.10 + e + j) for s, (e, j) in enumerate(zip(seed_effect, jitter))]
    records += [trial("b", s, 0.098 + e - j) for s, (e, j) in enumerate(zip(seed_effect, jitter))]
    odds = p_front(summarise(records, campaign_noise(records)))
    assert odds.p_best[1] > 0.99


def test_power_by_hand():
    noise = Noise(0.01, 1000, 100)
    factor = 1.962339 + 0.841981  # t(0.975, 1000) + t(0.8, 1000)
    assert resolvable_difference(noise, 2) == pytest.approx(factor * 0.01, rel=1e-5)
    assert resolvable_difference(noise, 8) == pytest.approx(factor * 0.01 / 2, rel=1e-5)
    assert seeds_to_resolve(noise, 0.005) == math.ceil(2 * (factor * 0.01 / 0.005) ** 2) == 63
    assert resolvable_difference(Noise(None), 2) is None and seeds_to_resolve(Noise(None), 0.01) is None


def test_the_fast_front_is_the_dominance_rules_front():
    """`non_dominated` (an error and a cost, sorted: O(n log n)) names exactly the items nothing
    dominates under `dominance`, ties in cost or error included, whatever the objectives' order,
    with costs exact or within a tolerance."""
    from search.pareto import dominance, non_dominated

    rng = np.random.default_rng(1)
    for case in range(300):
        n, draws = int(rng.integers(1, 40)), int(rng.integers(1, 5))
        costs = rng.choice([0.1, 0.2, 0.3], size=n) if case % 2 else 1 + 0.05 * rng.random(n)
        errors = rng.choice([0.1, 0.15, 0.2], size=(draws, n)) if case % 3 == 0 else rng.random((draws, n))
        values = np.stack([errors, np.broadcast_to(costs, (draws, n))], -1)
        tolerance = {"gmacs": (0.0, 0.01, 0.02)[case % 3]}
        for names, ordered in ((("val_error", "gmacs"), values), (("gmacs", "val_error"), values[..., ::-1])):
            assert (non_dominated(ordered, names, tolerance=tolerance)
                    == ~dominance(ordered, names, tolerance=tolerance).any(-2)).all(), case


def test_the_seed_noise_has_its_own_interval_and_spread():
    """sigma's 95% interval from the chi-square with its df (table values: 23.3367 and 4.40379 at
    12 df); the power range over it; the Brown-Forsythe test is a one-way ANOVA of the absolute
    deviations from each point's median."""
    from scipy import stats

    from search.statistics import Noise, noise_spread, resolvable_difference

    noise = Noise(0.25, 12, 6)
    low, high = noise.interval()
    assert low == pytest.approx(0.25 * math.sqrt(12 / 23.3367), rel=1e-5)
    assert high == pytest.approx(0.25 * math.sqrt(12 / 4.40379), rel=1e-5)
    assert Noise(None).interval() is None
    assert resolvable_difference(Noise(low, 12, 6), 3) < resolvable_difference(noise, 3) < \
        resolvable_difference(Noise(high, 12, 6), 3)

    errors = {"a": [0.10, 0.11, 0.13], "b": [0.20, 0.20, 0.21], "c": [0.05, 0.09, 0.15], "d": [0.3]}
    runs = {pid: dict(enumerate(values)) for pid, values in errors.items()}
    spread = noise_spread(runs)
    assert set(spread.sds) == {"a", "b", "c"} and spread.sds["c"] == pytest.approx(np.std([0.05, 0.09, 0.15], ddof=1))
    deviations = [np.abs(np.array(v) - np.median(v)) for pid, v in errors.items() if pid != "d"]
    assert spread.p_equal == pytest.approx(stats.f_oneway(*deviations).pvalue)
    assert noise_spread({"d": runs["d"]}).p_equal is None
    pairs = {pid: {0: v, 1: v + d} for pid, v, d in (("x", 0.1, 0.01), ("y", 0.2, 0.05))}
    assert noise_spread(pairs).p_equal is None  # two seeds a point: the test is undefined, and not run
