"""Measured latency as a campaign objective and constraint: timing as the trainer runs, the cache
(once per architecture, reused on resume, refused when corrupt or from another device), rejections
before training, records old and new, hypervolume bounds, and one small campaign on Ray."""
from __future__ import annotations

import csv
import dataclasses
import json
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import gespace.cost
from gespace.cost import latency
from gespace.grammar import load_space, point_id
from gespace.train.device import resolve_precision, setup_device
from search.campaign import CampaignError, connect_ray, run_campaign
from search.cli import _objectives
from search.hypervolume import REFERENCE, space_bounds
from search.latency import (FIGURES, LATENCY, LatencyCache, LatencyError, architecture, campaign_cost,
                            latency_note)
from search.contract import TrialSettings, TrialSpec
from search.pareto import pareto_front
from search.records import REJECTED, CostFigures, TrialRecord
from search.searchers import CampaignSearcher, ListSource, SeedPlan
from search.report import write_report
from search.settings import CampaignSettings
from search.store import CampaignStore

# Two architectures (no GE, GE everywhere), each under two learning rates: 4 points.
SPEC = """\
name: lat
backbone: {arch: cifar_resnet, depth: 8, width: 4, in_channels: 1, image_size: 16, num_classes: 10}
ge:
  placement: {stages: {choice: [[], all], default: all}}
  gather: {op: pool, extent: global}
  excite: {mlp: none}
train:
  dataset: synthetic
  epochs: 1
  batch_size: 32
  lr: {choice: [0.05, 0.1], default: 0.05}
  val_fraction: 0.25
anchors:
  baseline: {ge.placement.stages: []}
"""
CPU = torch.device("cpu")


