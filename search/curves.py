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
    """Writes one trial's epochs as they come (``epoch`` is the step), each on disk before the epoch
    is reported: a trial the scheduler stops there keeps its curve. (tensorboardX's SummaryWriter
    hands events to a background thread that a stopped trial can leave unwritten.)"""

    def __init__(self, directory: str | Path, label: str) -> None:
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.summary import text

        Path(directory).mkdir(parents=True, exist_ok=True)
        # A continued trial opens a second file in the run; a unique suffix keeps it from replacing
        # the first (the default name has one-second resolution).
        self.events = EventsWriter(str(Path(directory) / "events"), f".{time.time_ns()}")
        self._write(0, text("design", label))

    def _write(self, step: int, summary: Any) -> None:
        from tensorboardX.proto.event_pb2 import Event

        self.events.write_event(Event(wall_time=time.time(), step=step, summary=summary))
        self.events.flush()

    def _scalar(self, tag: str, value: float, step: int) -> None:
        from tensorboardX.summary import scalar

        self._write(step, scalar(tag, value))

    def epoch(self, metrics: dict[str, Any]) -> None:
        for key, (tag, scale) in SCALARS.items():
            if metrics.get(key) is not None:
                self._scalar(tag, scale * metrics[key], metrics["epoch"])

    def close(self, test_error: float | None, epoch: int) -> None:
        if test_error is not None:
            self._scalar(TEST_TAG, 100 * test_error, epoch)
        self.events.close()


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
