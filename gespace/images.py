"""Which images of an evaluation split a run classified right: one bit per image, with the split's
identity, so that two runs are compared image by image only on the same images (numpy only: records
and reports read them without torch)."""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ImageBits:
    """Which images of an evaluation split a model classified correctly (top-1), compactly: one bit
    per image in the split's fixed order, packed (numpy.packbits) and base64-encoded, with the
    split's identity, so that two runs are compared image by image only on the same images."""

    split: str  # the split's identity: a digest of the dataset, the split's name and its labels in order
    images: int
    bits: str

    @classmethod
    def of(cls, correct: np.ndarray, split: str) -> ImageBits:
        correct = np.asarray(correct, dtype=bool)
        return cls(split, int(correct.size), base64.b64encode(np.packbits(correct).tobytes()).decode("ascii"))

    def correct(self) -> np.ndarray:
        """One bool per image: classified correctly."""
        packed = np.frombuffer(base64.b64decode(self.bits), dtype=np.uint8)
        return np.unpackbits(packed, count=self.images).astype(bool)

    def to_json(self) -> dict[str, Any]:
        return {"split": self.split, "images": self.images, "bits": self.bits}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImageBits:
        bits = cls(str(data["split"]), int(data["images"]), str(data["bits"]))
        if len(base64.b64decode(bits.bits, validate=True)) != (bits.images + 7) // 8:
            raise ValueError(f"{bits.images} images need {(bits.images + 7) // 8} bytes of bits")
        return bits


def split_identity(dataset: str, split: str, labels: np.ndarray) -> str:
    """The identity of an evaluation split: the same dataset, split and labels in the same order."""
    digest = hashlib.sha256(f"{dataset}/{split}/".encode())
    digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return digest.hexdigest()[:16]
