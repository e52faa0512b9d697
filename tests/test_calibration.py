"""Fidelity calibration on synthetic records with known rank correlations."""
from __future__ import annotations

import math
from itertools import permutations

import numpy as np
import pytest
from scipy import stats

from search.calibration import calibrate, correlate, first_trusted_epoch
from search.records import CostFigures, TrialRecord


def cohort(curves: dict[str, list[list[float]]]) -> list[TrialRecord]:
    """curves: point -> one learning curve per seed."""
    return [TrialRecord(id=pid, seed=seed, status="ok", point={}, calibration=True, cost=CostFigures(gmacs=1.0),
                        val_error=curve[-1], epochs=[{"epoch": e + 1, "val_error": v} for e, v in enumerate(curve)])
            for pid, seeds in curves.items() for seed, curve in enumerate(seeds)]


def test_correlations_by_hand():
    # Ranks (1,2,3,4,5) vs (2,1,4,3,5): Spearman 1 - 6*4/(5*24) = 0.8; Kendall (8 - 2)/10 = 0.6.
    c = correlate([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], epoch=1)
    assert c.spearman == pytest.approx(0.8) and c.kendall == pytest.approx(0.6) and c.points == 5
    low, high = c.spearman_interval
    assert -1 <= low < 0.8 < high <= 1


def test_calibration_finds_the_epoch_where_rankings_become_trustworthy():
    # Epoch 1 ranks the 8 points in reverse of their final order; epoch 2 exactly; the two seeds agree.
    finals = [0.10 + 0.02 * i for i in range(8)]
    curves = {f"p{i}": [[0.9 - 0.05 * i, final + 0.05, final], [0.9 - 0.05 * i + 0.001, final + 0.05, final + 0.002]]
              for i, final in enumerate(finals)}
    result = calibrate(cohort(curves), max_epoch=3)
    first, second = result.epochs
    assert first.spearman == pytest.approx(-1.0) and first.kendall == pytest.approx(-1.0)
    assert second.spearman == pytest.approx(1.0) and second.spearman_interval == pytest.approx((1.0, 1.0))
    assert result.ceiling.spearman == pytest.approx(1.0)
    assert len(result.warnings) == 1 and result.warnings[0].startswith("epoch 1: its ranking is not clearly above")
    assert first_trusted_epoch(result) == 2
    # The seeds agree, so the same-run figure (display only) says the same here.
    assert [c.spearman for c in result.same_seed] == pytest.approx([-1.0, 1.0])


def test_calibration_needs_a_cohort():
    assert calibrate(cohort({"a": [[0.5, 0.2]], "b": [[0.4, 0.3]]}), max_epoch=2) is None
    # Four points, but only three with two seeds: no cross-seed figure to give.
    three = {p: [[0.5 + i / 10, 0.2 + i / 10], [0.5 - i / 10, 0.3 - i / 10]] for i, p in enumerate("abc")}
    assert calibrate(cohort({**three, "d": [[0.4, 0.3]]}), max_epoch=2) is None
    assert first_trusted_epoch(None) is None


def test_same_run_seed_noise_is_not_mistaken_for_an_informative_epoch():
    """The trap: each run's own noise e_ps dominates its final error (the points' true effects are
    small) and its epoch-1 error too, which knows nothing of the true effect. Within a run epoch 1
    'predicts' the end through e_ps; across seeds it predicts nothing."""
    rng = np.random.default_rng(1)
    effect, noise = rng.normal(0, 0.3, 20), rng.normal(0, 1, (20, 2))
    curves = {f"p{p}": [[*(2 * noise[p, s] + 0.3 * rng.normal(0, 1, 4)), effect[p] + noise[p, s]] for s in range(2)]
              for p in range(20)}
    result = calibrate(cohort(curves), max_epoch=5)
    assert result.same_seed[0].spearman > 0.6 and result.same_seed[0].spearman_interval[0] > 0.5
    low, high = result.epochs[0].spearman_interval
    assert low < 0 < high
    assert any(w.startswith("epoch 1: its ranking is not clearly above chance") for w in result.warnings)
    assert first_trusted_epoch(result) is None


