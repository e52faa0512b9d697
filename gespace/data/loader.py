"""Loaders that yield ``(x, y)`` batches on the training device, reshuffled per epoch.

``TensorLoader`` serves an in-memory dataset held on the device as uint8:
each epoch draws a permutation (and augmentation randomness) from a generator
seeded by ``(seed, epoch)``, so an epoch's batches depend only on the seed and
the epoch number: a resumed run sees exactly the batches an uninterrupted one
would. ``FolderLoader`` does the same for an ImageFolder tree through a
DataLoader with worker processes.
"""
from __future__ import annotations

import os
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, Subset

from gespace.data.augment import BatchAugment, Normalize, pad_images


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A 63-bit seed for (run seed, epoch, stream), well mixed (splitmix64)."""
    z = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + stream * 0x94D049BB133111EB
         + 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (z ^ (z >> 31)) & 0x7FFFFFFFFFFFFFFF


class TensorLoader:
    """Batches of in-memory uint8 images, augmented and normalised on their device.

    With ``train=True`` batches are shuffled (and, with ``drop_last``, all full)
    and augmented (``pad``/``flip``); otherwise they come in order, unaugmented.
    Call ``set_epoch(e)`` before iterating an epoch.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int,
                 normalize: Normalize, train: bool = False, pad: int = 0, flip: bool = False,
                 seed: int = 0, drop_last: bool | None = None, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.train = train
        self.seed = seed
        self.epoch = 0
        self.num_images = len(images)
        self.pad = pad if train else 0
        self.flip = flip if train else False
        images = images.to(self.device)
        self.labels = labels.to(self.device, dtype=torch.long)
        self.normalize = normalize
        self.store = pad_images(images, self.pad) if train else images
        self.augment = BatchAugment(self.store, self.pad, self.flip) if train else None
        if drop_last is None:
            drop_last = train and self.num_images >= self.batch_size
        self.drop_last = drop_last

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_images // self.batch_size
        return -(-self.num_images // self.batch_size)

    @property
    def images_per_epoch(self) -> int:
        return len(self) * self.batch_size if self.drop_last else self.num_images

    def _generator(self) -> torch.Generator:
        gen = torch.Generator(device=self.device)
        gen.manual_seed(epoch_seed(self.seed, self.epoch))
        return gen

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n, bs = self.num_images, self.batch_size
        if self.train:
            gen = self._generator()
            order = torch.randperm(n, device=self.device, generator=gen)
            for b in range(len(self)):
                index = order[b * bs:(b + 1) * bs]
                yield self.normalize(self.augment(index, gen)), self.labels[index]
        else:
            for start in range(0, n, bs):
                yield self.normalize(self.store[start:start + bs]), self.labels[start:start + bs]


class EpochSampler(Sampler[int]):
    """A permutation of ``range(n)`` seeded by (seed, epoch); ``set_epoch`` picks the epoch."""

    def __init__(self, n: int, seed: int = 0, shuffle: bool = True):
        self.n, self.seed, self.shuffle, self.epoch = n, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        if not self.shuffle:
            return iter(range(self.n))
        gen = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        return iter(torch.randperm(self.n, generator=gen).tolist())


class SeededItems(Dataset):
    """Each item drawn with the global torch RNG seeded by (seed, epoch, index).

    torchvision's transforms draw from the global RNG; seeding it per item
    (inside ``fork_rng``, so the caller's stream is untouched) makes an
    epoch's augmentations independent of worker count and scheduling.
    """

    def __init__(self, dataset, seed: int):
        self.dataset, self.seed, self.epoch = dataset, seed, 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(epoch_seed(self.seed, self.epoch, stream=2 + index))
            return self.dataset[index]


class FolderLoader:
    """A DataLoader over an ImageFolder (sub)set, moving batches to ``device``.

    Worker processes decode and transform images; shuffling and every item's
    random transform are seeded by (seed, epoch), so an epoch is reproducible
    whatever the worker count.
    """

    def __init__(self, dataset, *, batch_size: int, train: bool = False, seed: int = 0,
                 num_workers: int | None = None, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.train = train
        self.seed = seed
        self.epoch = 0
        if num_workers is None:
            num_workers = min(8, len(os.sched_getaffinity(0)))
        self.items = SeededItems(dataset, seed) if train else dataset
        self.sampler = EpochSampler(len(dataset), seed, shuffle=train)
        self.generator = torch.Generator()
        self.loader = DataLoader(
            self.items, batch_size=batch_size, sampler=self.sampler, num_workers=num_workers,
            pin_memory=self.device.type == "cuda", drop_last=train and len(dataset) >= batch_size,
            persistent_workers=False, generator=self.generator)
        self.batch_size = batch_size
        self.num_images = len(dataset)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.sampler.set_epoch(epoch)
        if isinstance(self.items, SeededItems):
            self.items.epoch = epoch
        self.generator.manual_seed(epoch_seed(self.seed, epoch, stream=1))

    def __len__(self) -> int:
        return len(self.loader)

    @property
    def images_per_epoch(self) -> int:
        return len(self) * self.batch_size if self.loader.drop_last else self.num_images

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        non_blocking = self.device.type == "cuda"
        for x, y in self.loader:
            yield x.to(self.device, non_blocking=non_blocking), y.to(self.device,
                                                                     non_blocking=non_blocking)


def subset(dataset, indices: torch.Tensor) -> Subset:
    return Subset(dataset, indices.tolist())
