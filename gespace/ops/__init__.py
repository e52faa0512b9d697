"""Gather-Excite operators and the block factory the model builder uses."""
from __future__ import annotations

from torch import nn

from gespace.ops.excite import Excite
from gespace.ops.gather import Gather
from gespace.ops.ge import GEBlock
from gespace.ops.se import SEBlock

BLOCKS: dict[str, type[nn.Module]] = {"ge": GEBlock, "se": SEBlock}


def create_block(kind: str, channels: int, **kwargs) -> nn.Module:
    """Build the ``kind`` block ('ge' or 'se') for ``channels`` channels."""
    if kind not in BLOCKS:
        raise ValueError(f"unknown block kind {kind!r}; choose from {sorted(BLOCKS)}")
    return BLOCKS[kind](channels, **kwargs)


__all__ = ["BLOCKS", "Excite", "GEBlock", "Gather", "SEBlock", "create_block"]
