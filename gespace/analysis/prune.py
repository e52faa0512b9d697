"""Feature-importance pruning (Hu et al. Sec. 4, Fig. 5).

For one block and each test image, the excite gate ranks the residual branch's
channels (one gate value per channel for a global gather; the spatial mean of
the gate otherwise). Zeroing a fraction (the prune ratio) of the channels,
least important first ('asc') or most important first ('desc'), and measuring
top-1 accuracy shows whether the gate's ranking tracks what the network needs.
At ratio 1 the whole residual branch is dropped and only the identity passes.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import torch
from torch import Tensor, nn

ORDERS = ("asc", "desc")


def residual_block(model: nn.Module, name: str) -> nn.Module:
    """The residual block ``name`` (e.g. ``stage4.0``), checked to have a branch."""
    try:
        block = model.get_submodule(name)
    except AttributeError:
        blocks = [n for n, m in model.named_modules() if hasattr(m, "branch")]
        raise ValueError(f"no block {name!r}; blocks: {', '.join(blocks)}") from None
    if not hasattr(block, "branch"):
        raise ValueError(f"{name!r} is not a residual block")
    return block


def channel_importance(ge: nn.Module, branch_out: Tensor) -> Tensor:
    """(N, C) gate values the GE block assigns to the branch's channels, per image."""
    gate = ge.excite.gate_map(ge.gather(branch_out))
    return gate.mean((2, 3))


def prune_mask(importance: Tensor, ratio: float, order: str) -> Tensor:
    """(N, C) mask zeroing round(ratio * C) channels per image, in ``order`` of importance."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, not {order!r}")
    drop = round(ratio * importance.shape[1])
    ranked = importance.argsort(dim=1, descending=order == "desc", stable=True)[:, :drop]
    return torch.ones_like(importance).scatter_(1, ranked, 0.0)


@torch.no_grad()
def pruned_accuracy(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], block_name: str,
                    ratio: float, order: str = "asc") -> float:
    """Top-1 accuracy with ``ratio`` of ``block_name``'s residual channels zeroed per image.

    A block without GE (a baseline) can only drop nothing (ratio 0) or everything (ratio 1).
    """
    block = residual_block(model, block_name)
    ge = getattr(block, "ge", None)
    if ge is None and ratio not in (0, 1):
        raise ValueError(f"{block_name} has no GE block to rank channels: only ratios 0 and 1 apply")

    def mask_output(module: nn.Module, inputs: tuple[Tensor], output: Tensor) -> Tensor:
        if ge is None:
            return output * (1.0 - ratio)
        weights = prune_mask(channel_importance(ge, inputs[0]), ratio, order)
        return output * weights[:, :, None, None]

    hook = (ge if ge is not None else block.branch).register_forward_hook(mask_output)
    model.eval()
    correct = total = 0
    try:
        for x, y in batches:
            correct += int(model(x).argmax(1).eq(y).sum())
            total += len(y)
    finally:
        hook.remove()
    return correct / max(1, total)


def prune_curve(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], block_name: str,
                ratios: Sequence[float], order: str = "asc") -> list[tuple[float, float]]:
    """(ratio, accuracy) for each ratio; ``batches`` is iterated once per ratio."""
    return [(ratio, pruned_accuracy(model, batches, block_name, ratio, order)) for ratio in ratios]
