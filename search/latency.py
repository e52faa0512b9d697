"""Measured latency as a campaign objective (``latency_ms``) and constraint (``max_latency_ms``).

MACs understate GE blocks (their pooling and gating are memory-bound), so a
campaign may rank points by how long their forward pass takes. What is timed is
what the trainer runs: the point's network built by gespace, in eval mode under
``torch.inference_mode``, on the campaign's device resolved as the trainer
resolves it, in the point's ``train.precision`` (``auto`` resolved for that
device), channels_last where the trainer uses it and with a trial's CPU
threads. `gespace.cost.latency` gives the median of several runs after a few
warm-up runs, in milliseconds per batch: at batch 1 (``latency_ms``) and at
the point's ``train.batch_size`` (``latency_batch_ms``).

The driver times each architecture once, when a point first needs it (before
training: the constraint rejects without training), and caches it in the
campaign directory's ``latency.json``, which a resumed campaign reuses. A
measurement is keyed by the point without its training knobs, save the two
that change what runs (the precision, resolved, and the batch size): two
points that differ in ``train.lr`` share one. Latency is specific to the
device (and its load: the driver times while trials train), so a cache written
on another device, with other threads or another torch is refused rather than
mixed with new measurements, and so is a cache that cannot be read (its
figures are in the records already; deleting it measures again).
"""
from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

from gespace.files import InputError, read_json
from gespace.grammar import Point, Space, point_id
from gespace.grammar.point import architecture
from search.records import CostFigures
from search.store import StoreError, write_json

if TYPE_CHECKING:
    from gespace.train.device import DeviceSetup

LATENCY = "latency.json"
OBJECTIVE = "latency_ms"
CONSTRAINT = "max_latency_ms"
FIGURES = ("latency_ms", "latency_batch_ms")  # what a point's cost gets from a measurement


class LatencyError(StoreError):
    """A latency cache or device that a campaign cannot use (one line for the user)."""


def uses_latency(objectives: Sequence[str], constraints: Mapping[str, float]) -> bool:
    """Whether a campaign measures latency: only then does it pay for it."""
    return OBJECTIVE in objectives or CONSTRAINT in constraints


def describe(setup: DeviceSetup) -> dict[str, Any]:
    """The device ``setup`` runs on, as latency.json records it."""
    import torch

    from gespace.train.device import cpu_name

    name = torch.cuda.get_device_name(setup.device) if setup.device.type == "cuda" else cpu_name()
    return {"type": setup.device.type, "name": name, "threads": setup.threads, "torch": torch.__version__}


def device_text(device: Mapping[str, Any]) -> str:
    threads = device.get("threads")
    count = f", {threads} thread{'s' if threads != 1 else ''}" if threads else ""
    return f"{device['name']} ({device['type']}{count}, torch {device['torch']})"


