"""ImageNet ResNet-18/34/50/101/152 (He et al. 2016), Caffe or torchvision stride placement."""
from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import nn

from gespace.backbones.common import (Backbone, BlockFn, Size, check_positive, classifier, conv,
                                      conv_size, make_block)
from gespace.vocab import ARCH_STAGES, check_depth

STYLES = ("caffe", "torchvision")


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [conv(cin, cout, kernel, stride, kernel // 2), nn.BatchNorm2d(cout)]


def basic_branch(cin: int, width: int, stride: int) -> nn.Sequential:
    # One place for the stride, the first 3x3, whatever the style.
    return nn.Sequential(*conv_bn(cin, width, 3, stride), nn.ReLU(inplace=True),
                         *conv_bn(width, width, 3))


def bottleneck_branch(cin: int, width: int, stride: int, style: str) -> nn.Sequential:
    # Caffe (the paper's count): stride on the first 1x1; torchvision: on the 3x3.
    s1, s3 = (stride, 1) if style == "caffe" else (1, stride)
    return nn.Sequential(*conv_bn(cin, width, 1, s1), nn.ReLU(inplace=True),
                         *conv_bn(width, width, 3, s3), nn.ReLU(inplace=True),
                         *conv_bn(width, width * 4, 1))


def projection(cin: int, cout: int, stride: int) -> nn.Sequential | None:
    """1x1 conv + BN shortcut where the shape changes (option B), else None (identity)."""
    return None if cin == cout and stride == 1 else nn.Sequential(*conv_bn(cin, cout, 1, stride))


class Block(nn.Module):
    """Post-activation residual block: relu(ge(branch(x)) + shortcut(x)); GE after the last BN."""

    def __init__(self, branch: nn.Module, ge: nn.Module | None, downsample: nn.Module | None) -> None:
        super().__init__()
        self.branch = branch
        self.ge = ge
        self.downsample = downsample
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branch(x)
        if self.ge is not None:
            out = self.ge(out)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


Branch = Callable[..., nn.Sequential]  # (cin, width, stride), and style for a bottleneck
LAYOUTS: dict[int, tuple[Branch, int, tuple[int, ...]]] = {  # branch, expansion, blocks per stage
    18: (basic_branch, 1, (2, 2, 2, 2)),
    34: (basic_branch, 1, (3, 4, 6, 3)),
    50: (bottleneck_branch, 4, (3, 4, 6, 3)),
    101: (bottleneck_branch, 4, (3, 4, 23, 3)),
    152: (bottleneck_branch, 4, (3, 8, 36, 3)),
}


def resnet(depth: int = 50, *, style: str = "caffe", in_channels: int = 3, num_classes: int = 1000,
           image_size: int = 224, block_fn: BlockFn | None = None) -> Backbone:
    """ResNet-``depth``; stages 2-5 are conv2_x..conv5_x, each block's GE from ``block_fn``."""
    check_depth("resnet", depth)
    if style not in STYLES:
        raise ValueError(f"resnet style must be one of {list(STYLES)}, not {style!r}")
    check_positive(in_channels=in_channels, num_classes=num_classes, image_size=image_size)
    branch, expansion, counts = LAYOUTS[depth]
    if branch is bottleneck_branch:  # only a bottleneck has a choice of where its stride sits
        branch = partial(bottleneck_branch, style=style)
    stem = nn.Sequential(*conv_bn(in_channels, 64, 7, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
    size: Size = conv_size(conv_size((image_size, image_size), 7, 2, 3), 3, 2, 1)
    stages, cin = {}, 64
    for stage, count, width in zip(ARCH_STAGES["resnet"], counts, (64, 128, 256, 512)):
        blocks, cout = [], width * expansion
        for i in range(count):
            stride = 2 if i == 0 and stage > 2 else 1
            size = conv_size(size, 1, stride)  # = the 3x3/stride, pad 1 output size
            ge = make_block(block_fn, stage, cout, size)
            blocks.append(Block(branch(cin, width, stride), ge, projection(cin, cout, stride)))
            cin = cout
        stages[stage] = nn.Sequential(*blocks)
    return Backbone(stem, stages, classifier(cin, num_classes))
