"""A small generated dataset for tests: seeded, with class-dependent patterns.

Class ``k`` is a sinusoidal grating: horizontal stripes for even ``k``,
vertical for odd, at a frequency that grows with ``k // 2``. Every image has
a random phase and contrast plus Gaussian noise, quantised to uint8. Gratings
are shift-invariant and keep their class under horizontal flips, so a small
network with global pooling learns them in an epoch or two, augmentation on.
"""
from __future__ import annotations

import math

import torch

from gespace.data.base import ImageData


def make_synthetic(n_train: int = 2048, n_test: int = 512, *, num_classes: int = 10,
                   channels: int = 1, image_size: int = 16, noise: float = 0.15,
                   seed: int = 0) -> ImageData:
    gen = torch.Generator().manual_seed(seed)
    levels = max(1, math.ceil(num_classes / 2))
    # Frequencies in cycles per image, from 1 to a little under Nyquist.
    top = max(1.5, image_size / 2.5)
    freqs = torch.linspace(1.0, top, levels) if levels > 1 else torch.tensor([2.0])
    coords = torch.arange(image_size, dtype=torch.float32) / image_size
    channel_gain = 0.75 + 0.25 * torch.rand(channels, generator=gen)

    def part(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = (torch.arange(n) % num_classes)[torch.randperm(n, generator=gen)]
        freq = freqs[labels // 2].view(n, 1, 1)
        phase = 2 * math.pi * torch.rand(n, 1, 1, generator=gen)
        wave = torch.sin(2 * math.pi * freq * coords.view(1, -1, 1) + phase)   # n x H x 1
        wave = wave.expand(n, image_size, image_size)
        wave = torch.where((labels % 2 == 1).view(n, 1, 1), wave.transpose(1, 2), wave)
        contrast = 0.3 + 0.2 * torch.rand(n, 1, 1, 1, generator=gen)
        images = 0.5 + contrast * wave.unsqueeze(1) * channel_gain.view(1, -1, 1, 1)
        images = images + noise * torch.randn(n, channels, image_size, image_size, generator=gen)
        return (images.clamp(0, 1) * 255).round().to(torch.uint8), labels.long()

    train_x, train_y = part(n_train)
    test_x, test_y = part(n_test)
    options = {"n_train": n_train, "n_test": n_test, "num_classes": num_classes,
               "channels": channels, "image_size": image_size, "noise": noise, "seed": seed}
    return ImageData("synthetic", train_x, train_y, test_x, test_y, num_classes,
                     spec={"name": "synthetic", "root": None, "options": options})
