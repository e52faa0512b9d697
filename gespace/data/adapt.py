"""Fit in-memory images to a model's input: channel count and size, once at load time."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from gespace.errors import DataError


def adapt_images(images: torch.Tensor, channels: int | None, image_size: int | None,
                 name: str = "data") -> torch.Tensor:
    """uint8 N x C x H x W images with ``channels`` channels and ``image_size`` sides.

    Grey images are repeated to 3 channels and RGB images averaged to grey;
    other channel changes are an error. Resizing is bilinear with antialiasing,
    done once, in chunks to bound memory.
    """
    if channels is not None and channels != images.shape[1]:
        if images.shape[1] == 1:
            images = images.expand(-1, channels, -1, -1).contiguous()
        elif channels == 1 and images.shape[1] == 3:
            images = images.float().mean(1, keepdim=True).round_().to(torch.uint8)
        else:
            raise DataError(f"{name}: images have {images.shape[1]} channels, the model "
                            f"expects {channels}")
    if image_size is not None and image_size != images.shape[-1]:
        out = torch.empty(len(images), images.shape[1], image_size, image_size, dtype=torch.uint8)
        for start in range(0, len(images), 4096):
            chunk = images[start:start + 4096].float()
            chunk = F.interpolate(chunk, size=(image_size, image_size), mode="bilinear",
                                  antialias=True, align_corners=False)
            out[start:start + 4096] = chunk.round_().clamp_(0, 255).to(torch.uint8)
        images = out
    return images
