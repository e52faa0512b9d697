"""SGD with momentum / Nesterov and weight decay, optionally none on BatchNorm and biases."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


def param_groups(model: nn.Module, weight_decay: float, no_wd_bn_bias: bool) -> list[dict]:
    """One group with decay; with ``no_wd_bn_bias`` a second, decay-free one for 1-d tensors
    (BatchNorm weights and biases, all biases)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not no_wd_bn_bias:
        return [{"params": params, "weight_decay": weight_decay}]
    decay = [p for p in params if p.ndim > 1]
    plain = [p for p in params if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": plain, "weight_decay": 0.0}]
    return [group for group in groups if group["params"]]


def make_optimizer(model: nn.Module, config: dict[str, Any]) -> torch.optim.SGD:
    momentum = config["train.momentum"]
    nesterov = config["train.nesterov"] and momentum > 0
    groups = param_groups(model, config["train.weight_decay"], config["train.no_wd_bn_bias"])
    return torch.optim.SGD(groups, lr=config["train.lr"], momentum=momentum, nesterov=nesterov)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
