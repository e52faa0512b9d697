"""The trainer on a tiny network and synthetic data: learning, seeding, resume, failures."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from gespace.builder import build_model
from gespace.data import make_synthetic
from gespace.errors import machine_failure
from gespace.train import (LRSchedule, StopTraining, TrainResult, evaluate, train,
                           train_config)
from gespace.train.checkpoint import rng_state, set_rng_state
from gespace.train.trainer import DIVERGENCE_FACTOR
from gespace.train.device import cpu_channels_last_hazards, setup_device
from gespace.train.faults import FAULTS
from gespace.train.optim import make_optimizer
from gespace.vocab import KNOBS

THREADS = 1  # tiny models: a second thread only adds contention on a shared CPU


def tiny_net(seed: int = 0, classes: int = 10, channels: int = 1) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(channels, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, classes))


POINT = {"train.epochs": 2, "train.batch_size": 32, "train.lr": 0.1, "train.pad": 2,
         "train.val_fraction": 0.2, "train.dataset": "synthetic"}


@pytest.fixture(scope="module")
def data():
    return make_synthetic(320, 128, seed=0)


def run(data, tmp=None, *, model=None, point=None, **kwargs) -> TrainResult:
    kwargs.setdefault("progress", False)
    return train(model or tiny_net(), point={**POINT, **(point or {})}, data=data,
                 out_dir=tmp, threads=THREADS, **kwargs)


# --- learning ------------------------------------------------------------------------------
def test_learns_synthetic_data(tmp_path):
    data = make_synthetic(1024, 256, seed=1)
    seen = []
    result = run(data, tmp_path, point={"train.epochs": 6, "train.lr": 0.2,
                                        "train.batch_size": 64, "train.warmup_epochs": 1},
                 callback=seen.append, progress=True)
    assert result.status == "ok", result.reason
    assert result.epochs_completed == 6 and len(result.history) == 6 and len(seen) == 6
    assert result.test_error < 0.2 and result.best_val_error < 0.2
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    first = seen[0]
    for key in ("epoch", "train_loss", "val_loss", "val_top1_error", "val_top5_error",
                "images_per_s", "epoch_time", "lr", "checkpoint"):
        assert key in first, key
    assert first["val_top5_error"] <= first["val_top1_error"]
    assert first["images"] == 12 * 64  # 819 training images, full batches
    assert os.path.exists(tmp_path / "checkpoint.pt")
    stored = json.loads((tmp_path / "result.json").read_text())
    assert stored["status"] == "ok" and stored["test_error"] == result.test_error
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_same_seed_same_first_epoch_loss(data):
    point = {"train.epochs": 1}
    a = run(data, model=tiny_net(0), point=point, seed=3)
    b = run(data, model=tiny_net(0), point=point, seed=3)
    c = run(data, model=tiny_net(0), point=point, seed=4)
    assert a.status == b.status == "ok"
    assert a.history[0]["train_loss"] == b.history[0]["train_loss"]
    assert a.history[0]["val_loss"] == b.history[0]["val_loss"]
    assert c.history[0]["train_loss"] != a.history[0]["train_loss"]  # other order and crops


# --- memory layout --------------------------------------------------------------------------
def cifar_point(width: int) -> dict:
    return {"backbone.arch": "cifar_resnet", "backbone.depth": 8, "backbone.width": width,
            "backbone.in_channels": 1, "backbone.image_size": 16, "backbone.num_classes": 10,
            "ge.placement.stages": (2, 3, 4), "ge.gather.op": "pool"}


def test_cpu_channels_last_only_without_hazards():
    setup = setup_device("cpu", threads=THREADS)
    assert setup.channels_last
    # A strided 1x1 dense conv with fewer than 16 inputs is the hazard; nothing else is.
    hazard = nn.Sequential(nn.Conv2d(1, 15, 3, padding=1), nn.Conv2d(15, 8, 1, stride=2))
    assert cpu_channels_last_hazards(hazard) == ["1"]
    safe = nn.Sequential(nn.Conv2d(16, 8, 1, stride=2), nn.Conv2d(4, 8, 1), nn.Conv2d(4, 8, 3, 2),
                         nn.Conv2d(4, 4, 1, stride=2, groups=4))
    assert cpu_channels_last_hazards(safe) == []
    assert not setup.prepare(hazard).channels_last
    assert hazard[0].weight.is_contiguous()
    # The builder works around it: the width-4 net's 4 -> 8 and 8 -> 16 shortcuts subsample first.
    narrow = build_model(cifar_point(4))
    assert cpu_channels_last_hazards(narrow) == []
    assert setup.prepare(narrow).channels_last
    assert narrow.stem[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_narrow_shortcuts_train_in_nhwc_without_heap_corruption():
    """With 2 threads the strided 1x1 conv's NHWC weight gradient on 4 inputs made glibc abort
    (MALLOC_CHECK_=3) within these steps; the builder's subsampled shortcut must not."""
    script = (
        "import torch\n"
        "from gespace.builder import build_model\n"
        "torch.set_num_threads(2)\n"
        f"point = {{**{cifar_point(4)!r}, 'backbone.image_size': 28}}\n"
        "model = build_model(point, seed=0).to(memory_format=torch.channels_last)\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "for batch in (3, 32, 128) * 3:\n"
        "    x = torch.randn(batch, 1, 28, 28).contiguous(memory_format=torch.channels_last)\n"
        "    loss = torch.nn.functional.cross_entropy(model(x), torch.arange(batch) % 10)\n"
        "    opt.zero_grad(); loss.backward(); opt.step()\n")
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ, "MALLOC_CHECK_": "3"},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


