"""The validation split: a seeded, disjoint share of the training set.

The test split is the dataset's own test part and is only used for the final
report; validation (model selection, plateau schedules, early stopping) is
carved from the training images here.
"""
from __future__ import annotations

import torch


def split_indices(n: int, val_fraction: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, val) index tensors: a seeded permutation of range(n) cut at ``val_fraction``.

    Both are sorted, disjoint and cover range(n); val has round(n * val_fraction)
    elements (at least 1 when the fraction is positive and n > 1).
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), not {val_fraction}")
    n_val = round(n * val_fraction)
    if val_fraction > 0 and n > 1:
        n_val = min(max(n_val, 1), n - 1)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def subset_indices(indices: torch.Tensor, fraction: float, seed: int = 0) -> torch.Tensor:
    """A seeded random ``fraction`` of ``indices`` (at least one), sorted: a cheap training proxy."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"subset must be in (0, 1], not {fraction}")
    if fraction == 1.0:
        return indices
    keep = max(1, round(len(indices) * fraction))
    perm = torch.randperm(len(indices), generator=torch.Generator().manual_seed(seed + 1))
    return indices[perm[:keep]].sort().values
