"""What every backbone shares: the block hook type, conv arithmetic, init, the skeleton."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

# block_fn(stage, channels, feature_size) -> module for the residual branch, or None.
BlockFn = Callable[[int, int, tuple[int, int]], "nn.Module | None"]
Size = tuple[int, int]


def conv_size(size: Size, kernel: int, stride: int = 1, padding: int = 0) -> Size:
    """Output spatial size of a conv/pool layer (floor mode)."""
    return ((size[0] + 2 * padding - kernel) // stride + 1, (size[1] + 2 * padding - kernel) // stride + 1)


# torch 2.14's CPU (oneDNN) channels_last weight gradient of a strided 1x1 conv with fewer input
# channels than this (one AVX-512 register of fp32) writes out of bounds when multi-threaded.
STRIDED_1X1_MIN_CHANNELS = 16


class SubsampledConv2d(nn.Conv2d):
    """A strided 1x1 conv computed as a stride-1 one on ``x[:, :, ::s, ::s]``: the same function,
    without the broken kernel (see STRIDED_1X1_MIN_CHANNELS). Parameters, state_dict keys and
    MACs are those of ``nn.Conv2d(cin, cout, 1, s, bias=False)``."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__(cin, cout, 1, bias=False)
        self.subsample = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x[:, :, ::self.subsample, ::self.subsample])

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, subsample={self.subsample}"


def conv(cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0) -> nn.Conv2d:
    """A dense bias-free conv; a SubsampledConv2d where it would be a strided 1x1 one with fewer
    than STRIDED_1X1_MIN_CHANNELS inputs."""
    if kernel == 1 and stride != 1 and cin < STRIDED_1X1_MIN_CHANNELS:
        return SubsampledConv2d(cin, cout, stride)
    return nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)


def make_block(block_fn: BlockFn | None, stage: int, channels: int, size: Size) -> nn.Module | None:
    return None if block_fn is None else block_fn(stage, channels, size)


def check_positive(**values: int | float) -> None:
    for name, value in values.items():
        if value <= 0:
            raise ValueError(f"{name} must be positive, not {value}")


def init_weights(model: nn.Module) -> None:
    """torchvision's init (Kaiming fan-out convs, BN 1/0), leaving GE blocks' own init alone."""
    stack = [model]
    while stack:
        module = stack.pop()
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        stack.extend(child for name, child in module.named_children() if name != "ge")


class Backbone(nn.Module):
    """stem -> stage2, stage3, ... -> head. Top-level children are exactly these, so a
    cost breakdown by child name is a breakdown by stage."""

    def __init__(self, stem: nn.Module, stages: dict[int, nn.Sequential], head: nn.Module) -> None:
        super().__init__()
        self.stem = stem
        self.stage_ids = tuple(stages)
        for stage, blocks in stages.items():
            self.add_module(f"stage{stage}", blocks)
        self.head = head
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stage_ids:
            x = getattr(self, f"stage{stage}")(x)
        return self.head(x)


def classifier(channels: int, num_classes: int, *pre: nn.Module) -> nn.Sequential:
    """Optional pre-activation, global average pool, linear layer."""
    return nn.Sequential(*pre, nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(channels, num_classes))