def test_channels_last_computes_what_contiguous_does():
    setup = setup_device("cpu", threads=THREADS)
    nhwc, nchw = build_model(cifar_point(8)), build_model(cifar_point(8))
    assert setup.prepare(nhwc).channels_last
    assert not dataclasses.replace(setup, channels_last=False).prepare(nchw).channels_last
    x = torch.randn(16, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    y = torch.arange(16) % 10
    losses = []
    for model, batch in ((nhwc, x.contiguous(memory_format=torch.channels_last)), (nchw, x)):
        loss = nn.functional.cross_entropy(model(batch), y)
        loss.backward()
        losses.append(loss)
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-5, atol=1e-6)
    for (name, a), b in zip(nhwc.named_parameters(), nchw.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5, msg=name)


# --- precision ------------------------------------------------------------------------------
def test_auto_precision_is_bf16_where_the_hardware_has_it(monkeypatch):
    from gespace.train import device

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    for native in (True, False):
        monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: native)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: native)
        expected = "bf16" if native else "fp32"
        assert device.resolve_precision("auto", cpu) == expected
        assert device.resolve_precision("auto", cuda) == expected
        assert setup_device("cpu", threads=THREADS).precision == expected
        for explicit in ("fp32", "bf16"):  # an explicit choice is kept whatever the hardware
            assert device.resolve_precision(explicit, cpu) == explicit
            assert setup_device("cpu", threads=THREADS, precision=explicit).precision == explicit
    assert device.resolve_precision("auto", torch.device("meta")) == "fp32"
    with pytest.raises(ValueError, match="precision must be one of"):
        device.resolve_precision("fp16", cpu)


def test_a_checkpoint_resumes_and_scores_in_the_precision_it_trained_in(tmp_path, data, monkeypatch):
    """Trained under 'auto' where that meant fp32, restored where 'auto' means bf16: still fp32,
    for scoring (`restore`) and for training on (`resume`)."""
    from gespace.train import device, restore

    def stop(metrics):
        raise StopTraining("after its first epoch")

    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: False)
    first = run(data, tmp_path, point={"train.precision": "auto"}, callback=stop)
    assert first.status == "stopped" and first.precision == "fp32"
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
    assert setup_device("cpu", threads=THREADS).precision == "bf16"
    assert restore(tmp_path / "checkpoint.pt", model=tiny_net(), data=data, device="cpu").setup.precision == "fp32"
    resumed = run(data, tmp_path, point={"train.precision": "auto"}, resume=True)
    assert resumed.status == "ok" and resumed.epochs_completed == 2 and resumed.precision == "fp32"


