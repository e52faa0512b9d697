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
from typing import Any, Iterator, Mapping

# Record figure -> (tag, scale): errors in percent, as the reports show them.
SCALARS = {"train_loss": ("train/loss", 1.0),
           "images_per_s": ("train/images_per_s", 1.0),
           "val_error": ("validation/top1_error_percent", 100.0),
           "val_top5_error": ("validation/top5_error_percent", 100.0)}
TEST_TAG = "test/top1_error_percent"
HPARAM_PREFIX = "hparam/"  # the HParams dashboard's metrics
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

    def close(self, test_error: float | None, epoch: int, knobs: Mapping[str, Any] | None = None,
              finals: Mapping[str, float | None] | None = None) -> None:
        """The test error, then (``knobs``) the trial for TensorBoard's HParams dashboard: its knobs
        as hyperparameters, ``finals`` (final figures) as its metrics, under ``hparam/``."""
        if test_error is not None:
            self._scalar(TEST_TAG, 100 * test_error, epoch)
        if knobs is not None:
            from tensorboardX.summary import hparams

            metrics = {f"{HPARAM_PREFIX}{k}": float(v) for k, v in (finals or {}).items() if v is not None}
            for summary in hparams({k: _hparam(v) for k, v in knobs.items()}, metrics):
                self._write(epoch, summary)
            for tag, value in metrics.items():
                self._scalar(tag, value, epoch)
        self.events.close()


def _hparam(value: Any) -> Any:
    """A knob's value as HParams takes it: numbers, text and booleans as they are, the rest as text."""
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def _events(run: str | Path) -> Iterator[Any]:
    """A run's events, oldest file first (TFRecord framing: length, its CRC, the event, its CRC;
    CRCs not checked)."""
    from tensorboardX.proto.event_pb2 import Event

    for path in sorted(Path(run).glob("events.out.tfevents.*")):
        data, offset = path.read_bytes(), 0
        while offset + 12 <= len(data):
            (length,) = struct.unpack("<Q", data[offset:offset + 8])
            yield Event.FromString(data[offset + 12:offset + 12 + length])
            offset += 12 + length + 4


def read_scalars(run: str | Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] over a run's event files. For scripts and tests without TensorBoard."""
    scalars: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for event in _events(run):
        for value in event.summary.value:
            if value.HasField("simple_value"):
                scalars[value.tag].append((event.step, value.simple_value))
    return dict(scalars)


def read_hparams(run: str | Path) -> dict[str, Any]:
    """The hyperparameters a run's session start gives the HParams dashboard (name -> value)."""
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData

    for event in _events(run):
        for value in event.summary.value:
            if value.tag == "_hparams_/session_start_info":
                data = HParamsPluginData.FromString(value.metadata.plugin_data.content)
                return {name: getattr(v, v.WhichOneof("kind")) for name, v in data.session_start_info.hparams.items()}
    return {}
