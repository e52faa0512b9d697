"""Backbones: name -> builder(**backbone knobs, block_fn=...) -> nn.Module (keys = vocab.ARCHS)."""
from __future__ import annotations

from gespace.backbones.cifar_resnet import cifar_resnet
from gespace.backbones.common import Backbone, BlockFn
from gespace.backbones.preact_resnet import preact_resnet
from gespace.backbones.resnet import resnet
from gespace.backbones.shufflenet import shufflenet
from gespace.backbones.wrn import wrn

BACKBONES = {
    "resnet": resnet,
    "cifar_resnet": cifar_resnet,
    "preact_resnet": preact_resnet,
    "wrn": wrn,
    "shufflenet": shufflenet,
}

__all__ = ["BACKBONES", "Backbone", "BlockFn", "cifar_resnet", "preact_resnet", "resnet", "shufflenet",
           "wrn"]