def test_cpu_bf16_detection_reads_the_cpu_flags():
    from gespace.train.device import cpu_has_native_bf16

    try:
        flags = open("/proc/cpuinfo").read().split()
    except OSError:
        flags = []
    assert cpu_has_native_bf16() == ("avx512_bf16" in flags or "amx_bf16" in flags)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_trains_and_scores_in_its_precision(tmp_path, data, precision):
    model = tiny_net()
    dtypes = set()
    model[4].register_forward_hook(lambda module, inputs, output: dtypes.add(output.dtype))
    result = run(data, tmp_path, model=model, point={"train.epochs": 1, "train.precision": precision})
    assert result.status == "ok", result.traceback
    assert result.precision == precision and math.isfinite(result.history[0]["train_loss"])
    assert dtypes == {torch.bfloat16 if precision == "bf16" else torch.float32}
    ckpt = torch.load(result.checkpoint, weights_only=True)
    assert ckpt["precision"] == precision and ckpt["config"]["train.precision"] == precision
    assert json.loads((tmp_path / "result.json").read_text())["precision"] == precision
    assert all(p.dtype == torch.float32 for p in ckpt["model"].values() if p.is_floating_point())
    dtypes.clear()
    scored = tiny_net(9)
    scored[4].register_forward_hook(lambda module, inputs, output: dtypes.add(output.dtype))
    scores = evaluate(result.checkpoint, "test", model=scored)  # in the training precision
    assert scores["top1_error"] == pytest.approx(result.test_error, abs=1e-9)
    assert dtypes == {torch.bfloat16 if precision == "bf16" else torch.float32}


def test_point_is_built_with_the_seed(data, monkeypatch):
    import gespace.builder as builder

    calls = []

    def fake_build(point, *, space=None, seed=0):
        calls.append((point["backbone.arch"], seed))
        model = tiny_net(seed)
        model.point, model.point_id = dict(point), "p-fake"
        return model

    monkeypatch.setattr(builder, "build_model", fake_build)
    point = {"backbone.arch": "cifar_resnet", "backbone.num_classes": 10, **POINT,
             "train.epochs": 1}
    result = train(point, data=data, seed=5, progress=False, threads=THREADS)
    assert result.status == "ok", result.traceback
    assert calls == [("cifar_resnet", 5)] and result.point_id == "p-fake"


def test_too_few_outputs_fail(data, monkeypatch):
    import gespace.builder as builder

    monkeypatch.setattr(builder, "build_model", lambda point, seed=0, space=None: tiny_net())
    result = train({"backbone.arch": "cifar_resnet", "backbone.num_classes": 5, **POINT},
                   data=data, progress=False, threads=THREADS)
    assert result.status == "failed" and "5 outputs" in result.reason


# --- checkpoints and resume ----------------------------------------------------------------
def test_checkpoint_loads_weights_only(tmp_path, data):
    result = run(data, tmp_path, point={"train.epochs": 1, "train.schedule": "plateau"},
                 spec_hash="abc123")
    ckpt = torch.load(result.checkpoint, weights_only=True)
    assert ckpt["epoch"] == 1 and ckpt["spec_hash"] == "abc123"
    assert ckpt["point"]["train.schedule"] == "plateau"
    assert set(ckpt["model"]) == set(tiny_net().state_dict())
    assert ckpt["optimizer"]["state"] and ckpt["schedule"]["kind"] == "plateau"
    assert len(ckpt["history"]) == 1 and ckpt["history"][0]["val_top1_error"] >= 0
    assert {"torch", "python", "numpy"} <= set(ckpt["rng"])
    assert ckpt["data"]["name"] == "synthetic" and ckpt["data"]["val_fraction"] == 0.2


