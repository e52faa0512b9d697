"""Group-sequential boundaries (search.sequential) against Pocock's published constants and
against scipy's integration of the same crossing event."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from search.sequential import constant_boundary, crossing_probability


@pytest.mark.parametrize("looks, constant", [(2, 2.178), (3, 2.289), (4, 2.361), (5, 2.413), (10, 2.555)])
def test_pocock_constants_for_equally_spaced_looks(looks, constant):
    """Jennison and Turnbull, Group Sequential Methods (2000), Table 2.1: C_P(K, 0.05), two-sided,
    which one-sided at 0.025 equals to the third decimal (a path crossing both ways is negligible)."""
    assert constant_boundary(tuple(range(1, looks + 1)), 0.025) == pytest.approx(constant, abs=6e-4)


def test_one_look_is_the_normal_quantile_and_more_looks_need_a_higher_bar():
    assert constant_boundary((7.0,), 0.01) == pytest.approx(stats.norm.isf(0.01), abs=1e-12)
    bars = [constant_boundary(tuple(range(3, 3 + k)), 0.0025) for k in (1, 5, 28)]
    assert bars[0] < bars[1] < bars[2] < stats.norm.isf(0.0025 / 28)  # below Bonferroni over the looks


@pytest.mark.parametrize("boundary", [2.0, 2.6])
def test_crossing_probability_matches_scipys_multivariate_normal(boundary):
    """Unequal information times: 1 - P(every Z_k < c) with corr(Z_j, Z_k) = sqrt(t_j / t_k),
    integrated by scipy (Genz), equals the recursive integration."""
    times = np.array([3.0, 4.0, 6.0, 9.0, 13.0, 20.0])
    cov = np.sqrt(np.minimum.outer(times, times) / np.maximum.outer(times, times))
    inside = stats.multivariate_normal.cdf(np.full(len(times), boundary), mean=np.zeros(len(times)), cov=cov,
                                           abseps=1e-8, releps=1e-8, maxpts=2_000_000, rng=np.random.default_rng(0))
    assert crossing_probability(times, np.full(len(times), boundary)) == pytest.approx(1 - inside, rel=2e-4)