def test_an_informative_epoch_is_trusted():
    """Epoch 1 is noise; from epoch 2 the error is the point's true effect plus a run's own noise."""
    rng = np.random.default_rng(0)
    effect = rng.normal(0, 1, 20)
    curves = {f"p{p}": [[rng.normal(), *(effect[p] + 0.3 * rng.normal(0, 1, 3)), effect[p] + 0.2 * rng.normal()]
                        for _ in range(2)] for p in range(20)}
    result = calibrate(cohort(curves), max_epoch=5)
    assert result.epochs[1].spearman_interval[0] > 0.5
    assert first_trusted_epoch(result) == 2
    assert [w.split(":")[0] for w in result.warnings] == ["epoch 1"]


def test_cross_seed_correlations_by_hand():
    # 4 points, 2 seeds, rated at epoch 1 of 2. By hand: Spearman(early under 0, final under 1) is 0
    # (ranks 1 3 2 4 vs 2 1 4 3) and Spearman(early under 1, final under 0) is -0.8 (4 1 2 3 vs 1 3 4 2).
    early = [[0.50, 0.60, 0.55, 0.70], [0.65, 0.45, 0.58, 0.62]]
    final = [[0.20, 0.25, 0.30, 0.22], [0.24, 0.21, 0.28, 0.27]]
    curves = {f"p{p}": [[early[s][p], final[s][p]] for s in range(2)] for p in range(4)}
    result = calibrate(cohort(curves), max_epoch=2)
    (c,), (same,) = result.epochs, result.same_seed
    pairs = [stats.spearmanr(early[0], final[1]).statistic, stats.spearmanr(early[1], final[0]).statistic]
    assert pairs == pytest.approx([0.0, -0.8]) and c.spearman == pytest.approx(-0.4) and c.points == 4
    assert c.kendall == pytest.approx(np.mean([stats.kendalltau(early[0], final[1]).statistic,
                                               stats.kendalltau(early[1], final[0]).statistic]))
    assert same.spearman == pytest.approx(stats.spearmanr(np.mean(early, 0), np.mean(final, 0)).statistic)
    assert result.ceiling.spearman == pytest.approx(stats.spearmanr(final[0], final[1]).statistic)


def test_cross_seed_averages_every_ordered_pair_of_seeds_over_the_points_with_both():
    """Three seeds; p5 lacks seed 2 and p6 has one seed only (left out); ties rank as scipy ranks them."""
    early = {0: [0.5, 0.6, 0.6, 0.7, 0.4, 0.55, 0.3], 1: [0.6, 0.5, 0.7, 0.7, 0.45, 0.4, 0.3],
             2: [0.5, 0.6, 0.6, 0.7, 0.4, 0.0, 0.0]}
    final = {0: [0.2, 0.3, 0.25, 0.25, 0.1, 0.15, 0.05], 1: [0.22, 0.21, 0.3, 0.12, 0.14, 0.3, 0.05],
             2: [0.1, 0.2, 0.3, 0.4, 0.35, 0.0, 0.0]}
    seeds = {p: [0, 1, 2] for p in range(5)} | {5: [0, 1], 6: [0]}
    records = [TrialRecord(id=f"p{p}", seed=s, status="ok", point={}, calibration=True, val_error=final[s][p],
                           epochs=[{"epoch": 1, "val_error": early[s][p]}, {"epoch": 2, "val_error": final[s][p]}])
               for p, ss in seeds.items() for s in ss]
    (c,) = calibrate(records, max_epoch=2).epochs

    def expected(statistic):
        values = []
        for a, b in permutations(range(3), 2):
            both = [p for p, ss in seeds.items() if a in ss and b in ss]
            values.append(statistic([early[a][p] for p in both], [final[b][p] for p in both]).statistic)
        return np.mean(values)

    assert c.points == 6
    assert c.spearman == pytest.approx(expected(stats.spearmanr))
    assert c.kendall == pytest.approx(expected(stats.kendalltau))


