"""Trainer throughput vs a bare PyTorch loop per precision, bf16 vs fp32, evaluation's share.

    python bench/train_throughput.py [--model ge-theta-minus|tiny] [--steps 20] [--epochs 6]
                                     [--batch-size 128] [--repeats 2] [--threads N]

Prints ratios (no assertions on time):
  trainer / bare loop  per precision (fp32, and 'auto' as it resolves here): images/s of
                       ``gespace.train.train`` (device-side pad/crop/flip/normalise, LR
                       schedule, metrics, checkpoint-free) over a minimal loop (pre-normalised
                       tensors, randperm, fwd/bwd/step, the same autocast) on the same model,
                       batch size and memory layout (the one the trainer picks); target >= 0.97.
                       The bare loop runs one epoch right after each trainer epoch (from the
                       trainer's epoch callback), so both see the same load; the median of
                       the per-epoch ratios counts, the first epoch of each being warm-up.
  auto / fp32          the trainer's images/s with ``train.precision: auto`` over fp32 (runs
                       alternate in order across repeats); target >= 1.4 where auto is bf16.
  NHWC / NCHW          the bare loop's images/s in channels_last over contiguous (fp32).
  augment / model      images/s of the training loader alone (index, pad-crop, flip,
                       normalise) over the model's training images/s; target >= 10.
  eval share           validation time / epoch time of the trainer on the main job's budget
                       (Fashion-MNIST, 8% training subset, the whole 6,000-image validation split).
The CPU may be shared: ``uptime``'s load is printed alongside.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from statistics import median

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gespace.data import ImageData, load_dataset, make_loaders, make_synthetic  # noqa: E402
from gespace.train import train  # noqa: E402
from gespace.train.device import setup_device  # noqa: E402


def ge_theta_minus() -> tuple[nn.Module, dict]:
    from gespace.builder import build_model

    point = {"backbone.arch": "cifar_resnet", "backbone.depth": 20, "backbone.width": 16,
             "backbone.in_channels": 1, "backbone.image_size": 28, "backbone.num_classes": 10,
             "ge.placement.stages": (2, 3, 4), "ge.gather.op": "pool", "ge.gather.pool": "avg",
             "ge.gather.extent": "global", "ge.excite.gate": "sigmoid", "ge.excite.mlp": "none"}
    return build_model(point, seed=0), point


def tiny() -> tuple[nn.Module, dict]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16),
                          nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    return model, {}


def dataset(n: int) -> ImageData:
    try:
        full = load_dataset("fashion-mnist", allow_download=False)
        name = "fashion-mnist"
    except Exception:
        full = make_synthetic(n, 16, image_size=28)
        name = "synthetic"
    return ImageData(name, full.train_images[:n].clone(), full.train_labels[:n].clone(),
                     full.test_images[:256].clone(), full.test_labels[:256].clone(), 10,
                     {"name": name})


class BareLoop:
    """A minimal training loop on pre-normalised tensors; ``epoch()`` runs one, returns images/s."""

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int,
                 channels_last: bool, precision: str) -> None:
        if channels_last:
            model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        self.model, self.x, self.y, self.batch = model.train(), x, y, batch
        self.opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        self.bf16 = precision == "bf16"

    def epoch(self) -> float:
        steps = len(self.x) // self.batch
        perm = torch.randperm(len(self.x))
        start = time.perf_counter()
        for i in range(steps):
            idx = perm[i * self.batch:(i + 1) * self.batch]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                loss = nn.functional.cross_entropy(self.model(self.x[idx]), self.y[idx])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        return steps * self.batch / (time.perf_counter() - start)


def interleaved(make, data: ImageData, x: torch.Tensor, y: torch.Tensor, batch: int, threads: int,
                precision: str, epochs: int, nchw: BareLoop | None = None
                ) -> tuple[str, list[float], list[float], list[float]]:
    """The trainer's precision (resolved), and images/s of its epochs, of the bare loop's epoch
    run right after each (same precision and layout), and of ``nchw``'s, warm-up dropped."""
    model = make()[0]
    setup = setup_device("cpu", threads=threads, precision=precision)
    bare = BareLoop(make()[0], x, y, batch, setup.prepare(make()[0]).channels_last, setup.precision)
    bare_rates: list[float] = []
    nchw_rates: list[float] = []

    def after_epoch(metrics: dict) -> None:
        bare_rates.append(bare.epoch())
        if nchw is not None:
            nchw_rates.append(nchw.epoch())

    point = {"train.epochs": epochs, "train.batch_size": batch, "train.lr": 0.05,
             "train.val_fraction": 0.0, "train.pad": 2, "train.flip": True,
             "train.precision": precision}
    result = train(model, point=point, data=data, progress=False, device="cpu", threads=threads,
                   callback=after_epoch)
    if result.status != "ok":
        raise SystemExit(f"trainer run {result.status}: {result.reason}\n{result.traceback}")
    ours = [h["images_per_s"] for h in result.history]
    return result.precision, ours[1:], bare_rates[1:], nchw_rates[1:]


