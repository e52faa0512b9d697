"""The paper's augmentation as batched tensor ops on the training device.

Zero-pad by ``pad`` (done once for the whole training set), take a random
``H x W`` crop of each padded image, flip it horizontally with probability
1/2, and normalise with per-channel mean and std. Crop and flip are two
``gather`` calls with per-image row and column indices (a flipped crop reads
its columns backwards), so a batch costs a few indexing ops and one fused
multiply-add, whatever its size.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def channel_stats(images: torch.Tensor, chunk: int = 8192) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 N x C x H x W images, in [0, 1] units."""
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    total_sq = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, len(images), chunk):
        part = images[start:start + chunk].to(torch.float64).div_(255)
        total += part.sum((0, 2, 3))
        total_sq += part.square().sum((0, 2, 3))
    count = max(1, images.numel() // channels)
    mean = total / count
    std = (total_sq / count - mean.square()).clamp_min(1e-12).sqrt()
    return mean.tolist(), std.tolist()


class Normalize:
    """uint8 (or [0,255] float) images to float ``(x/255 - mean) / std`` in one fused op."""

    def __init__(self, mean: list[float], std: list[float], device: torch.device | str = "cpu"):
        self.mean, self.std = list(mean), list(std)
        scale = torch.tensor([1.0 / (255.0 * s) for s in std], dtype=torch.float32)
        shift = torch.tensor([-m / s for m, s in zip(mean, std)], dtype=torch.float32)
        self.scale = scale.view(1, -1, 1, 1).to(device)
        self.shift = shift.view(1, -1, 1, 1).to(device)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift, images.float(), self.scale)


def pad_images(images: torch.Tensor, pad: int) -> torch.Tensor:
    """Zero-pad N x C x H x W images by ``pad`` on every side (once, before cropping)."""
    return F.pad(images, (pad, pad, pad, pad)) if pad > 0 else images


class BatchAugment:
    """Random crops of padded images and random horizontal flips for one batch.

    ``padded`` is the (already padded) image store; ``__call__(index, gen)``
    returns the augmented uint8 batch of the images at ``index``.
    """

    def __init__(self, padded: torch.Tensor, pad: int, flip: bool):
        self.padded, self.pad, self.flip = padded, pad, flip
        self.height = padded.shape[-2] - 2 * pad
        self.width = padded.shape[-1] - 2 * pad
        device = padded.device
        self.rows = torch.arange(self.height, device=device)
        self.cols = torch.arange(self.width, device=device)

    def offsets(self, n: int, gen: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor,
                                                                       torch.Tensor]:
        """Per-image (dy, dx, flipped) draws: shifts in [0, 2*pad], flips with p = 1/2."""
        device = self.padded.device
        if self.pad > 0:
            shifts = torch.randint(0, 2 * self.pad + 1, (2, n), device=device, generator=gen)
            dy, dx = shifts[0], shifts[1]
        else:
            dy = dx = torch.zeros(n, dtype=torch.long, device=device)
        if self.flip:
            flipped = torch.rand(n, device=device, generator=gen) < 0.5
        else:
            flipped = torch.zeros(n, dtype=torch.bool, device=device)
        return dy, dx, flipped

    def __call__(self, index: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        batch = self.padded[index]
        if self.pad == 0 and not self.flip:
            return batch
        n, c = batch.shape[:2]
        dy, dx, flipped = self.offsets(n, gen)
        if self.pad > 0:
            rows = (dy[:, None] + self.rows).view(n, 1, self.height, 1)
            batch = batch.gather(2, rows.expand(n, c, self.height, batch.shape[-1]))
        cols = torch.where(flipped[:, None], self.width - 1 - self.cols, self.cols) + dx[:, None]
        return batch.gather(3, cols.view(n, 1, 1, self.width).expand(n, c, self.height, self.width))