def test_warns_of_an_epoch_above_what_seed_noise_allows():
    """Epoch 1 under each seed is the other seed's final error: a perfect cross-seed figure while the
    two seeds agree only weakly at the end (the ceiling), which no real epoch can reach. Epoch 2 is
    each run's own final error, and scores the ceiling itself."""
    f0 = [0.10, 0.12, 0.14, 0.16, 0.18, 0.20, 0.22, 0.24]
    f1 = [0.16, 0.10, 0.22, 0.12, 0.24, 0.14, 0.20, 0.18]
    curves = {f"p{i}": [[f1[i], f0[i], f0[i]], [f0[i], f1[i], f1[i]]] for i in range(8)}
    result = calibrate(cohort(curves), max_epoch=3)
    assert result.epochs[0].spearman == pytest.approx(1.0)
    assert result.epochs[1].spearman == pytest.approx(result.ceiling.spearman) and result.ceiling.spearman < 0.5
    over = [w for w in result.warnings if "better than seed noise allows" in w]
    assert len(over) == 1 and over[0].startswith("epoch 1:")


def test_an_epoch_may_beat_the_ceiling_but_not_its_square_root():
    """An epoch that sees each point's expected error exactly predicts another seed's final error
    better than a second full run does (about sqrt(r) against r, r = 0.5 here): no warning for that."""
    rng = np.random.default_rng(1)
    effect, noise = rng.normal(0, 1, 30), rng.normal(0, 1, (30, 2))
    curves = {f"p{p}": [[effect[p], effect[p] + noise[p, s]] for s in range(2)] for p in range(30)}
    result = calibrate(cohort(curves), max_epoch=2)
    assert result.ceiling.spearman < result.epochs[0].spearman < result.ceiling.spearman ** 0.5
    assert result.warnings == []


def test_report_prints_and_draws_the_calibration(tmp_path):
    """The report's calibration section and calibration.png, from the same cohort as above."""
    import dataclasses

    from search.report import write_report
    from search.store import CampaignStore

    finals = [0.10 + 0.02 * i for i in range(8)]
    curves = {f"p{i}": [[0.9 - 0.05 * i, final + 0.05, final], [0.9 - 0.05 * i + 0.001, final + 0.05, final + 0.002]]
              for i, final in enumerate(finals)}
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\n")
    store = CampaignStore(tmp_path / "c")
    store.create(str(spec), {"name": "c"})
    for record in cohort(curves):
        store.append(dataclasses.replace(record, budget=3))
    paths = write_report([store.directory])
    text = paths["markdown"].read_text()
    assert "| 1 | 8 | -1.00 [-1.00, -1.00] | -1.00 [-1.00, -1.00] |" in text
    assert "First epoch whose cross-seed Spearman interval clears 0.5: 2 (what --grace auto uses)." in text
    assert paths["calibration"] == store.directory / "calibration.png" and paths["calibration"].stat().st_size > 0


def test_large_cohorts_get_fisher_intervals_that_match_the_bootstrap():
    """Above BOOTSTRAP_POINTS points the intervals are Fisher-z ones (Fieller, Hartley and Pearson's
    variances); at 150 points, where both apply, they agree with the bootstrap's within 0.05."""
    from search.calibration import BOOTSTRAP_POINTS, correlate, fisher_interval

    rng = np.random.default_rng(0)
    x = rng.standard_normal(BOOTSTRAP_POINTS)
    y = 0.6 * x + 0.8 * rng.standard_normal(BOOTSTRAP_POINTS)
    boot = correlate(x, y, 1)
    assert fisher_interval(boot.spearman, BOOTSTRAP_POINTS, "spearman") == pytest.approx(boot.spearman_interval, abs=0.05)
    assert fisher_interval(boot.kendall, BOOTSTRAP_POINTS, "kendall") == pytest.approx(boot.kendall_interval, abs=0.05)
    big = correlate(np.r_[x, x[:10]], np.r_[y, y[:10]], 1)
    half = 1.959964 * math.sqrt(1.06 / (BOOTSTRAP_POINTS + 10 - 3))
    assert big.spearman_interval == pytest.approx((math.tanh(math.atanh(big.spearman) - half),
                                                   math.tanh(math.atanh(big.spearman) + half)), rel=1e-6)