def eval_share(precision: str, threads: int, epochs: int = 2) -> tuple[float, float]:
    """Validation time / epoch time, and validation images/s, of the demo GE-θ⁻ anchor on the
    main job's budget (the last of ``epochs`` epochs)."""
    model, point = ge_theta_minus()
    point = {**point, "train.epochs": epochs, "train.subset": 0.08, "train.pad": 2,
             "train.precision": precision}
    result = train(model, point=point, data="fashion-mnist", progress=False, device="cpu",
                   threads=threads)
    if result.status != "ok":
        raise SystemExit(f"trainer run {result.status}: {result.reason}\n{result.traceback}")
    last = result.history[-1]
    return last["val_time"] / last["epoch_time"], 6000 / last["val_time"]


def augment_rate(data: ImageData, batch: int, epochs: int = 5) -> float:
    loaders = make_loaders(data, batch_size=batch, val_fraction=0.0, pad=2, flip=True, seed=0)
    train_loader = loaders.train
    best = 0.0
    for epoch in range(epochs):
        train_loader.set_epoch(epoch)
        start = time.perf_counter()
        n = sum(len(y) for _, y in train_loader)
        best = max(best, n / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("ge-theta-minus", "tiny"), default="ge-theta-minus")
    parser.add_argument("--steps", type=int, default=20, help="batches per epoch")
    parser.add_argument("--epochs", type=int, default=6, help="epochs per trainer run (1 warm-up)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="default: all cores")
    parser.add_argument("--no-eval-share", action="store_true", help="skip the eval-share runs")
    args = parser.parse_args()
    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    make = ge_theta_minus if args.model == "ge-theta-minus" else tiny
    n = args.steps * args.batch_size
    data = dataset(n)
    loaders = make_loaders(data, batch_size=n, val_fraction=0.0)
    x = loaders.train.normalize(loaders.train.store)  # pre-normalised, unaugmented
    y = loaders.train.labels

    print(f"model {args.model}, data {data.name} ({n} images), batch {args.batch_size}, "
          f"threads {threads}, {args.epochs} epochs per run, load {os.getloadavg()[0]:.2f}")
    nchw = BareLoop(make()[0], x, y, args.batch_size, channels_last=False, precision="fp32")
    rates: dict[str, list[float]] = {}
    ratios: dict[str, list[float]] = {}
    bare: dict[str, list[float]] = {}
    nchw_rates: list[float] = []
    resolved = "fp32"
    for repeat in range(args.repeats):
        order = ("fp32", "auto") if repeat % 2 == 0 else ("auto", "fp32")
        for precision in order:
            got, ours, base, plain = interleaved(make, data, x, y, args.batch_size, threads, precision,
                                                 args.epochs, nchw if precision == "fp32" else None)
            resolved = got if precision == "auto" else resolved
            rates.setdefault(precision, []).extend(ours)
            bare.setdefault(precision, []).extend(base)
            ratios.setdefault(precision, []).extend(a / b for a, b in zip(ours, base))
            nchw_rates.extend(plain)
            print(f"  run {repeat + 1} {precision:>4s} ({got}): trainer {median(ours):7.1f} img/s, "
                  f"bare loop {median(base):7.1f} img/s, ratio {median(ratios[precision][-len(ours):]):.3f}"
                  f"   (load {os.getloadavg()[0]:.2f})", flush=True)
    for precision in ("fp32", "auto"):
        label = precision if precision == "fp32" else f"auto={resolved}"
        print(f"trainer / bare loop, {label:9s}: {median(ratios[precision]):.3f}  "
              f"({median(rates[precision]):.1f} vs {median(bare[precision]):.1f} img/s; target >= 0.97)")
    print(f"auto / fp32 trainer       : {median(rates['auto']) / median(rates['fp32']):.3f}  "
          f"(auto = {resolved}; the bare loop: {median(bare['auto']) / median(bare['fp32']):.3f}; "
          f"target >= 1.4)")
    print(f"NHWC / NCHW bare loop fp32: {median(bare['fp32']) / median(nchw_rates):.3f}")
    aug = augment_rate(data, args.batch_size)
    best = max(rates["auto"] + rates["fp32"])
    print(f"augment / model           : {aug / best:.1f}  ({aug:,.0f} vs {best:.1f} img/s; target >= 10)")
    if not args.no_eval_share and data.name == "fashion-mnist" and args.model == "ge-theta-minus":
        for precision in ("fp32", "auto"):
            share, speed = eval_share(precision, threads)
            print(f"eval share, {precision:4s}          : {share:.3f} of the epoch  (validation "
                  f"{speed:,.0f} img/s; 8% subset, 6,000 val images)")


if __name__ == "__main__":
    main()
