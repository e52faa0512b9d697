"""Pre-activation bottleneck ResNet-(9n+2) for CIFAR (He et al. 2016, identity mappings)."""
from __future__ import annotations

import torch
from torch import nn

from gespace.backbones.common import (Backbone, BlockFn, Size, check_positive, classifier, conv,
                                      conv_size, make_block)
from gespace.vocab import ARCH_STAGES, check_depth


class PreActBlock(nn.Module):
    """x + ge(branch(relu(bn(x)))). Where the shape changes, the shortcut is a 1x1 conv of
    the same pre-activated input, as in the authors' code; GE comes after the last conv."""

    def __init__(self, cin: int, branch: nn.Module, ge: nn.Module | None,
                 shortcut: nn.Module | None) -> None:
        super().__init__()
        self.preact = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True))
        self.branch = branch
        self.ge = ge
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = self.preact(x)
        out = self.branch(act)
        if self.ge is not None:
            out = self.ge(out)
        return out + (x if self.shortcut is None else self.shortcut(act))


def preact_shortcut(cin: int, cout: int, stride: int) -> nn.Conv2d | None:
    return None if cin == cout and stride == 1 else conv(cin, cout, 1, stride)


def bn_relu(channels: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]


def preact_resnet(depth: int = 164, *, width: int = 16, in_channels: int = 3, num_classes: int = 10,
                  image_size: int = 32, block_fn: BlockFn | None = None) -> Backbone:
    """Stages 2, 3, 4 of n = (depth-2)/9 bottlenecks with outputs 4w, 8w, 16w (64/128/256)."""
    check_depth("preact_resnet", depth)
    check_positive(width=width, in_channels=in_channels, num_classes=num_classes, image_size=image_size)
    n = (depth - 2) // 9
    stem = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)  # its BN-ReLU opens the first block
    size: Size = (image_size, image_size)
    stages, cin = {}, width
    for stage, mid in zip(ARCH_STAGES["preact_resnet"], (width, 2 * width, 4 * width)):
        blocks, cout = [], 4 * mid
        for i in range(n):
            stride = 2 if i == 0 and stage > 2 else 1
            size = conv_size(size, 1, stride)
            # The authors put the stride on the first 1x1 (KaimingHe/resnet-1k-layers).
            branch = nn.Sequential(conv(cin, mid, 1, stride), *bn_relu(mid),
                                   nn.Conv2d(mid, mid, 3, 1, 1, bias=False), *bn_relu(mid),
                                   nn.Conv2d(mid, cout, 1, bias=False))
            ge = make_block(block_fn, stage, cout, size)
            blocks.append(PreActBlock(cin, branch, ge, preact_shortcut(cin, cout, stride)))
            cin = cout
        stages[stage] = nn.Sequential(*blocks)
    return Backbone(stem, stages, classifier(cin, num_classes, *bn_relu(cin)))