@contextlib.contextmanager
def _threads(count: int | None) -> Iterator[None]:
    """``count`` intra-op threads (a trial's) inside; the driver's own again afterwards."""
    import torch

    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _entry_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return "an entry is not a JSON object"
    for name in FIGURES:
        value = entry.get(name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            return f"{name} is not a positive number"
    if not isinstance(entry.get("batch_size"), int) or not isinstance(entry.get("precision"), str):
        return "an entry lacks its batch_size or precision"
    device = entry.get("device")
    if not isinstance(device, dict) or not all(key in device for key in ("type", "name", "torch")):
        return "an entry lacks its device"
    return None


def read_cache(path: Path) -> dict[str, dict[str, Any]]:
    """The measurements in ``path`` ({} if there is none); `LatencyError` naming it if unreadable."""
    if not path.exists():
        return {}
    try:
        entries = read_json(path, "latency cache")
    except InputError as err:
        raise LatencyError(f"{path}: not a latency cache ({err.detail}); delete it to measure again") from None
    problem = ("not a JSON object" if not isinstance(entries, dict)
               else next(filter(None, map(_entry_problem, entries.values())), None))
    if problem:
        raise LatencyError(f"{path}: not a latency cache ({problem}); delete it to measure again")
    return entries


class LatencyCache:
    """A campaign's latency measurements: timed once per architecture, kept in ``latency.json``.

    ``device`` is the campaign's (``auto``, ``cpu`` or ``cuda``), ``threads``
    a trial's CPU threads and ``timing`` `gespace.cost.latency`'s ``repeats``
    and ``warmup`` (its defaults otherwise). `LatencyError` if the device is not
    there, or the cache is unreadable or was measured on another device.
    """

    def __init__(self, directory: str | Path, device: str = "auto", threads: int | None = None,
                 **timing: int) -> None:
        from gespace.train.device import setup_device

        self.path = Path(directory) / LATENCY
        self.timing = timing
        self.entries = read_cache(self.path)
        with _threads(None):  # setup_device sets the process's threads; the driver keeps its own
            try:
                self.setup = setup_device(device, threads=threads)
            except RuntimeError as err:  # e.g. cuda asked for where there is none
                raise LatencyError(f"latency: {err}") from None
        self.device = describe(self.setup)
        other = next((e["device"] for e in self.entries.values() if e["device"] != self.device), None)
        if other is not None:
            raise LatencyError(f"{self.path}: latencies were measured on {device_text(other)}, this driver "
                               f"measures on {device_text(self.device)}; they do not compare: resume where "
                               "they were measured, or start a new campaign")

    def _runs_as(self, point: Point) -> tuple[str, str, int]:
        """What a measurement depends on: the architecture's id, the precision (resolved for the
        device) and the training batch size."""
        from gespace.train.config import train_config
        from gespace.train.device import resolve_precision

        config = train_config(point)
        precision = resolve_precision(config["train.precision"], self.setup.device)
        return point_id(architecture(point)), precision, config["train.batch_size"]

    def key(self, point: Point) -> str:
        """The point's entry in latency.json: ``<architecture id>-<precision>-b<batch size>``."""
        architecture_id, precision, batch = self._runs_as(point)
        return f"{architecture_id}-{precision}-b{batch}"

    def lookup(self, point: Point) -> dict[str, float]:
        """``latency_ms`` and ``latency_batch_ms`` of a canonical point, timed if not cached."""
        key = self.key(point)
        if key not in self.entries:
            _, precision, batch = self._runs_as(point)
            self.entries[key] = self._measure(point, precision, batch)
            write_json(self.path, self.entries)
        return {name: self.entries[key][name] for name in FIGURES}

    def _measure(self, point: Point, precision: str, batch: int) -> dict[str, Any]:
        from gespace.builder import build_model
        from gespace.cost import latency

        setup = dataclasses.replace(self.setup, precision=precision)
        with _threads(setup.threads):
            timing = latency(build_model(point), point["backbone.image_size"], point["backbone.in_channels"],
                             train_batch=batch, setup=setup, **self.timing)
        return {"latency_ms": round(timing.batch1_ms, 4), "latency_batch_ms": round(timing.train_batch_ms, 4),
                "batch_size": batch, "precision": precision, "device": self.device,
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


class CampaignCost:
    """A point's cost for the searcher: `gespace.cost.point_cost`'s figures, and its latency unless a
    MACs or parameter constraint rejects it anyway."""

    def __init__(self, space: Space, cache: LatencyCache) -> None:
        self.space, self.cache = space, cache

    def __call__(self, point: Point) -> dict[str, Any]:
        from gespace.cost import point_cost

        cost = CostFigures.of(point_cost(point)).known()
        if self.space.constraint_violations(cost):
            return cost
        return {**cost, **self.cache.lookup(point)}


def campaign_cost(space: Space, objectives: Sequence[str], directory: str | Path, device: str,
                  threads: int) -> Callable[[Point], Any]:
    """The searcher's cost function: `point_cost` where the campaign does not use latency, else a
    `CampaignCost` timing on ``device`` with a trial's ``threads``."""
    from gespace.cost import point_cost

    if not uses_latency(objectives, space.constraints):
        return point_cost
    return CampaignCost(space, LatencyCache(directory, device, threads))


def measured_range(campaign_dir: str | Path) -> tuple[float, float] | None:
    """The fastest and the slowest ``latency_ms`` a campaign measured (None: none measured)."""
    values = [entry["latency_ms"] for entry in read_cache(Path(campaign_dir) / LATENCY).values()]
    return (min(values), max(values)) if values else None


def latency_note(campaign_dir: str | Path) -> str | None:
    """One line saying where and how a campaign's latencies were measured (None: it measured none)."""
    entries = list(read_cache(Path(campaign_dir) / LATENCY).values())
    if not entries:
        return None
    devices = "; ".join(dict.fromkeys(device_text(e["device"]) for e in entries))
    batches = ", ".join(str(b) for b in sorted({e["batch_size"] for e in entries}))
    precisions = "/".join(sorted({e["precision"] for e in entries}))
    return (f"latency_ms: measured on {devices}, at batch 1 and at training batch {batches} in {precisions}; "
            "latency is specific to that device.")
