"""CIFAR ResNet-(6n+2) of He et al. 2016 (Sec. 4.2): basic blocks, widths w, 2w, 4w."""
from __future__ import annotations

from torch import nn

from gespace.backbones.common import (Backbone, BlockFn, Size, check_positive, classifier, conv_size,
                                      make_block)
from gespace.backbones.resnet import Block, basic_branch, conv_bn, projection
from gespace.vocab import ARCH_STAGES, check_depth


def cifar_resnet(depth: int = 110, *, width: int = 16, in_channels: int = 3, num_classes: int = 10,
                 image_size: int = 32, block_fn: BlockFn | None = None) -> Backbone:
    """Stages 2, 3, 4 of n = (depth-2)/6 blocks; shape changes use a 1x1 conv + BN shortcut."""
    check_depth("cifar_resnet", depth)
    check_positive(width=width, in_channels=in_channels, num_classes=num_classes, image_size=image_size)
    n = (depth - 2) // 6
    stem = nn.Sequential(*conv_bn(in_channels, width, 3), nn.ReLU(inplace=True))
    size: Size = (image_size, image_size)
    stages, cin = {}, width
    for stage, cout in zip(ARCH_STAGES["cifar_resnet"], (width, 2 * width, 4 * width)):
        blocks = []
        for i in range(n):
            stride = 2 if i == 0 and stage > 2 else 1
            size = conv_size(size, 3, stride, 1)
            ge = make_block(block_fn, stage, cout, size)
            branch = basic_branch(cin, cout, stride)
            blocks.append(Block(branch, ge, projection(cin, cout, stride)))
            cin = cout
        stages[stage] = nn.Sequential(*blocks)
    return Backbone(stem, stages, classifier(cin, num_classes))
