"""Wide ResNet WRN-d-k (Zagoruyko & Komodakis 2016): pre-activation basic blocks."""
from __future__ import annotations

from torch import nn

from gespace.backbones.common import (Backbone, BlockFn, Size, check_positive, classifier, conv_size,
                                      make_block)
from gespace.backbones.preact_resnet import PreActBlock, bn_relu, preact_shortcut
from gespace.vocab import ARCH_STAGES, check_depth


def wrn(depth: int = 16, *, widen: int = 8, width: int = 16, dropout: float = 0.0, in_channels: int = 3,
        num_classes: int = 10, image_size: int = 32, block_fn: BlockFn | None = None) -> Backbone:
    """Stages 2, 3, 4 of n = (depth-4)/6 blocks with w*k, 2w*k, 4w*k channels."""
    check_depth("wrn", depth)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"wrn dropout must be in [0, 1), not {dropout}")
    check_positive(widen=widen, width=width, in_channels=in_channels, num_classes=num_classes,
                   image_size=image_size)
    n = (depth - 4) // 6
    stem = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
    size: Size = (image_size, image_size)
    stages, cin = {}, width
    for stage, cout in zip(ARCH_STAGES["wrn"], (width * widen, 2 * width * widen, 4 * width * widen)):
        blocks = []
        for i in range(n):
            stride = 2 if i == 0 and stage > 2 else 1
            size = conv_size(size, 3, stride, 1)
            drop = [nn.Dropout(dropout)] if dropout > 0 else []
            branch = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), *bn_relu(cout), *drop,
                                   nn.Conv2d(cout, cout, 3, 1, 1, bias=False))
            ge = make_block(block_fn, stage, cout, size)
            blocks.append(PreActBlock(cin, branch, ge, preact_shortcut(cin, cout, stride)))
            cin = cout
        stages[stage] = nn.Sequential(*blocks)
    return Backbone(stem, stages, classifier(cin, num_classes, *bn_relu(cin)))
