"""Seeds are paired across points: seed i gives every point the same training images in the
same order with the same augmentation (and the validation split is the campaign's)."""
from __future__ import annotations

import torch
from torch import nn

from gespace.builder import build_model
from gespace.data import make_synthetic
from gespace.train import StopTraining, train

BASE = {"backbone.arch": "cifar_resnet", "backbone.depth": 8, "backbone.width": 8, "backbone.in_channels": 1,
        "backbone.image_size": 16, "backbone.num_classes": 10, "train.dataset": "synthetic",
        "train.epochs": 1, "train.batch_size": 32, "train.subset": 0.5, "train.pad": 2, "train.flip": True,
        "train.val_fraction": 0.2}
BASELINE = {**BASE, "ge.placement.stages": ()}
GE_THETA = {**BASE, "ge.placement.stages": (2, 3, 4), "ge.gather.op": "dwconv", "ge.gather.extent": "global"}


class Recorder(nn.Module):
    """Wraps a model and keeps the inputs of its first two training batches."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.batches = model, []
        self.point, self.point_id = model.point, model.point_id

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.training and len(self.batches) < 2:
            self.batches.append(images.detach().clone().contiguous())
        return self.model(images)


def first_batches(point: dict, seed: int, data) -> list[torch.Tensor]:
    model = Recorder(build_model(point, seed=seed))

    def stop(metrics):
        raise StopTraining("enough")

    train(model, point=point, data=data, seed=seed, progress=False, threads=1, callback=stop)
    return model.batches


def test_seed_i_gives_every_point_the_same_batches():
    data = make_synthetic(256, 64, seed=0, image_size=16, channels=1)
    base, ge = first_batches(BASELINE, 3, data), first_batches(GE_THETA, 3, data)
    assert len(base) == len(ge) == 2
    assert all(torch.equal(a, b) for a, b in zip(base, ge))  # same images, order, crops and flips
    other = first_batches(GE_THETA, 4, data)
    assert not torch.equal(other[0], ge[0])  # another seed, another stream
