"""Train-step time (forward + backward + SGD step) of GE networks relative to their baselines.

ResNet-50 at 224x224 (anchors of spaces/paper-resnet50.yaml) and ResNet-20 on 28x28x1
(spaces/fashion-demo.yaml): baseline, GE-θ⁻ and GE-θ (SE and GE-θ⁺ with --all), in both
memory layouts (NCHW and channels_last) and each ``--precision`` (fp32, bf16 autocast).
Prints median step times and their ratios to the baseline next to the MAC ratios (targets:
GE-θ⁻ <= 1.03x, GE-θ <= 1.08x); asserts nothing.

    python bench/model_step.py --quick      # a few minutes on 2 CPU cores
    python bench/model_step.py --demo-only --precision fp32 bf16
    python bench/model_step.py              # ResNet-50 at batch 16: many minutes on 2 cores
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from gespace.builder import build_model
from gespace.cost import point_cost
from gespace.grammar import anchor_label, load_space

SPACES = Path(__file__).resolve().parent.parent / "spaces"


class Stepper:
    """One model, its SGD optimizer and a fixed random batch; ``step()`` times one train step."""

    def __init__(self, model: nn.Module, batch: int, size: int, channels: int, classes: int,
                 device: torch.device, channels_last: bool, precision: str) -> None:
        layout = torch.channels_last if channels_last else torch.contiguous_format
        self.model, self.device = model.to(device, memory_format=layout).train(), device
        self.optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        self.x = torch.randn(batch, channels, size, size, device=device).contiguous(memory_format=layout)
        self.y = torch.randint(classes, (batch,), device=device)
        self.bf16 = precision == "bf16"

    def step(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        start = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        with (torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16
              else contextlib.nullcontext()):
            loss = nn.functional.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        self.optimizer.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return (time.perf_counter() - start) * 1e3


def bench(space_file: str, anchors: list[str], batch: int, steps: int, warmup: int,
          device: torch.device, channels_last: bool, precision: str) -> None:
    """Steps alternate between the variants (round-robin, the order rotating every round), so
    that load drift on a shared machine hits them all alike; medians per variant, and a
    variant's time ratio is the median over rounds of its step time over the baseline's."""
    space = load_space(str(SPACES / space_file))
    points = {name: space.anchor(name) for name in anchors}
    steppers = {name: Stepper(build_model(p), batch, p["backbone.image_size"], p["backbone.in_channels"],
                              p["backbone.num_classes"], device, channels_last, precision)
                for name, p in points.items()}
    times: dict[str, list[float]] = {name: [] for name in anchors}
    for i in range(warmup + steps):
        for name in anchors[i % len(anchors):] + anchors[:i % len(anchors)]:
            ms = steppers[name].step()
            if i >= warmup:
                times[name].append(ms)
    print(f"\n{space.name}: batch {batch}, {'channels_last' if channels_last else 'NCHW'}, {precision}, "
          f"median of {steps} round-robin steps after {warmup} warm-up, {device}")
    print(f"{'variant':10s} {'ms/step':>9s} {'time x':>7s} {'GMACs':>8s} {'MACs x':>7s} {'params M':>9s}")
    base, base_macs = times[anchors[0]], point_cost(points[anchors[0]]).macs
    for name in anchors:
        ms, cost = statistics.median(times[name]), point_cost(points[name])
        ratio = statistics.median(t / b for t, b in zip(times[name], base))
        print(f"{anchor_label(name):10s} {ms:9.1f} {ratio:7.3f} {cost.gmacs:8.4f} "
              f"{cost.macs / base_macs:7.4f} {cost.params_m:9.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small batches and few steps")
    parser.add_argument("--all", action="store_true", help="also SE and GE-θ⁺")
    parser.add_argument("--batch", type=int, help="ResNet-50 batch (default 16, quick 4)")
    parser.add_argument("--steps", type=int, help="timed round-robin steps (default 3)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's choice)")
    parser.add_argument("--precision", nargs="+", choices=("fp32", "bf16"), default=["fp32"])
    parser.add_argument("--demo-only", action="store_true", help="skip ResNet-50")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    batch = args.batch or (4 if args.quick else 16)
    steps = args.steps or 3
    anchors = ["baseline", "ge-theta-minus", "ge-theta"] + (["se", "ge-theta-plus"] if args.all else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for precision in args.precision:
        for channels_last in (False, True):
            if not args.demo_only:
                bench("paper-resnet50.yaml", anchors, batch, steps, 1, device, channels_last, precision)
            bench("fashion-demo.yaml", anchors, 32 if args.quick else 128, 3 * steps, 2, device,
                  channels_last, precision)


if __name__ == "__main__":
    main()