def test_resume_equals_uninterrupted(tmp_path, data):
    point = {"train.epochs": 2, "train.schedule": "cosine", "train.warmup_epochs": 1,
             "train.nesterov": True, "train.no_wd_bn_bias": True, "train.label_smoothing": 0.1}
    whole = run(data, tmp_path / "whole", point=point, seed=1)

    def stop_after_first(metrics):
        if metrics["epoch"] == 1:
            raise StopTraining("pause")

    first = run(data, tmp_path / "split", point=point, seed=1, callback=stop_after_first)
    assert first.status == "stopped" and "after epoch 1" in first.reason
    assert first.test_error is None and first.epochs_completed == 1
    # A fresh process would rebuild the model: start from other weights to prove the restore.
    rest = run(data, tmp_path / "split", model=tiny_net(123), point=point, seed=1, resume=True)
    assert rest.status == "ok" and rest.epochs_completed == 2
    a = torch.load(whole.checkpoint, weights_only=True)
    b = torch.load(rest.checkpoint, weights_only=True)
    for key, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][key]), key
    for key in ("train_loss", "train_error", "val_loss", "val_top1_error", "val_top5_error", "lr"):
        assert [h[key] for h in whole.history] == [h[key] for h in rest.history], key
    assert whole.test_error == rest.test_error
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])


def test_resume_of_a_finished_run_only_tests(tmp_path, data):
    done = run(data, tmp_path, point={"train.epochs": 1})
    again = run(data, tmp_path, point={"train.epochs": 1}, resume=True)
    assert again.status == "ok" and again.epochs_completed == 1
    assert again.test_error == done.test_error


def test_resume_refuses_another_point(tmp_path, data):
    run(data, tmp_path, point={"train.epochs": 1})
    other = run(data, tmp_path, point={"train.epochs": 1, "train.lr": 0.01}, resume=True)
    assert other.status == "failed" and "another point" in other.reason


def test_evaluate_checkpoint_matches_result(tmp_path, data):
    result = run(data, tmp_path, point={"train.epochs": 1})
    test = evaluate(result.checkpoint, "test", model=tiny_net(9))
    val = evaluate(result.checkpoint, "val", model=tiny_net(9))
    assert test["top1_error"] == pytest.approx(result.test_error, abs=1e-9)
    assert val["top1_error"] == pytest.approx(result.final_val_error, abs=1e-9)
    assert test["images"] == 128 and val["images"] == 64 and val["epoch"] == 1
    with pytest.raises(ValueError, match="holds no point"):
        evaluate(result.checkpoint, "test")


def test_evaluate_a_subset_run_with_its_normalisation(tmp_path, data):
    result = run(data, tmp_path, point={"train.epochs": 1, "train.subset": 0.5})
    ckpt = torch.load(result.checkpoint, weights_only=True)
    assert ckpt["data"]["train_subset"] == 0.5 and len(ckpt["data"]["mean"]) == 1
    assert result.history[0]["images"] == 4 * 32  # half of 256 training images
    test = evaluate(result.checkpoint, "test", model=tiny_net(9))
    assert test["top1_error"] == pytest.approx(result.test_error, abs=1e-9)


# --- failures ------------------------------------------------------------------------------
def test_divergence_is_a_status_not_an_exception(tmp_path, data):
    result = run(data, tmp_path, point={"train.lr": 1000.0, "train.epochs": 3})
    assert result.status == "diverged"
    assert result.reason.startswith("training loss became ")
    assert result.test_error is None and result.epochs_completed == 0
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "diverged"


