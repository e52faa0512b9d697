"""CIFAR-10 / CIFAR-100 from a local root in torchvision's layout, never downloaded.

``root/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}`` and
``root/cifar-100-python/{train,test,meta}`` are read by
``torchvision.datasets.CIFAR10/100`` with ``download=False``. The files'
checksums are not verified (only their presence), so re-pickled or subset
copies load too.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torchvision.datasets import CIFAR10, CIFAR100

from gespace.data.base import DataError, ImageData


class _Present:
    """Mix-in: accept the files when they exist instead of checking their MD5 sums."""

    def _check_integrity(self) -> bool:
        return all(os.path.isfile(os.path.join(self.root, self.base_folder, name))
                   for name, _ in self.train_list + self.test_list)

    def _load_meta(self) -> None:
        path = os.path.join(self.root, self.base_folder, self.meta["filename"])
        if not os.path.isfile(path):
            self.classes = []  # labels still work; class names are cosmetic
            self.class_to_idx = {}
            return
        self.meta = {**self.meta, "md5": None}
        super()._load_meta()


class LocalCIFAR10(_Present, CIFAR10):
    pass


class LocalCIFAR100(_Present, CIFAR100):
    pass


def load_cifar(root: str | os.PathLike | None, num_classes: int = 10) -> ImageData:
    """CIFAR-10 (``num_classes`` 10) or CIFAR-100 (100) as uint8 N x 3 x 32 x 32 tensors."""
    name = f"cifar{num_classes}"
    cls = {10: LocalCIFAR10, 100: LocalCIFAR100}.get(num_classes)
    if cls is None:
        raise DataError(f"CIFAR has 10 or 100 classes, not {num_classes}")
    root = root or os.environ.get("GESPACE_DATA")
    folder = cls.base_folder
    if root is None:
        raise DataError(f"{name} needs --data-root DIR, a directory holding {folder}/ "
                        f"(torchvision's layout; e.g. torchvision.datasets.CIFAR{num_classes}"
                        f"(DIR, download=True) on a machine with a network)")
    if not (Path(root) / folder).is_dir():
        raise DataError(f"{name} not found: {root} has no {folder}/ (pass --data-root DIR with "
                        f"torchvision's layout)")
    try:
        train = cls(str(root), train=True, download=False)
        test = cls(str(root), train=False, download=False)
    except (RuntimeError, OSError, KeyError, ValueError, EOFError) as err:
        raise DataError(f"{name} in {root} cannot be read: {err}") from err

    def tensors(part):
        images = torch.from_numpy(part.data).permute(0, 3, 1, 2).contiguous()
        return images, torch.as_tensor(part.targets, dtype=torch.long)

    train_x, train_y = tensors(train)
    test_x, test_y = tensors(test)
    return ImageData(name, train_x, train_y, test_x, test_y, num_classes,
                     spec={"name": name, "root": str(root)})
