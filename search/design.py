"""The blocked design of a campaign's full-budget runs: error = point + seed + noise.

Seed i gives every point the same data order, augmentation and initial weights,
so points trained under common seeds form a block design with seeds as blocks:
a seed that is easy for one point may be easy for all. The additive model

    y[p, s] = mu[p] + b[s] + e[p, s],   e ~ N(0, sigma^2) independent,

is what `statsmodels` fits as ``ols("y ~ C(point) + C(seed)")`` (the tests
check that it gives the same contrasts, residual variance and degrees of
freedom). It is fitted here with the seed effects absorbed, because a campaign
of thousands of single-seed points would give statsmodels a design matrix with
a column per point: with U the points' shares of each seed (P x S), the
within-point-centred seed indicators give the seed effects b (min-norm, so they
sum to zero over each group of points linked by shared seeds), the point effects
are mu[p] = mean_p(y) - U[p] b, and their covariance is sigma^2 (D^-1 + U C U')
with D the seed counts and C the seed effects' unit covariance: diagonal plus
rank S, so joint draws over thousands of points stay cheap.

Points linked by shared seeds (directly or through other points) form a
component; differences within one are estimable, differences across components
are not (their seed effects are confounded with them), and `search.verdicts`
compares such pairs by Welch's test on their own runs. ``blocks=False`` fits the
one-way layout (seeds ignored) that scipy's `dunnett` and `tukey_hsd` assume.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import networkx as nx
import numpy as np


@dataclass(frozen=True)
class BlockedFit:
    """Point effects of one metric with their joint (unit) covariance and the residual noise."""

    ids: tuple[str, ...]
    effects: np.ndarray  # [P] mu[p]: error on its component's average seed
    counts: np.ndarray  # [P] seeds per point
    loadings: np.ndarray  # [P, S] U: each point's share of each seed
    seed_covariance: np.ndarray  # [S, S] C: the seed effects' covariance / sigma^2
    component: np.ndarray  # [P] which group of seed-linked points each belongs to
    sigma: float | None  # residual standard deviation (None: no residual degrees of freedom)
    df: int

    @property
    def known(self) -> bool:
        return self.sigma is not None and self.df > 0

    def index(self, point: str) -> int:
        return self.ids.index(point)

    def covariance(self, rows: Sequence[int]) -> np.ndarray:
        """The unit covariance of the effects of ``rows`` (multiply by sigma^2)."""
        u = self.loadings[list(rows)]
        return np.diag(1 / self.counts[list(rows)]) + u @ self.seed_covariance @ u.T

    def linked(self, i: int, j: int) -> bool:
        return bool(self.component[i] == self.component[j])

    def contrast(self, i: int, j: int) -> tuple[float, float | None]:
        """mu[i] - mu[j] and its standard error (None when the noise is unknown)."""
        cov = self.covariance([i, j])
        variance = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
        return (float(self.effects[i] - self.effects[j]),
                math.sqrt(max(variance, 0.0)) * self.sigma if self.known else None)

    def sqrt_seed_covariance(self) -> np.ndarray:
        """L with L L' = C, for joint draws."""
        values, vectors = np.linalg.eigh(self.seed_covariance)
        return vectors * np.sqrt(np.clip(values, 0, None))


def fit_blocked(runs: Mapping[str, Mapping[int | None, float]], blocks: bool = True) -> BlockedFit:
    """Fit the additive point + seed model to ``runs`` (point id -> seed -> value)."""
    ids = tuple(pid for pid, values in runs.items() if values)
    seeds = sorted({seed for pid in ids for seed in runs[pid]}, key=repr) if blocks else []
    seed_index = {seed: k for k, seed in enumerate(seeds)}
    points, columns, y = [], [], []
    for p, pid in enumerate(ids):
        for seed, value in runs[pid].items():
            points.append(p)
            columns.append(seed_index.get(seed, -1))
            y.append(value)
    points, y = np.array(points), np.array(y, dtype=float)
    counts = np.bincount(points, minlength=len(ids)).astype(float)
    means = np.bincount(points, weights=y, minlength=len(ids)) / counts
    indicators = np.zeros((len(y), len(seeds)))
    if seeds:
        indicators[np.arange(len(y)), columns] = 1.0
    loadings = np.zeros((len(ids), len(seeds)))
    np.add.at(loadings, points, indicators)
    loadings /= counts[:, None]
    centred = indicators - loadings[points]  # the seed indicators with each point's mean removed
    gram = centred.T @ centred
    seed_covariance = np.linalg.pinv(gram, hermitian=True) if seeds else np.zeros((0, 0))
    seed_effects = seed_covariance @ centred.T @ (y - means[points]) if seeds else np.zeros(0)
    residuals = y - means[points] - centred @ seed_effects
    rank = int(np.linalg.matrix_rank(gram, hermitian=True)) if seeds else 0
    df = len(y) - len(ids) - rank
    sigma = math.sqrt(float(residuals @ residuals) / df) if df > 0 else None
    return BlockedFit(ids, means - loadings @ seed_effects, counts, loadings, seed_covariance,
                      _components(ids, runs if blocks else {}), sigma, df)


def _components(ids: Sequence[str], runs: Mapping[str, Mapping[int | None, float]]) -> np.ndarray:
    """Points linked by shared seeds (a bipartite point-seed graph's components)."""
    graph = nx.Graph()
    graph.add_nodes_from(("point", pid) for pid in ids)
    if runs:
        graph.add_edges_from((("point", pid), ("seed", seed)) for pid in ids for seed in runs[pid])
    else:  # one-way: every point compares with every other
        graph.add_edges_from((("point", pid), ("all", None)) for pid in ids)
    label = {}
    for k, nodes in enumerate(nx.connected_components(graph)):
        label.update({node[1]: k for node in nodes if node[0] == "point"})
    return np.array([label[pid] for pid in ids])
