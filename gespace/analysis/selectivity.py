"""Class selectivity index (Hu et al. Sec. 4, Fig. 3; after Morcos et al. 2018).

For each channel of a block's output (post-ReLU, averaged over space per
image): mu_max is its largest class-conditional mean and mu_rest the mean of
the other classes' means; selectivity = (mu_max - mu_rest) / (mu_max + mu_rest)
lies in [0, 1] (1: fires for one class only; 0: the same for every class). A
channel that is zero for every class is dead and reported apart.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class Selectivity:
    """Per-channel selectivity of one layer; ``index`` is NaN where ``dead``."""

    name: str
    index: Tensor
    dead: Tensor

    @property
    def alive(self) -> Tensor:
        return self.index[~self.dead]

    @property
    def median(self) -> float:
        return float(self.alive.median()) if len(self.alive) else float("nan")


def selectivity_index(class_means: Tensor) -> tuple[Tensor, Tensor]:
    """(index, dead) per channel from a (classes, channels) matrix of non-negative class means."""
    mu_max = class_means.max(0).values
    mu_rest = (class_means.sum(0) - mu_max) / (class_means.shape[0] - 1)
    dead = mu_max <= 0
    index = (mu_max - mu_rest) / (mu_max + mu_rest).clamp_min(torch.finfo(class_means.dtype).tiny)
    return index.masked_fill(dead, float("nan")), dead


class ClassMeans:
    """Streams per-class sums of spatially averaged post-ReLU activations."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.sums: Tensor | None = None
        self.counts = torch.zeros(num_classes, dtype=torch.float64)

    def add(self, features: Tensor, labels: Tensor) -> None:
        pooled = F.relu(features).mean((2, 3)).double().cpu() if features.dim() == 4 else features.double().cpu()
        if self.sums is None:
            self.sums = torch.zeros(self.num_classes, pooled.shape[1], dtype=torch.float64)
        self.sums.index_add_(0, labels.cpu(), pooled)
        self.counts += torch.bincount(labels.cpu(), minlength=self.num_classes).double()

    def means(self) -> Tensor:
        seen = self.counts > 0
        return self.sums[seen] / self.counts[seen, None]


def stage_blocks(model: nn.Module, stage: int) -> list[tuple[str, nn.Module]]:
    """The residual blocks of ``stage`` (the backbones name them ``stage{N}.{i}``)."""
    container = getattr(model, f"stage{stage}", None)
    if container is None:
        stages = sorted(n for n, _ in model.named_children() if n.startswith("stage"))
        raise ValueError(f"the model has no stage {stage}; it has {', '.join(stages)}")
    return [(f"stage{stage}.{name}", block) for name, block in container.named_children()]


@torch.no_grad()
def stage_selectivity(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], stage: int,
                      num_classes: int) -> list[Selectivity]:
    """Selectivity of the output (after its ReLU) of every block of ``stage`` over ``batches``."""
    blocks = stage_blocks(model, stage)
    accumulators = [ClassMeans(num_classes) for _ in blocks]
    labels_now: list[Tensor] = []
    hooks = [block.register_forward_hook(lambda _m, _i, out, acc=acc: acc.add(out, labels_now[0]))
             for (_, block), acc in zip(blocks, accumulators)]
    model.eval()
    try:
        for x, y in batches:
            labels_now[:] = [y]
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return [Selectivity(name, *selectivity_index(acc.means()))
            for (name, _), acc in zip(blocks, accumulators)]
