"""The CUDA path (``pytest -m cuda``; skipped where CUDA is absent) and the GPU check's CPU dry run.

On a GPU: bf16 autocast and channels_last training of a tiny point, checkpoints moving between
the GPU and the CPU in both directions, evaluation and the paper's analyses on CUDA. Everything
uses the synthetic dataset, so no files are needed.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from gespace import build_model
from gespace.analysis.prune import prune_curve
from gespace.analysis.selectivity import stage_selectivity
from gespace.data import make_synthetic
from gespace.grammar import load_space
from gespace.train import CHECKPOINT_NAME, StopTraining, evaluate, restore, train

ROOT = Path(__file__).resolve().parent.parent
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def tiny_point(anchor: str = "ge-theta") -> dict:
    """A demo-space anchor shrunk to a ResNet-8 of width 8 on 16x16 synthetic images."""
    point = load_space(str(ROOT / "spaces" / "fashion-demo.yaml")).anchor(anchor)
    return {**point, "backbone.depth": 8, "backbone.width": 8, "backbone.image_size": 16,
            "train.dataset": "synthetic", "train.epochs": 3, "train.batch_size": 64,
            "train.val_fraction": 0.2}


@pytest.fixture(scope="module")
def data():
    return make_synthetic(512, 256, image_size=16, seed=0)


def stop_after_first_epoch(metrics: dict) -> None:
    if metrics["epoch"] == 1:
        raise StopTraining("the other device finishes it")


@pytest.mark.cuda
@needs_cuda
def test_bf16_channels_last_training_on_cuda(data):
    model = build_model(tiny_point(), seed=0)
    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    seen = []  # (dtype, NHWC, device) of the first conv's training outputs

    def record(module, inputs, output):
        if module.training:
            seen.append((output.dtype, output.is_contiguous(memory_format=torch.channels_last),
                         output.device.type))

    first_conv.register_forward_hook(record)
    result = train(model, data=data, device="cuda", overrides={"precision": "bf16"}, progress=False)
    assert result.status == "ok", f"{result.reason}\n{result.traceback}"
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.test_error is not None and result.test_error < 0.9
    assert seen and all(s == (torch.bfloat16, True, "cuda") for s in seen), seen[:3]
    assert first_conv.weight.is_cuda
    assert first_conv.weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("first, second", [("cuda", "cpu"), ("cpu", "cuda")])
def test_checkpoint_moves_between_gpu_and_cpu(data, tmp_path, first, second):
    point = tiny_point()
    begun = train(point, data=data, device=first, out_dir=tmp_path, epochs=2,
                  callback=stop_after_first_epoch, progress=False, threads=1)
    assert begun.status == "stopped", f"{begun.reason}\n{begun.traceback}"
    finished = train(point, data=data, device=second, out_dir=tmp_path, epochs=2, resume=True,
                     progress=False, threads=1)
    assert finished.status == "ok", f"{finished.reason}\n{finished.traceback}"
    assert finished.epochs_completed == 2
    assert finished.history[0]["train_loss"] == begun.history[0]["train_loss"]
    assert math.isfinite(finished.history[1]["train_loss"])
    checkpoint = tmp_path / CHECKPOINT_NAME
    here = evaluate(checkpoint, "test", device=second)
    there = evaluate(checkpoint, "test", device=first)
    assert here["epoch"] == there["epoch"] == 2
    assert here["images"] == there["images"] == 256
    # bf16 on the GPU vs the CPU's arithmetic: a few of the 256 images may flip.
    assert abs(here["top1_error"] - finished.test_error) <= 0.02
    assert abs(here["top1_error"] - there["top1_error"]) <= 0.05


@pytest.mark.cuda
@needs_cuda
def test_evaluation_and_analyses_on_cuda(data, tmp_path):
    trained = train(tiny_point(), data=data, device="cuda", out_dir=tmp_path, progress=False)
    assert trained.status == "ok", f"{trained.reason}\n{trained.traceback}"
    checkpoint = tmp_path / CHECKPOINT_NAME
    scores = evaluate(checkpoint, "val", device="cuda")
    assert scores["images"] > 0 and abs(scores["top1_error"] - trained.final_val_error) <= 0.02

    run = restore(checkpoint, device="cuda")
    assert next(run.model.parameters()).is_cuda
    stage = run.model.stage_ids[-1]
    selectivity = stage_selectivity(run.model, run.loaders.test, stage, run.model.head[-1].out_features)
    assert selectivity and all(len(s.index) == len(s.dead) for s in selectivity)
    assert all(0.0 <= float(v) <= 1.0 for s in selectivity for v in s.alive)

    curve = prune_curve(run.model, run.loaders.test, f"stage{stage}.0", [0.0, 0.5, 1.0], "asc")
    assert [r for r, _ in curve] == [0.0, 0.5, 1.0] and all(0.0 <= a <= 1.0 for _, a in curve)
    # Nothing pruned is the plain model (fp32 here, bf16 in evaluate).
    assert abs(curve[0][1] - (1.0 - trained.test_error)) <= 0.03


def test_gpu_check_dry_run_throughput_and_resnet50(tmp_path):
    """The GPU check's CPU dry run, sections b and d at their smallest: the report's shape."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))}
    proc = subprocess.run([sys.executable, "bench/gpu_check.py", "--dry-run", "--sections", "b,d",
                           "--batches", "8", "--packs", "1", "--r50-size", "32", "--out", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["dry_run"] is True and list(report["sections"]) == ["throughput", "resnet50"]
    assert report["env"]["heavy_imports"] == []
    assert {"device", "torch", "cuda_runtime", "driver"} <= set(report["env"])

    throughput = report["sections"]["throughput"]
    assert throughput["status"] == "ok", throughput["reason"]
    rows = {(r["path"], r["mode"]): r for r in throughput["figures"]["rows"]}
    for key in (("step", "eager"), ("trainer", "eager"), ("step", "compile")):
        assert rows[key]["status"] == "ok" and rows[key]["images_per_s"] > 0, rows[key]
    assert rows[("step", "graph")]["status"] == "skipped"
    (pack,) = throughput["figures"]["packing"]
    assert pack["status"] == "ok" and pack["aggregate_images_per_s"] > 0

    resnet50 = report["sections"]["resnet50"]
    assert resnet50["status"] == "ok", resnet50["reason"]
    r50 = {r["model"]: r for r in resnet50["figures"]["rows"]}
    for name in ("baseline", "ge-theta-minus", "ge-theta", "ge-theta-plus"):
        assert r50[name]["images_per_s"] > 0, r50[name]
    assert r50["baseline"]["time_vs_baseline"] == 1.0
    assert [t["target"] for t in report["targets"]]

    summary = (tmp_path / "gpu_check.md").read_text()
    assert "CPU dry run" in summary and "## b. ResNet-20 throughput" in summary
    assert "## d. ResNet-50 train step" in summary
