"""Error empirical distribution functions, as in pycls's design-space comparisons
(Radosavovic et al., "On Network Design Spaces for Visual Recognition", 2019).

F(e) is the (weighted) fraction of models with error at most e. Comparing the
EDFs of two design spaces compares their whole populations, not their single
best points; reweighting by cost compares them at a common cost distribution,
so that a space is not favoured merely for holding bigger models.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


def _weights(errors: np.ndarray, weights: Sequence[float] | None) -> np.ndarray:
    w = np.ones(len(errors)) if weights is None else np.asarray(weights, dtype=float)
    if len(w) != len(errors) or w.sum() <= 0 or (w < 0).any():
        raise ValueError("weights must be non-negative, one per error, not all zero")
    return w / w.sum()


def edf_at(errors: Sequence[float], grid: Sequence[float], weights: Sequence[float] | None = None) -> np.ndarray:
    """F at each grid value: the weighted fraction of errors <= it."""
    errors = np.asarray(errors, dtype=float)
    w = _weights(errors, weights)
    order = np.argsort(errors, kind="stable")
    cumulative = np.concatenate([[0.0], np.cumsum(w[order])])
    return cumulative[np.searchsorted(errors[order], np.asarray(grid, dtype=float), side="right")]


def ks_statistic(a: Sequence[float], b: Sequence[float], a_weights: Sequence[float] | None = None,
                 b_weights: Sequence[float] | None = None) -> float:
    """Kolmogorov-Smirnov distance sup_e |F_a(e) - F_b(e)| (EDFs jump only at data points)."""
    grid = np.union1d(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    return float(np.max(np.abs(edf_at(a, grid, a_weights) - edf_at(b, grid, b_weights))))


def bootstrap_band(errors: Sequence[float], grid: Sequence[float], weights: Sequence[float] | None = None, *,
                   samples: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise bootstrap confidence band of the EDF on ``grid`` (models resampled with replacement)."""
    errors = np.asarray(errors, dtype=float)
    w = _weights(errors, weights)
    rng = np.random.default_rng(seed)
    curves = np.empty((samples, len(grid)))
    for i in range(samples):
        pick = rng.integers(0, len(errors), len(errors))
        curves[i] = edf_at(errors[pick], grid, w[pick] if w[pick].sum() > 0 else None)
    tail = (1 - level) / 2
    return np.quantile(curves, tail, axis=0), np.quantile(curves, 1 - tail, axis=0)


def cost_weights(costs: dict[str, Sequence[float]], bins: int = 8) -> dict[str, np.ndarray]:
    """Per-model weights that give every group the pooled cost distribution.

    Costs are binned on a log scale over their common range; a model's weight is
    the pooled share of its bin over its group's share. Bins a group lacks cannot
    be matched, so each group's weights are renormalised over the bins it has.
    """
    logs = {group: np.log(np.asarray(values, dtype=float)) for group, values in costs.items()}
    pooled = np.concatenate(list(logs.values()))
    edges = np.linspace(pooled.min(), pooled.max(), bins + 1)
    edges[-1] += 1e-12

    def shares(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)
        return np.bincount(index, minlength=bins) / len(values), index

    target, _ = shares(pooled)
    weights = {}
    for group, values in logs.items():
        share, index = shares(values)
        w = target[index] / share[index]
        weights[group] = w / w.sum()
    return weights


@dataclass
class EDFCurve:
    """One group's EDF on a grid, with its bootstrap band."""

    label: str
    count: int
    grid: np.ndarray
    edf: np.ndarray
    low: np.ndarray
    high: np.ndarray
    errors: np.ndarray
    weights: np.ndarray


def edf_curves(groups: dict[str, Sequence[float]], *, costs: dict[str, Sequence[float]] | None = None,
               points: int = 200, samples: int = 1000, seed: int = 0) -> list[EDFCurve]:
    """EDF curves (cost-reweighted when ``costs`` are given) of each group on a shared grid."""
    pooled = np.concatenate([np.asarray(v, dtype=float) for v in groups.values()])
    grid = np.linspace(pooled.min(), pooled.max(), points)
    reweight = cost_weights(costs) if costs else {}
    curves = []
    for label, values in groups.items():
        errors = np.asarray(values, dtype=float)
        weights = reweight.get(label, np.full(len(errors), 1 / len(errors)))
        low, high = bootstrap_band(errors, grid, weights, samples=samples, seed=seed)
        curves.append(EDFCurve(label, len(errors), grid, edf_at(errors, grid, weights), low, high,
                               errors, weights))
    return curves
