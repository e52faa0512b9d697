"""ShuffleNet v1 (Zhang et al. 2018): grouped 1x1 convs, channel shuffle, depthwise 3x3."""
from __future__ import annotations

import torch
from torch import nn

from gespace.backbones.common import (Backbone, BlockFn, Size, check_positive, classifier, conv_size,
                                      make_block)
from gespace.vocab import ARCH_STAGES, SHUFFLENET_SCALES, SHUFFLENET_STAGE2_WIDTHS

UNITS = (4, 8, 4)  # per stage; stage 2's widths (by group count) double at each later stage


def round_to(value: float, multiple: int) -> int:
    return max(multiple, int(value / multiple + 0.5) * multiple)


class ShuffleUnit(nn.Module):
    """relu(x + ge(branch(x))), or for stride 2 relu(cat(avgpool(x), ge(branch(x)))), whose
    branch then produces only cout - cin channels."""

    def __init__(self, cin: int, cout: int, groups: int, stride: int, first_groups: int,
                 ge: nn.Module | None) -> None:
        super().__init__()
        mid, branch_out = cout // 4, cout - cin if stride == 2 else cout
        shuffle = [nn.ChannelShuffle(first_groups)] if first_groups > 1 else []
        self.branch = nn.Sequential(
            nn.Conv2d(cin, mid, 1, groups=first_groups, bias=False), nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True), *shuffle,
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid),  # no ReLU here
            nn.Conv2d(mid, branch_out, 1, groups=groups, bias=False), nn.BatchNorm2d(branch_out))
        self.ge = ge
        self.pool = nn.AvgPool2d(3, 2, 1) if stride == 2 else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branch(x)
        if self.ge is not None:
            out = self.ge(out)
        out = out + x if self.pool is None else torch.cat((self.pool(x), out), 1)
        return self.relu(out)


def shufflenet(*, groups: int = 3, scale: float = 1.0, in_channels: int = 3, num_classes: int = 1000,
               image_size: int = 224, block_fn: BlockFn | None = None) -> Backbone:
    """ShuffleNet ``scale``x (g = ``groups``): stages 2, 3, 4 of 4, 8, 4 units.

    Widths are scaled then rounded to a multiple of 4g (exact at 1x) so that the bottleneck
    (out/4) splits into g groups; the stem's 24 channels are scaled and rounded to g.
    """
    if groups not in SHUFFLENET_STAGE2_WIDTHS:
        raise ValueError(f"shufflenet groups must be one of {sorted(SHUFFLENET_STAGE2_WIDTHS)}, not {groups}")
    if scale not in SHUFFLENET_SCALES:
        raise ValueError(f"shufflenet scale must be one of {list(SHUFFLENET_SCALES)}, not {scale}")
    check_positive(in_channels=in_channels, num_classes=num_classes, image_size=image_size)
    cin = round_to(24 * scale, groups)
    stem = nn.Sequential(nn.Conv2d(in_channels, cin, 3, 2, 1, bias=False), nn.BatchNorm2d(cin),
                         nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
    size: Size = conv_size(conv_size((image_size, image_size), 3, 2, 1), 3, 2, 1)
    stages = {}
    for stage, units in zip(ARCH_STAGES["shufflenet"], UNITS):
        cout = round_to(SHUFFLENET_STAGE2_WIDTHS[groups] * scale * 2 ** (stage - 2), 4 * groups)
        blocks = []
        for i in range(units):
            stride = 2 if i == 0 else 1
            size = conv_size(size, 3, stride, 1)
            first_groups = 1 if stage == 2 and i == 0 else groups  # the network's first 1x1: ungrouped
            branch_out = cout - cin if stride == 2 else cout
            ge = make_block(block_fn, stage, branch_out, size)
            blocks.append(ShuffleUnit(cin, cout, groups, stride, first_groups, ge))
            cin = cout
        stages[stage] = nn.Sequential(*blocks)
    return Backbone(stem, stages, classifier(cin, num_classes))
