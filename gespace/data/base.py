"""What every dataset loader returns: images held in memory, or a folder tree.

``ImageData`` keeps a whole dataset as tensors (uint8 N x C x H x W images,
int64 labels) so augmentation can run as batched tensor ops on the training
device. ``FolderData`` describes an ImageFolder tree read by DataLoader
workers. Both carry ``spec``: the primitives (name, root, options) that
``gespace.data.load_dataset(**spec)`` needs to load the same data again,
which is what a checkpoint stores.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from gespace.data.adapt import adapt_images
from gespace.errors import DataError

__all__ = ["DataError", "FolderData", "ImageData"]  # DataError: the loaders import it from here


@dataclass
class ImageData:
    """An in-memory image classification dataset: train and test parts."""

    name: str
    train_images: torch.Tensor   # uint8, N x C x H x W
    train_labels: torch.Tensor   # int64, N
    test_images: torch.Tensor
    test_labels: torch.Tensor
    num_classes: int
    spec: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for part in ("train", "test"):
            images, labels = getattr(self, f"{part}_images"), getattr(self, f"{part}_labels")
            if images.ndim != 4:
                raise DataError(f"{self.name}: {part} images must be N x C x H x W, "
                                f"not {tuple(images.shape)}")
            if len(images) != len(labels):
                raise DataError(f"{self.name}: {len(images)} {part} images but {len(labels)} labels")
        if self.train_images.shape[1:] != self.test_images.shape[1:]:
            raise DataError(f"{self.name}: train images {tuple(self.train_images.shape[1:])} and "
                            f"test images {tuple(self.test_images.shape[1:])} differ in shape")

    @property
    def channels(self) -> int:
        return int(self.train_images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train_images.shape[-1])

    def adapted(self, channels: int | None = None, image_size: int | None = None) -> "ImageData":
        """This data with ``channels`` (grey repeated to RGB) and ``image_size`` (resized once)."""
        if (channels in (None, self.channels)) and (image_size in (None, self.image_size)):
            return self
        return ImageData(self.name, adapt_images(self.train_images, channels, image_size, self.name),
                         self.train_labels,
                         adapt_images(self.test_images, channels, image_size, self.name),
                         self.test_labels, self.num_classes, dict(self.spec))


@dataclass
class FolderData:
    """An ImageFolder tree: ``root/train/<class>/*`` and ``root/val/<class>/*`` (or ``test``)."""

    name: str
    root: str
    train_dir: str
    test_dir: str
    classes: list[str]
    image_size: int = 224
    channels: int = 3
    spec: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)