def write(tmp_path: Path, text: str, name: str = "lat.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def points(space) -> dict[tuple[bool, float], dict]:
    """The space's points by (has GE, lr)."""
    return {(bool(p["ge.placement.stages"]), p["train.lr"]): p for p in space.enumerate()}


@pytest.fixture
def timings(monkeypatch):
    """Every call of the timing function, with the setup it timed under (the real timing runs)."""
    calls = []

    def counting(model, *args, **kwargs):
        calls.append(kwargs["setup"])
        return latency(model, *args, **kwargs)

    monkeypatch.setattr(gespace.cost, "latency", counting)
    return calls


@pytest.fixture
def driver_threads():
    """The test process's threads, restored (setup_device sets them)."""
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


def entry(device_name: str = "Some CPU", latency_ms: float = 2.0) -> dict:
    return {"latency_ms": latency_ms, "latency_batch_ms": 10 * latency_ms, "batch_size": 32, "precision": "fp32",
            "device": {"type": "cpu", "name": device_name, "threads": 1, "torch": torch.__version__},
            "measured_at": "2026-12-01T00:00:00+0000"}


def test_key_leaves_out_training_knobs_but_not_how_it_runs(tmp_path):
    space = load_space(write(tmp_path, SPEC))
    by = points(space)
    cache = LatencyCache(tmp_path, "cpu", 1)
    base = by[(False, 0.05)]
    key = cache.key(base)
    assert not any(k.startswith("train.") for k in architecture(base)) and "backbone.arch" in architecture(base)
    assert key == f"{point_id(architecture(base))}-{resolve_precision('auto', CPU)}-b32"
    assert key == cache.key(by[(False, 0.1)]) == cache.key({**base, "train.epochs": 9, "train.subset": 0.5,
                                                             "train.momentum": 0.5, "train.dataset": "cifar10"})
    assert key != cache.key(by[(True, 0.05)])  # another architecture
    # What changes what runs does count: the batch size and the precision (auto resolved for the device).
    assert cache.key({**base, "train.batch_size": 64}).endswith("-b64")
    assert "-bf16-" in cache.key({**base, "train.precision": "bf16"})
    assert cache.key({**base, "train.precision": resolve_precision("auto", CPU)}) == key


def test_measured_once_per_architecture_and_reused_on_resume(tmp_path, timings, driver_threads):
    space = load_space(write(tmp_path, SPEC))
    by = points(space)
    cache = LatencyCache(tmp_path, "cpu", 1, repeats=3, warmup=1)
    first = cache.lookup(by[(False, 0.05)])
    assert first["latency_ms"] > 0 and first["latency_batch_ms"] > 0 and len(timings) == 1
    assert cache.lookup(by[(False, 0.1)]) == first and len(timings) == 1  # only lr differs: shared
    assert torch.get_num_threads() == driver_threads  # timed with a trial's thread, the driver's kept

    stored = json.loads((tmp_path / LATENCY).read_text())
    key = cache.key(by[(False, 0.05)])
    assert list(stored) == [key]
    saved = stored[key]
    assert {name: saved[name] for name in FIGURES} == first
    assert saved["batch_size"] == 32 and saved["precision"] == resolve_precision("auto", CPU)
    device = saved["device"]
    assert device["type"] == "cpu" and device["threads"] == 1 and device["torch"] == torch.__version__
    assert device["name"] and device["name"] in Path("/proc/cpuinfo").read_text()
    # Timed as the trainer runs: its device, threads, resolved precision and channels_last.
    setup = timings[0]
    assert (setup.device, setup.threads, setup.precision, setup.channels_last) == \
        (CPU, 1, saved["precision"], True)

    # A resumed campaign: a new cache over the same directory answers from the file.
    again = LatencyCache(tmp_path, "cpu", 1, repeats=3, warmup=1)
    assert again.lookup(by[(False, 0.1)]) == first and len(timings) == 1
    ge = again.lookup(by[(True, 0.1)])
    assert len(timings) == 2 and ge["latency_ms"] > 0
    assert len(json.loads((tmp_path / LATENCY).read_text())) == 2


def test_timing_runs_in_eval_inference_mode_precision_and_memory_format(driver_threads):
    class Probe(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.seen: list[tuple] = []

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.seen.append((self.training, torch.is_inference_mode_enabled(), torch.is_autocast_enabled("cpu"),
                              x.is_contiguous(memory_format=torch.channels_last), x.shape[0]))
            return self.conv(x)

    probe = Probe()
    timing = latency(probe, 8, 3, train_batch=4, repeats=3, warmup=1,
                     setup=setup_device("cpu", threads=1, precision="bf16"))
    assert probe.seen == [(False, True, True, True, 1)] * 4 + [(False, True, True, True, 4)] * 4
    assert timing.batch1_ms > 0 and timing.train_batch_ms > 0 and timing.train_batch == 4
    # Given back as it came: training mode, default memory format.
    assert probe.training and probe.conv.weight.is_contiguous()


def test_constraint_message_and_unmeasured_latency_is_not_checked(tmp_path):
    space = load_space(write(tmp_path, SPEC + "constraints:\n  max_latency_ms: 10\n  max_params_m: 1\n"))
    assert space.constraint_violations({"gmacs": 0.1, "params_m": 0.5, "latency_ms": 12.345}) == \
        ["12.35 ms at batch 1 > max_latency_ms 10"]
    assert space.constraint_violations({"gmacs": 0.1, "params_m": 2.0, "latency_ms": 9.0}) == \
        ["2 M params > max_params_m 1"]
    assert space.constraint_violations(CostFigures(gmacs=0.1, params_m=0.5)) == []  # latency not measured yet


def searcher(space, tmp_path, cost_fn) -> tuple[CampaignSearcher, CampaignStore]:
    store = CampaignStore(tmp_path / "campaign")
    store.directory.mkdir()
    point = space.anchor("baseline")
    return CampaignSearcher(space, store, source=ListSource([("baseline", point)]), plan=SeedPlan(), points=1,
                            cost_fn=cost_fn, trial_settings=TrialSettings(str(store.directory))), store


def test_max_latency_ms_rejects_before_training(tmp_path, timings, driver_threads):
    space = load_space(write(tmp_path, SPEC + "constraints:\n  max_latency_ms: 0.000001\n"))
    # The constraint alone makes the campaign measure, whatever its objectives.
    cost_fn = campaign_cost(space, ["val_error", "gmacs"], tmp_path / "campaign", "cpu", 1)
    search, store = searcher(space, tmp_path, cost_fn)
    assert search.suggest("t1") == CampaignSearcher.FINISHED  # nothing to train
    [record] = store.records()
    measured = json.loads((store.directory / LATENCY).read_text())[cost_fn.cache.key(record.point)]
    assert record.status == REJECTED and not record.epochs and record.val_error is None
    assert record.cost.latency_ms == measured["latency_ms"] > 0.000001
    assert record.cost.latency_batch_ms == measured["latency_batch_ms"]
    assert record.reason == f"{measured['latency_ms']:.4g} ms at batch 1 > max_latency_ms 1e-06"
    assert len(timings) == 1


def test_a_point_over_a_cost_constraint_is_not_timed(tmp_path, timings, driver_threads):
    space = load_space(write(tmp_path, SPEC + "constraints:\n  max_latency_ms: 1000\n  max_params_m: 0.0001\n"))
    search, store = searcher(space, tmp_path, campaign_cost(space, ["val_error", "latency_ms"],
                                                            tmp_path / "campaign", "cpu", 1))
    assert search.suggest("t1") == CampaignSearcher.FINISHED
    [record] = store.records()
    assert record.status == REJECTED and "> max_params_m 0.0001" in record.reason
    assert record.cost.latency_ms is None and not timings and not (store.directory / LATENCY).exists()


def test_trial_config_carries_the_latency(tmp_path, timings, driver_threads):
    space = load_space(write(tmp_path, SPEC + "constraints:\n  max_latency_ms: 100000\n"))
    search, store = searcher(space, tmp_path, campaign_cost(space, ["val_error", "latency_ms"],
                                                            tmp_path / "campaign", "cpu", 1))
    spec = TrialSpec.of(search.suggest("t1"))
    assert spec.id == point_id(space.anchor("baseline")) and not store.records()
    assert spec.cost["latency_ms"] > 0 and spec.cost["latency_batch_ms"] > 0
    assert spec.cost["gmacs"] > 0 and len(timings) == 1
    assert CostFigures.of(spec.cost).latency_ms == spec.cost["latency_ms"]


def test_campaign_without_latency_pays_nothing(tmp_path):
    from gespace.cost import point_cost

    space = load_space(write(tmp_path, SPEC + "constraints:\n  max_params_m: 1\n"))
    (tmp_path / LATENCY).write_text("{not json")  # not even read
    assert campaign_cost(space, ["val_error", "gmacs"], tmp_path, "cpu", 1) is point_cost
    assert campaign_cost(space, ["val_error", "params_m"], tmp_path, "cuda", 1) is point_cost


def test_records_carry_latency_and_old_records_load():
    record = TrialRecord(id="a", status="ok", point={}, cost=CostFigures(gmacs=0.1, params_m=0.2, latency_ms=2.5,
                                                                   latency_batch_ms=40.0), val_error=0.2)
    assert record.objective("latency_ms") == 2.5 and record.objective("latency_batch_ms") == 40.0
    assert TrialRecord.from_json(json.loads(json.dumps(record.to_json()))) == record
    # Written before latency (schema 2, and schema 1's made-up error): they load, without a latency.
    costs = {"macs": 100, "gmacs": 1e-7, "params": 5, "params_m": 5e-6}
    old = TrialRecord.from_json({"schema": 2, "id": "b", "status": "ok", "point": {}, "cost": costs,
                                 "val_error": 0.3, "epochs": [{"epoch": 1, "val_error": 0.3}]})
    older = TrialRecord.from_json({"id": "c", "status": "failed", "point": {"train.epochs": 2}, "cost": costs,
                                   "val_error": 1.0, "epochs": [{"epoch": 1, "val_error": 0.5},
                                                                {"epoch": 1, "val_error": 0.5}]})
    assert old.objective("latency_ms") is None and old.objective("gmacs") == 1e-7
    assert older.objective("latency_ms") is None and older.val_error is None and older.budget == 2
    # Only what has a latency ranks on it; the figures a trial carries leave out what was not measured.
    assert pareto_front([record, old], ["val_error", "latency_ms"]) == [record]
    assert old.cost.known() == costs
    assert _objectives("val_error,latency_ms") == ["val_error", "latency_ms"]


def test_corrupt_or_foreign_cache_is_one_line(tmp_path, driver_threads):
    path = tmp_path / LATENCY
    for text, why in (("{not json", "not JSON: Expecting property name enclosed in double quotes at line 1, column 2"),
                      ('["a"]', "not a JSON object"),
                      (json.dumps({"k": {**entry(), "latency_ms": "fast"}}), "latency_ms is not a positive number"),
                      (json.dumps({"k": {**entry(), "device": "cpu"}}), "an entry lacks its device")):
        path.write_text(text)
        message = f"{path}: not a latency cache ({why}); delete it to measure again"
        for read in (lambda: LatencyCache(tmp_path, "cpu", 1), lambda: latency_note(tmp_path)):
            with pytest.raises(LatencyError) as raised:
                read()
            assert str(raised.value) == message
    path.write_text(json.dumps({"k": entry("Another CPU")}))
    with pytest.raises(LatencyError, match=r"latency.json: latencies were measured on Another CPU \(cpu, 1 "
                                           r"thread, torch .*\), this driver measures on .*; they do not "
                                           r"compare: resume where they were measured, or start a new campaign$"):
        LatencyCache(tmp_path, "cpu", 1)
    if not torch.cuda.is_available():
        with pytest.raises(LatencyError, match="^latency: device 'cuda' asked for, but no CUDA device is "
                                               "available$"):
            LatencyCache(tmp_path / "elsewhere", "cuda")


def test_resumed_campaign_with_a_corrupt_cache_ends_in_one_line_before_ray(tmp_path):
    import ray

    spec = write(tmp_path, SPEC)
    settings = CampaignSettings(spec=spec, name="c", storage=str(tmp_path / "runs"), num_samples=4,
                                objectives=["val_error", "latency_ms"], device="cpu")
    store = CampaignStore(settings.directory)
    store.create(spec, dataclasses.asdict(settings))
    (store.directory / LATENCY).write_text("{}{")
    with pytest.raises(CampaignError) as raised:
        run_campaign(settings, resume=True, progress=False)
    assert str(raised.value) == (f"{store.directory / LATENCY}: not a latency cache (not JSON: Extra data "
                                 "at line 1, column 3); delete it to measure again")
    assert not ray.is_initialized()


def test_hypervolume_bounds_and_note_from_the_measurements(tmp_path):
    cpu = "Test CPU @ 3 GHz"
    (tmp_path / LATENCY).write_text(json.dumps({"a": entry(cpu, 1.5), "b": entry(cpu, 4.0), "c": entry(cpu, 2.0)}))
    space = load_space(write(tmp_path, SPEC))
    ideal, reference = space_bounds(space, ["val_error", "latency_ms"], cache=tmp_path / REFERENCE)
    assert ideal == {"val_error": 0.0, "latency_ms": 1.5}
    assert reference == {"val_error": pytest.approx(0.9), "latency_ms": 4.0}  # chance level; the slowest
    # Costed objectives are cached as before; latency is read afresh from the measurements.
    assert json.loads((tmp_path / REFERENCE).read_text()) == {"ideal": {"val_error": 0.0},
                                                              "reference": {"val_error": pytest.approx(0.9)}}
    declared = load_space(write(tmp_path, SPEC + "report:\n  reference: {latency_ms: 3}\n", "declared.yaml"))
    assert space_bounds(declared, ["val_error", "latency_ms"], cache=tmp_path / REFERENCE) == \
        ({"val_error": 0.0, "latency_ms": 1.5}, {"val_error": pytest.approx(0.9), "latency_ms": 3.0})
    (tmp_path / "other").mkdir()  # a campaign that measured no latency
    with pytest.raises(LatencyError, match="no latency measured; the campaign did not use latency_ms"):
        space_bounds(space, ["val_error", "latency_ms"], cache=tmp_path / "other" / REFERENCE)
    assert latency_note(tmp_path) == (f"latency_ms: measured on {cpu} (cpu, 1 thread, torch {torch.__version__}), "
                                      "at batch 1 and at training batch 32 in fp32; latency is specific to "
                                      "that device.")
    assert latency_note(tmp_path / "other") is None


@pytest.mark.slow
def test_campaign_with_a_latency_objective(tmp_path):
    import ray

    spec = write(tmp_path, SPEC)
    space = load_space(spec)
    # Multi-objective successive halving ranks the 3 searched points on (val_error, latency_ms) at epoch 1.
    settings = CampaignSettings(spec=spec, name="lat", storage=str(tmp_path / "runs"), num_samples=4,
                                searcher="grid", scheduler="mosha", epochs=2, objectives=["val_error", "latency_ms"],
                                max_concurrent=2, anchor_seeds=1, device="cpu")
    connect_ray(None, cpus=2)
    try:
        store = run_campaign(settings, progress=False)
    finally:
        ray.shutdown()
    records = store.latest()  # a promoted trial's record supersedes its stopped one
    assert len(records) == 4 and all(r.measured for r in records)
    assert sorted(r.epochs_done for r in records) == [1, 1, 2, 2]  # the anchor, and the best third go on
    measured = json.loads((store.directory / LATENCY).read_text())
    assert len(measured) == 2  # two architectures, each trained under two learning rates
    cache = LatencyCache(store.directory, "cpu", 1)  # the same device: reusable
    for record in records:
        saved = measured[cache.key(space.canonicalise(record.point))]
        assert record.objective("latency_ms") == saved["latency_ms"] > 0
        assert record.cost.latency_batch_ms == saved["latency_batch_ms"] > 0
        assert saved["batch_size"] == 32 and saved["device"]["threads"] == 1
    by_lr = {}
    for record in records:
        by_lr.setdefault(bool(record.point["ge.placement.stages"]), set()).add(record.cost.latency_ms)
    assert all(len(values) == 1 for values in by_lr.values()) and len(by_lr) == 2
    device = next(iter(measured.values()))["device"]
    assert device["type"] == "cpu" and device["name"] in latency_note(store.directory)
    assert pareto_front(records, ["val_error", "latency_ms"])
    ideal, reference = space_bounds(space, ["val_error", "latency_ms"], cache=store.directory / REFERENCE)
    assert (ideal["latency_ms"], reference["latency_ms"]) == (min(e["latency_ms"] for e in measured.values()),
                                                              max(e["latency_ms"] for e in measured.values()))
    # The report ranks on latency, shows it, and says where it was measured.
    paths = write_report([store.directory], objectives=["val_error", "latency_ms"], out_dir=tmp_path / "report")
    front = list(csv.DictReader(paths["csv"].open()))
    assert front and all(row["latency_ms"] in {f"{e['latency_ms']:.2f}" for e in measured.values()} for row in front)
    assert latency_note(store.directory) in paths["markdown"].read_text()
    assert "latency is specific to that device" in latency_note(store.directory)
