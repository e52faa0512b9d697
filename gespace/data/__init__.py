"""Datasets and device-side loaders for the trainer.

``load_dataset(name, root)`` reads a dataset (``fashion-mnist``, ``cifar10``,
``cifar100``, ``imagefolder``, ``synthetic``); ``make_loaders(data, ...)``
carves the validation split and returns ``Loaders`` whose ``train``, ``val``
and ``test`` iterate ``(x, y)`` batches on the device.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch

from gespace.data.augment import BatchAugment, Normalize, channel_stats, pad_images
from gespace.data.base import DataError, FolderData, ImageData
from gespace.data.cifar import load_cifar
from gespace.data.fashion_mnist import load_fashion_mnist
from gespace.data.imagefolder import folder_dataset, load_imagefolder
from gespace.data.loader import EpochSampler, FolderLoader, TensorLoader, epoch_seed, subset
from gespace.data.split import split_indices, subset_indices
from gespace.data.synthetic import make_synthetic
from gespace.vocab import DATASETS

__all__ = ["DATASETS", "BatchAugment", "DataError", "FolderData", "FolderLoader", "ImageData",
           "Loaders", "Normalize", "TensorLoader", "EpochSampler", "channel_stats", "epoch_seed",
           "load_cifar", "load_dataset", "load_fashion_mnist", "load_imagefolder",
           "make_loaders", "make_synthetic", "pad_images", "split_indices", "subset_indices"]


def load_dataset(name: str, root: str | os.PathLike | None = None, *,
                 channels: int | None = None, image_size: int | None = None,
                 num_classes: int | None = None, allow_download: bool = True,
                 options: dict[str, Any] | None = None) -> ImageData | FolderData:
    """Read dataset ``name``; ``channels``/``image_size`` adapt it to a model's input.

    ``num_classes`` only shapes the synthetic dataset; ``options`` are extra
    keyword arguments of the synthetic generator (n_train, n_test, noise, seed).
    Raises ``DataError`` with a one-line remedy when the data is not there.
    """
    root = os.fspath(root) if root is not None else None
    options = dict(options or {})
    if name == "fashion-mnist":
        data = load_fashion_mnist(root, allow_download=allow_download)
    elif name in ("cifar10", "cifar100"):
        data = load_cifar(root, 10 if name == "cifar10" else 100)
    elif name == "imagefolder":
        return load_imagefolder(root, image_size, channels)
    elif name == "synthetic":
        shape = {"channels": channels, "image_size": image_size, "num_classes": num_classes}
        options.update({k: v for k, v in shape.items() if v is not None and k not in options})
        return make_synthetic(**options)
    else:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return data.adapted(channels, image_size)


@dataclass
class Loaders:
    """The three splits' loaders and what a trainer needs to know about the data."""

    train: TensorLoader | FolderLoader
    val: TensorLoader | FolderLoader | None
    test: TensorLoader | FolderLoader
    num_classes: int
    spec: dict[str, Any] = field(default_factory=dict)
    mean: list[float] | None = None
    std: list[float] | None = None


def make_loaders(data: ImageData | FolderData, *, batch_size: int, device: torch.device | str = "cpu",
                 val_fraction: float = 0.1, split_seed: int = 0, train_subset: float = 1.0,
                 pad: int = 0, flip: bool = False,
                 seed: int = 0, eval_batch_size: int | None = None,
                 num_workers: int | None = None,
                 stats: tuple[list[float], list[float]] | None = None) -> Loaders:
    """Split ``data`` (validation carved from train by ``split_seed``) and wrap it in loaders.

    ``train_subset`` keeps a seeded fraction of the remaining training images (the
    validation split stays whole, so points trained on a subset rank fairly).

    In-memory data is moved to ``device`` once; normalisation statistics
    (``stats``: per-channel mean and std in [0, 1] units) come from the training
    split unless given, and are recorded in ``spec`` (``mean``/``std``) so a
    checkpoint's data can be rebuilt exactly. ``seed`` drives shuffling and
    augmentation.
    """
    eval_batch_size = eval_batch_size or max(batch_size, 256)
    spec = {**data.spec, "val_fraction": float(val_fraction), "split_seed": int(split_seed),
            "train_subset": float(train_subset)}
    if isinstance(data, FolderData):
        train_full = folder_dataset(data, data.train_dir, train=True, flip=flip)
        train_idx, val_idx = split_indices(len(train_full), val_fraction, split_seed)
        train_idx = subset_indices(train_idx, train_subset, split_seed)
        kwargs = {"num_workers": num_workers, "device": device}
        train = FolderLoader(subset(train_full, train_idx), batch_size=batch_size, train=True,
                             seed=seed, **kwargs)
        val = None
        if len(val_idx):
            val_full = folder_dataset(data, data.train_dir, train=False)
            val = FolderLoader(subset(val_full, val_idx), batch_size=eval_batch_size, **kwargs)
        test = FolderLoader(folder_dataset(data, data.test_dir, train=False),
                            batch_size=eval_batch_size, **kwargs)
        return Loaders(train, val, test, data.num_classes, spec)

    train_idx, val_idx = split_indices(len(data.train_images), val_fraction, split_seed)
    train_idx = subset_indices(train_idx, train_subset, split_seed)
    train_images = data.train_images[train_idx]
    mean, std = (list(stats[0]), list(stats[1])) if stats else channel_stats(train_images)
    spec.update(mean=list(mean), std=list(std))
    normalize = Normalize(mean, std, device)
    train = TensorLoader(train_images, data.train_labels[train_idx], batch_size=batch_size,
                         normalize=normalize, train=True, pad=pad, flip=flip, seed=seed,
                         device=device)
    val = None
    if len(val_idx):
        val = TensorLoader(data.train_images[val_idx], data.train_labels[val_idx],
                           batch_size=eval_batch_size, normalize=normalize, device=device)
    test = TensorLoader(data.test_images, data.test_labels, batch_size=eval_batch_size,
                        normalize=normalize, device=device)
    return Loaders(train, val, test, data.num_classes, spec, mean, std)
