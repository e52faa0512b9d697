"""Zero-cost proxies: a network scored at initialisation, in seconds, as a guess at its final error.

Each proxy maps (model at init, one batch) to a score where **higher predicts a
lower final error** (the proxies' own conventions):

- ``synflow`` (Tanaka et al. 2020, as Abdelfattah et al. 2021 use it): weights
  replaced by their absolute values, an all-ones input, the sum of the outputs
  back-propagated; the score is the sum over weights of |w * dR/dw| (in double
  precision, batch norm in eval mode: at initialisation an identity).
- ``grad_norm``: the sum over weight tensors of the norm of the cross-entropy
  gradient on the batch.
- ``jacob_cov`` (Mellor et al. 2021): the correlation of the input Jacobians
  of the batch's images; networks that tell inputs apart score higher.

The simplest baselines every proxy must beat, parameter count and MACs, come
from a point's cost (``search.proxies`` rates them beside these).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

PROXIES: dict[str, Callable[[nn.Module, torch.Tensor, torch.Tensor], float]] = {}


def _proxy(function: Callable[[nn.Module, torch.Tensor, torch.Tensor], float]):
    PROXIES[function.__name__] = function
    return function


@_proxy
def synflow(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model = model.double().eval()
    signs = {}
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            signs[name] = torch.sign(tensor)
            tensor.abs_()
    model.zero_grad()
    model(torch.ones((1, *images.shape[1:]), dtype=torch.double)).sum().backward()
    score = sum(float((p.detach() * p.grad).abs().sum()) for p in model.parameters()
                if p.grad is not None and p.dim() > 1)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            tensor.mul_(signs[name])
    model.float()
    return score


@_proxy
def grad_norm(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.train()
    model.zero_grad()
    F.cross_entropy(model(images), labels).backward()
    return sum(float(p.grad.norm()) for p in model.parameters() if p.grad is not None and p.dim() > 1)


@_proxy
def jacob_cov(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.train()
    model.zero_grad()
    inputs = images.clone().requires_grad_(True)
    model(inputs).sum().backward()
    jacobians = inputs.grad.reshape(len(images), -1).double()
    correlations = torch.corrcoef(jacobians)
    eigenvalues = torch.linalg.eigvalsh(correlations)
    return float(-torch.sum(torch.log(eigenvalues + 1e-5) + 1.0 / (eigenvalues + 1e-5)))


def score(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, proxy: str) -> float:
    """One proxy's score of ``model`` (at initialisation) on the batch; `ValueError` for an unknown one."""
    if proxy not in PROXIES:
        raise ValueError(f"unknown proxy {proxy!r}; known: {', '.join(PROXIES)}")
    return PROXIES[proxy](model, images, labels)


def proxy_batch(point: dict, data_root: str | None = None, size: int = 64, seed: int = 0
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch every point of a space is scored on: ``size`` training images of the point's
    dataset drawn with ``seed`` (the same for all points), standardised per channel."""
    from gespace.data import FolderData, load_dataset
    from gespace.train.trainer import data_shape

    data = load_dataset(point["train.dataset"], data_root, allow_download=False, **data_shape(point))
    if isinstance(data, FolderData):
        raise ValueError("zero-cost proxies need an in-memory dataset (not an image folder)")
    generator = torch.Generator().manual_seed(seed)
    index = torch.randperm(len(data.train_labels), generator=generator)[:size]
    images = data.train_images[index].float() / 255
    mean, std = images.mean((0, 2, 3), keepdim=True), images.std((0, 2, 3), keepdim=True).clamp_min(1e-6)
    return (images - mean) / std, data.train_labels[index]
