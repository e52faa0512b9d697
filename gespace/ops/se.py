"""Squeeze-and-Excitation (Hu et al. 2018) as the GE point it is: avg pool, global, SE subnet."""
from __future__ import annotations

from gespace.ops.ge import GEBlock


class SEBlock(GEBlock):
    """SE-Net's block: global average pool, 1x1 conv C -> C/r (bias), ReLU, 1x1 conv back (bias), sigmoid."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__(channels, gather_op="pool", pool="avg", extent="global", mlp="se", reduction=reduction)
