"""Trainer throughput vs a bare PyTorch loop, and the augmentation pipeline vs the model.

    python bench/train_throughput.py [--model ge-theta-minus|tiny] [--steps 20]
                                     [--batch-size 128] [--repeats 2] [--threads N]

Prints two ratios (no assertions on time):
  trainer / bare loop  images/s of ``gespace.train.train`` (device-side pad/crop/
                       flip/normalise, LR schedule, metrics, checkpoint-free) over a
                       minimal loop (pre-normalised tensors, randperm, fwd/bwd/step)
                       on the same model, data, batch size and memory layout (the
                       one the trainer picks: NHWC unless the model has a CPU
                       channels_last hazard); target >= 0.95.
  NHWC / NCHW          the bare loop's images/s in channels_last over contiguous.
  augment / model      images/s of the training loader alone (index, pad-crop, flip,
                       normalise) over the model's training images/s; target >= 10.
Both loops run a warm-up epoch first; the best of ``--repeats`` interleaved runs
counts (the CPU may be shared; ``uptime``'s load is printed alongside).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

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


def bare_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, channels_last: bool) -> float:
    """Images/s of the timed second epoch of a minimal loop."""
    if channels_last:
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    steps = len(x) // batch
    rate = 0.0
    for epoch in range(2):
        perm = torch.randperm(len(x))
        start = time.perf_counter()
        for i in range(steps):
            idx = perm[i * batch:(i + 1) * batch]
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        rate = steps * batch / (time.perf_counter() - start)
    return rate


def trainer_rate(model: nn.Module, data: ImageData, batch: int, threads: int) -> float:
    point = {"train.epochs": 2, "train.batch_size": batch, "train.lr": 0.05,
             "train.val_fraction": 0.0, "train.pad": 2, "train.flip": True}
    result = train(model, point=point, data=data, progress=False, device="cpu", threads=threads)
    if result.status != "ok":
        raise SystemExit(f"trainer run {result.status}: {result.reason}\n{result.traceback}")
    return result.history[-1]["images_per_s"]


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
    parser.add_argument("--steps", type=int, default=20, help="batches per timed epoch")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="default: all cores")
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
          f"threads {threads}, load {os.getloadavg()[0]:.2f}")
    nhwc = setup_device("cpu", threads=threads).prepare(make()[0]).channels_last  # the trainer's choice
    trainer_best = bare_best = nchw_best = 0.0
    for repeat in range(args.repeats):
        bare = bare_loop(make()[0], x, y, args.batch_size, channels_last=nhwc)
        nchw = bare_loop(make()[0], x, y, args.batch_size, channels_last=False)
        ours = trainer_rate(make()[0], data, args.batch_size, threads)
        print(f"  run {repeat + 1}: bare loop {bare:8.1f} img/s ({'NHWC' if nhwc else 'NCHW'}, "
              f"{nchw:.1f} NCHW)   trainer {ours:8.1f} img/s   ratio {ours / bare:.3f}   "
              f"(load {os.getloadavg()[0]:.2f})")
        trainer_best, bare_best = max(trainer_best, ours), max(bare_best, bare)
        nchw_best = max(nchw_best, nchw)
    aug = augment_rate(data, args.batch_size)
    print(f"trainer / bare loop : {trainer_best / bare_best:.3f}  "
          f"({trainer_best:.1f} vs {bare_best:.1f} img/s; target >= 0.95)")
    if nhwc:
        print(f"NHWC / NCHW         : {bare_best / nchw_best:.3f}  (bare loop)")
    print(f"augment / model     : {aug / trainer_best:.1f}  "
          f"({aug:,.0f} vs {trainer_best:.1f} img/s; target >= 10)")


if __name__ == "__main__":
    main()
