"""Each trial's per-epoch curves as TensorBoard scalars, under ``CAMPAIGN/tensorboard/``.

One TensorBoard run per (point, seed), named by the anchor (``ge-theta/s0``) or
the point id (``7fcfb0aa655a/s0``), with the design in words as its text. A
promoted trial, continued as a new Tune trial, writes on into the same run, so
its curve is whole. Open with ``tensorboard --logdir CAMPAIGN/tensorboard``.
"""
from __future__ import annotations

import struct
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

# Record figure -> (tag, scale): errors in percent, as the reports show them.
SCALARS = {"train_loss": ("train/loss", 1.0),
           "images_per_s": ("train/images_per_s", 1.0),
           "val_error": ("validation/top1_error_percent", 100.0),
           "val_top5_error": ("validation/top5_error_percent", 100.0)}
TEST_TAG = "test/top1_error_percent"
FOLDER = "tensorboard"


def run_directory(campaign_dir: str | Path, name: str | None, point_id: str, seed: int) -> Path:
    return Path(campaign_dir) / FOLDER / (name or point_id) / f"s{seed}"


class CurveWriter:
    """Writes one trial's epochs as they come (``epoch`` is the step)."""

    def __init__(self, directory: str | Path, label: str) -> None:
        from tensorboardX import SummaryWriter

        # A continued trial opens a second file in the run; a unique suffix keeps it from replacing
        # the first (the default name has one-second resolution).
        self.writer = SummaryWriter(str(directory), flush_secs=30, filename_suffix=f".{time.time_ns()}")
        self.writer.add_text("design", label)

    def epoch(self, metrics: dict[str, Any]) -> None:
        for key, (tag, scale) in SCALARS.items():
            if metrics.get(key) is not None:
                self.writer.add_scalar(tag, scale * metrics[key], metrics["epoch"])
        self.writer.flush()

    def close(self, test_error: float | None, epoch: int) -> None:
        if test_error is not None:
            self.writer.add_scalar(TEST_TAG, 100 * test_error, epoch)
        self.writer.close()


def read_scalars(run: str | Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] over a run's event files, oldest file first (TFRecord framing: length,
    its CRC, the event, its CRC; CRCs not checked). For scripts and tests without TensorBoard."""
    from tensorboardX.proto.event_pb2 import Event

    scalars: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for path in sorted(Path(run).glob("events.out.tfevents.*")):
        data, offset = path.read_bytes(), 0
        while offset + 12 <= len(data):
            (length,) = struct.unpack("<Q", data[offset:offset + 8])
            event = Event.FromString(data[offset + 12:offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    scalars[value.tag].append((event.step, value.simple_value))
    return dict(scalars)