class Overconfident(nn.Module):
    """Logits of 1e6 for class 0 whatever the input: a finite loss near 1e6 on every other class,
    which no step of SGD at lr 0.1 brings down."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.tensor([1e6] + [0.0] * 9))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(len(x), -1) + 0 * x.mean()


def test_a_finite_loss_far_above_chance_is_a_divergence(data):
    """Divergence is not only NaN: a blow-up still finite (lr 1000 reaches 6e16 in epoch 1 on
    one thread count and NaN on another) diverges beyond DIVERGENCE_FACTOR x ln(classes)."""
    result = run(data, model=Overconfident(), point={"train.precision": "fp32"})
    assert result.status == "diverged" and result.epochs_completed == 0
    assert result.reason.startswith("training loss became ")
    assert result.reason.endswith(f"over {DIVERGENCE_FACTOR}x the chance-level loss ln(10)")
    assert float(result.reason.split()[3]) > DIVERGENCE_FACTOR * math.log(10)


def test_injected_faults_do_not_depend_on_numerics(tmp_path, data, monkeypatch):
    """GESPACE_FAULTS: a NaN loss at the first step (diverged), or a full disk when the checkpoint
    is written, which is the machine's failure, not the point's: `train` raises it."""
    model = tiny_net()
    model.point_id = "p-fault"
    monkeypatch.setenv(FAULTS, "nonfinite-loss:p-fault")
    result = run(data, model=model)
    assert result.status == "diverged" and result.reason.startswith("training loss became nan ")
    assert run(data, point={"train.epochs": 1}).status == "ok"  # another point is untouched
    monkeypatch.setenv(FAULTS, "no-space:p-fault")
    model = tiny_net()  # the first one's weights are NaN now
    model.point_id = "p-fault"
    with pytest.raises(OSError) as raised:
        run(data, tmp_path, model=model)
    assert machine_failure(raised.value) == f"no space left on device ({tmp_path / 'checkpoint.pt'})"
    assert not (tmp_path / "result.json").exists()  # nothing recorded as the point's result


def test_callback_errors_and_bad_data_fail_cleanly(data):
    def broken(metrics):
        raise RuntimeError("tune went away")

    result = run(data, callback=broken)
    assert result.status == "failed" and "tune went away" in result.reason
    assert result.epochs_completed == 1 and "RuntimeError" in result.traceback
    missing = train(tiny_net(), point={"train.dataset": "cifar10"}, data_root="/nonexistent",
                    progress=False, threads=THREADS)
    assert missing.status == "failed" and "DataError" in missing.reason


# --- configuration, optimiser, schedules ---------------------------------------------------
def test_config_fills_defaults_and_overrides():
    config = train_config({"train.lr": 0.3, "backbone.depth": 20}, {"momentum": 0.5}, epochs=7)
    assert config["train.lr"] == 0.3 and config["train.momentum"] == 0.5
    assert config["train.epochs"] == 7 and "backbone.depth" not in config
    assert config["train.weight_decay"] == KNOBS["train.weight_decay"].default
    assert set(config) == {k for k in KNOBS if k.startswith("train.")}
    with pytest.raises(KeyError):
        train_config({}, {"nonsense": 1})


def test_no_weight_decay_on_bn_and_bias():
    model = tiny_net()
    config = train_config({"train.no_wd_bn_bias": True, "train.nesterov": True})
    groups = make_optimizer(model, config).param_groups
    assert [g["weight_decay"] for g in groups] == [5e-4, 0.0] and groups[0]["nesterov"]
    assert all(p.ndim > 1 for p in groups[0]["params"])
    assert all(p.ndim == 1 for p in groups[1]["params"])
    assert len(make_optimizer(model, train_config({})).param_groups) == 1


def schedule(**knobs) -> LRSchedule:
    return LRSchedule(train_config({f"train.{k}": v for k, v in knobs.items()}), 10)


def test_cosine_with_warmup():
    s = schedule(schedule="cosine", lr=0.1, epochs=5, warmup_epochs=1)
    assert s.lr(0) == pytest.approx(0.01) and s.lr(9) == pytest.approx(0.1)
    assert s.lr(10) == pytest.approx(0.1) and s.lr(30) == pytest.approx(0.05)
    assert s.lr(49) < 0.001 and all(s.lr(i) >= s.lr(i + 1) for i in range(10, 49))


def test_step_schedule():
    s = schedule(schedule="step", lr=1.0, epochs=8, milestones=[0.5, 0.75], gamma=0.1)
    assert [s.lr(e * 10) for e in range(8)] == pytest.approx([1, 1, 1, 1, .1, .1, .01, .01])


def test_plateau_divides_by_ten_after_patience():
    s = schedule(schedule="plateau", lr=1.0, patience=1, gamma=0.1)
    for epoch, loss in enumerate([2.0, 1.0, 1.0, 1.0, 0.5, 0.6, 0.7]):
        s.epoch_end(epoch, loss)
    # stalls at epochs 2-3 (second stall > patience -> /10), then 5-6 -> /10 again
    assert s.lr(0) == pytest.approx(0.01)
    restored = schedule(schedule="plateau", lr=1.0, patience=1)
    restored.load_state_dict(s.state_dict())
    assert restored.lr(100) == s.lr(100)


def test_rng_state_round_trip():
    import random

    import numpy as np

    state = rng_state()
    a = (torch.rand(3), random.random(), np.random.rand())
    set_rng_state(state)
    b = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2]


def test_cli_train_and_eval(tmp_path, monkeypatch, capsys):
    import gespace.builder as builder
    from gespace.cli import main

    def fake_build(point, *, space=None, seed=0):
        model = tiny_net(seed or 0)
        model.point, model.point_id = dict(point), "p-cli"
        return model

    monkeypatch.setattr(builder, "build_model", fake_build)
    point_file = tmp_path / "point.json"
    point_file.write_text(json.dumps({"backbone.arch": "cifar_resnet", "backbone.image_size": 16,
                                      "backbone.in_channels": 1, "backbone.num_classes": 10,
                                      "ge.placement.stages": [2, 3]}))
    spec = tmp_path / "space.yaml"
    spec.write_text("name: test\n")
    out = tmp_path / "run"
    code = main(["train", str(spec), "--point", f"@{point_file}", "--epochs", "1",
                 "--data", "synthetic", "--out", str(out), "--device", "cpu", "--threads", "1",
                 "--set", "train.batch_size=64", "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "p-cli" in text and "test error" in text
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ckpt["point"]["ge.placement.stages"] == (2, 3)
    assert ckpt["config"]["train.batch_size"] == 64 and len(ckpt["spec_hash"]) == 16
    assert main(["eval", str(out / "checkpoint.pt"), "--split", "test", "--device", "cpu"]) == 0
    assert "top-1 error" in capsys.readouterr().out
    # A full disk is a failure of the machine: one line, status 1, and --resume to go on.
    monkeypatch.setenv(FAULTS, "no-space:p-cli")
    assert main(["train", str(spec), "--point", f"@{point_file}", "--epochs", "1", "--data", "synthetic",
                 "--out", str(tmp_path / "full"), "--device", "cpu", "--threads", "1", "--no-progress"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"gespace: stopped: no space left on device ({tmp_path / 'full' / 'checkpoint.pt'}); free the space "
        "and run again (--resume continues)"]


def test_error_values_are_fractions(data):
    result = run(data, point={"train.epochs": 1})
    h = result.history[0]
    assert 0 <= h["val_top5_error"] <= h["val_top1_error"] <= 1 and 0 <= result.test_error <= 1
    assert math.isfinite(h["images_per_s"]) and h["images_per_s"] > 0


def test_a_finished_run_records_which_images_it_classified_right(data):
    """Per-image bits of the last validation pass and of the test split: their error is the run's,
    and the split's identity is the same for two runs of the same data."""
    from gespace.images import ImageBits

    a = run(data, point={"train.epochs": 1}, seed=0)
    b = run(data, point={"train.epochs": 1}, seed=1)
    for result in (a, b):
        val, test = (ImageBits.from_json(result.images[split]) for split in ("val", "test"))
        assert 1 - val.correct().mean() == pytest.approx(result.final_val_error)
        assert 1 - test.correct().mean() == pytest.approx(result.test_error) and test.images == 128
    assert a.images["test"]["split"] == b.images["test"]["split"] != a.images["val"]["split"]
    def stop(metrics):
        raise StopIteration

    stopped = run(data, point={"train.epochs": 2}, callback=stop)
    assert stopped.status == "stopped" and stopped.images == {}
