"""Top-k errors, a pass over an evaluation split, and which of its images were classified right."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...]) -> list[torch.Tensor]:
    """Counts (0-d tensors, on the logits' device) of labels among the top-k logits, per k."""
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices
    hits = top.eq(labels[:, None])
    return [hits[:, :min(k, kmax)].any(1).sum() for k in ks]


@torch.inference_mode()  # cheaper than no_grad: no version counters or views tracked
def evaluate_loader(model: nn.Module, loader, *, autocast=None,
                    channels_last: bool = False) -> dict[str, Any]:
    """Mean cross-entropy, top-1 and top-5 error (fractions) of ``model`` over ``loader``, and
    ``correct``, one bool per image in the loader's order, with the ``labels`` in that order."""
    import contextlib

    was_training = model.training
    model.eval()
    loss_sum = top1 = top5 = None
    count = 0
    hits, labels = [], []
    # One autocast region for the whole pass: it casts each weight to bf16 once, not per batch.
    with autocast() if autocast else contextlib.nullcontext():
        for x, y in loader:
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            logits = model(x).float()
            loss = nn.functional.cross_entropy(logits, y, reduction="sum")
            right = logits.argmax(1).eq(y)  # top-1, the bits and the error from the same comparison
            c1, (c5,) = right.sum(), topk_correct(logits, y, (5,))
            loss_sum = loss if loss_sum is None else loss_sum + loss
            top1 = c1 if top1 is None else top1 + c1
            top5 = c5 if top5 is None else top5 + c5
            hits.append(right)
            labels.append(y)
            count += len(y)
    model.train(was_training)
    if count == 0:
        return {"loss": float("nan"), "top1_error": float("nan"), "top5_error": float("nan"),
                "images": 0, "correct": np.zeros(0, dtype=bool), "labels": np.zeros(0, dtype=np.int64)}
    return {"loss": loss_sum.item() / count, "top1_error": 1.0 - top1.item() / count,
            "top5_error": 1.0 - top5.item() / count, "images": count,
            "correct": torch.cat(hits).cpu().numpy(), "labels": torch.cat(labels).cpu().numpy()}
