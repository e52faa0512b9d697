"""The statistics layer against hand-computed values on hand-made records."""
from __future__ import annotations

import math

import numpy as np
import pytest

from search.records import CostFigures, TrialRecord
from search.statistics import (BETTER, UNRESOLVED, WORSE, Noise, campaign_noise, estimate, noise_by_epoch,
                               p_front, paired_difference, pooled_noise, resolvable_difference,
                               seeds_to_resolve, summarise)


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
    far = summaries(("good", [0.10, 0.10], 1.0), ("bad", [0.10 + 10 * 0.01, 0.20], 1.0))
    probability = p_front(far)
    assert probability[0] == 1.0 and probability[1] < 0.001
    twins = summaries(("x", [0.10, 0.12], 1.0), ("y", [0.10, 0.12], 1.0), ("cheap", [0.5, 0.5], 0.1))
    probability = p_front(twins, draws=8000)
    assert probability[0] == pytest.approx(0.5, abs=0.03) and probability[1] == pytest.approx(0.5, abs=0.03)
    assert probability[0] + probability[1] == pytest.approx(1.0)  # exactly one twin leads in each draw
    assert probability[2] == 1.0  # the cheapest point is always on the front
    # Without a noise estimate the measured front is taken as it is.
    unknown = summarise([trial("a", 0, 0.1), trial("b", 0, 0.2)], Noise(None))
    assert list(p_front(unknown)) == [1.0, 0.0]


def test_paired_difference_verdicts():
    noise = Noise(0.005, 20, 10)
    a, b = summarise([trial("a", 0, 0.10), trial("a", 1, 0.12), trial("b", 0, 0.13), trial("b", 1, 0.16),
                      trial("b", 2, 0.15)], noise)
    comparison = paired_difference(a, b, noise)
    assert comparison.seeds == (0, 1)
    assert comparison.difference.mean == pytest.approx(-0.035)
    assert comparison.difference.stderr == pytest.approx(0.005)  # sigma * sqrt(2 / 2)
    low, high = comparison.difference.interval()
    assert high == pytest.approx(-0.035 + 2.085963 * 0.005, rel=1e-5) and comparison.verdict == BETTER
    assert paired_difference(b, a, noise).verdict == WORSE
    assert paired_difference(a, b, Noise(0.05, 20, 10)).verdict == UNRESOLVED


def test_power_by_hand():
    noise = Noise(0.01, 1000, 100)
    factor = 1.962339 + 0.841981  # t(0.975, 1000) + t(0.8, 1000)
    assert resolvable_difference(noise, 2) == pytest.approx(factor * 0.01, rel=1e-5)
    assert resolvable_difference(noise, 8) == pytest.approx(factor * 0.01 / 2, rel=1e-5)
    assert seeds_to_resolve(noise, 0.005) == math.ceil(2 * (factor * 0.01 / 0.005) ** 2) == 63
    assert resolvable_difference(Noise(None), 2) is None and seeds_to_resolve(Noise(None), 0.01) is None


def test_the_fast_front_is_the_dominance_rules_front():
    """`non_dominated` (an error and a cost, sorted: O(n log n)) names exactly the items nothing
    dominates under `dominance`, ties in cost or error included, whatever the objectives' order."""
    from search.pareto import dominance, non_dominated

    rng = np.random.default_rng(1)
    for case in range(300):
        n, draws = int(rng.integers(1, 40)), int(rng.integers(1, 5))
        costs = rng.choice([0.1, 0.2, 0.3], size=n) if case % 2 else rng.random(n)
        errors = rng.choice([0.1, 0.15, 0.2], size=(draws, n)) if case % 3 == 0 else rng.random((draws, n))
        values = np.stack([errors, np.broadcast_to(costs, (draws, n))], -1)
        for names, ordered in ((("val_error", "gmacs"), values), (("gmacs", "val_error"), values[..., ::-1])):
            assert (non_dominated(ordered, names) == ~dominance(ordered, names).any(-2)).all(), case


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
    summaries = [type("S", (), {"id": pid, "errors": dict(enumerate(values))})() for pid, values in errors.items()]
    spread = noise_spread(summaries)
    assert set(spread.sds) == {"a", "b", "c"} and spread.sds["c"] == pytest.approx(np.std([0.05, 0.09, 0.15], ddof=1))
    deviations = [np.abs(np.array(v) - np.median(v)) for pid, v in errors.items() if pid != "d"]
    assert spread.p_equal == pytest.approx(stats.f_oneway(*deviations).pvalue)
    assert noise_spread(summaries[3:]).p_equal is None
    pairs = [type("S", (), {"id": pid, "errors": {0: v, 1: v + d}})() for pid, v, d in (("x", 0.1, 0.01), ("y", 0.2, 0.05))]
    assert noise_spread(pairs).p_equal is None  # two seeds a point: the test is undefined, and not run
