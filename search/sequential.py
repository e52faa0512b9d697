"""Group-sequential boundaries: how far a statistic must go at each of several looks at
accumulating data so that the chance of ever crossing under the null is alpha.

A comparison looked at after each of K stages sees z-statistics Z_1..Z_K that
are a standardised Brownian motion at its information times t_1 < ... < t_K
(Z_k = W(t_k) / sqrt(t_k); corr(Z_j, Z_k) = sqrt(t_j / t_k)). Because successive
looks share most of their data, a constant boundary c crossed at any look with
probability alpha (Pocock's) is far below the Bonferroni one (alpha / K at each
look): for K = 28 looks at alpha = 0.0025, 3.44 against 3.75.

The crossing probability is computed by recursive numerical integration over
the looks (Armitage, McPherson and Rowe 1969; Jennison and Turnbull,
"Group Sequential Methods", ch. 19): the sub-density of the score W(t_k) on the
paths that have not crossed is carried from look to look on a grid, and each
look's crossing probability is a Gaussian tail integrated against it, so small
alphas keep their relative precision. No maintained Python library computes
these boundaries; the tests check it against Pocock's published constants and
against `scipy.stats.multivariate_normal`'s integration of the same event.
"""
from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
from scipy import optimize, special, stats

GRID = 301  # points of the score grid at each look: Pocock's constants to 4 decimals (tests)
FLOOR = 9.0  # the grid starts this many standard deviations below 0 (mass below: ~1e-19)


def crossing_probability(information: Sequence[float], boundary: Sequence[float]) -> float:
    """P(Z_k >= boundary_k at some look k) under the null, for z-statistics at ``information``."""
    times = np.asarray(information, dtype=float)
    bounds = np.asarray(boundary, dtype=float) * np.sqrt(times)  # on the score scale W(t_k)
    total = float(special.ndtr(-bounds[0] / np.sqrt(times[0])))
    grid = np.linspace(-FLOOR * np.sqrt(times[0]), bounds[0], GRID)
    density = _normal_pdf(grid / np.sqrt(times[0])) / np.sqrt(times[0])  # of W(t_1), on paths not crossed
    for k in range(1, len(times)):
        step = np.sqrt(times[k] - times[k - 1])
        weights = _simpson(grid) * density
        total += float(weights @ special.ndtr((grid - bounds[k]) / step))
        if k == len(times) - 1:
            break
        following = np.linspace(-FLOOR * np.sqrt(times[k]), bounds[k], GRID)
        density = weights @ _normal_pdf((following[None, :] - grid[:, None]) / step) / step
        grid = following
    return total


@functools.lru_cache(maxsize=256)
def constant_boundary(information: tuple[float, ...], alpha: float) -> float:
    """Pocock's one-sided boundary: the constant c with P(some Z_k >= c) = ``alpha`` over looks
    at ``information`` (increasing; any scale)."""
    if len(information) == 1:
        return float(stats.norm.isf(alpha))
    # Between the single look's z and Bonferroni's over all looks, found on the log of the probability.
    low, high = stats.norm.isf(alpha), stats.norm.isf(alpha / len(information))
    return float(optimize.brentq(
        lambda c: np.log(crossing_probability(information, np.full(len(information), c))) - np.log(alpha),
        low, high + 1e-9, xtol=1e-5))


def _normal_pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)


def _simpson(grid: np.ndarray) -> np.ndarray:
    """Simpson's weights on an evenly spaced grid of an odd number of points."""
    weights = np.ones(len(grid))
    weights[1:-1:2], weights[2:-1:2] = 4, 2
    return weights * (grid[1] - grid[0]) / 3
