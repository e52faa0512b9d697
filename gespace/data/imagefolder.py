"""An ImageNet-style folder tree: ``root/train/<class>/*.png|jpg``, ``root/val/<class>/*``.

Read by ``torchvision.datasets.ImageFolder`` through DataLoader workers with
the usual transforms: training images get RandomResizedCrop to ``image_size``
and horizontal flips, evaluation images are resized to ``image_size * 256/224``
and centre-cropped; both are normalised with the ImageNet mean and std. The
validation split is carved from ``train/``; ``test/`` (else ``val/``) is the
test split.
"""
from __future__ import annotations

import os
from pathlib import Path

from torchvision import transforms
from torchvision.datasets import ImageFolder

from gespace.data.base import DataError, FolderData

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_imagefolder(root: str | os.PathLike | None, image_size: int | None = None,
                     channels: int | None = None) -> FolderData:
    if root is None:
        root = os.environ.get("GESPACE_DATA")
    if root is None:
        raise DataError("imagefolder needs --data-root DIR holding train/<class>/ and "
                        "val/<class>/ image folders")
    root_path = Path(root)
    train_dir = root_path / "train"
    test_dir = next((root_path / d for d in ("test", "val") if (root_path / d).is_dir()), None)
    if not train_dir.is_dir() or test_dir is None:
        raise DataError(f"imagefolder: {root} must hold train/<class>/ and val/<class>/ "
                        f"(or test/<class>/) image folders")
    classes = sorted(entry.name for entry in os.scandir(train_dir) if entry.is_dir())
    if not classes:
        raise DataError(f"imagefolder: {train_dir} has no class folders")
    image_size = image_size or 224
    channels = channels or 3
    if channels not in (1, 3):
        raise DataError(f"imagefolder: images are read as RGB or grey, not {channels} channels")
    return FolderData("imagefolder", str(root_path), str(train_dir), str(test_dir), classes,
                      image_size=image_size, channels=channels,
                      spec={"name": "imagefolder", "root": str(root_path),
                            "image_size": image_size, "channels": channels})


def folder_transforms(data: FolderData, train: bool, flip: bool = True):
    """The torchvision transform pipeline of one split."""
    size = data.image_size
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    steps = []
    if data.channels == 1:
        steps.append(transforms.Grayscale(1))
        mean, std = (sum(mean) / 3,), (sum(std) / 3,)
    if train:
        steps.append(transforms.RandomResizedCrop(size))
        if flip:
            steps.append(transforms.RandomHorizontalFlip())
    else:
        steps += [transforms.Resize(round(size * 256 / 224)), transforms.CenterCrop(size)]
    steps += [transforms.ToTensor(), transforms.Normalize(mean, std)]
    return transforms.Compose(steps)


def folder_dataset(data: FolderData, split_dir: str, train: bool, flip: bool = True) -> ImageFolder:
    dataset = ImageFolder(split_dir, transform=folder_transforms(data, train, flip))
    if dataset.classes != data.classes and split_dir != data.train_dir:
        # Map by name so a val/ tree missing a class still labels consistently.
        index = {name: i for i, name in enumerate(data.classes)}
        unknown = [name for name in dataset.classes if name not in index]
        if unknown:
            raise DataError(f"imagefolder: {split_dir} has classes {unknown} not in train/")
        dataset.samples = [(path, index[dataset.classes[label]]) for path, label in dataset.samples]
        dataset.targets = [label for _, label in dataset.samples]
    return dataset
