"""Forward+backward time of GE blocks against the naive composition and a memory-bound floor.

The naive composition is the paper's formula run by autograd: gather ->
F.interpolate(nearest) -> sigmoid -> multiply (global: broadcast). The floor is
one elementwise multiply x * y of the same size (both requiring grad): a GE
block must read and write at least that much. Times are medians over repeats,
with the three candidates of a row interleaved so that load from other processes hits all alike
(on a loaded machine ``--stat min`` is the steadier estimate of the unloaded time).

    python bench/ge_ops.py [--quick] [--stat median|min]
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from gespace.ops import GEBlock

SIZES = {"R50 stage 2": (32, 256, 56, 56), "CIFAR stage 2": (128, 16, 32, 32)}
QUICK_SIZES = {"R50 stage 2": (8, 256, 56, 56), "CIFAR stage 2": (128, 16, 32, 32)}
EXTENTS = (2, 4, 8, "global")


def naive(block: GEBlock, x: torch.Tensor) -> torch.Tensor:
    """The same gather, then the unfused excite of the paper's formula."""
    gathered = block.gather(x)
    if gathered.shape[-2:] != x.shape[-2:]:
        gathered = F.interpolate(gathered, size=x.shape[-2:], mode="nearest")
    return x * torch.sigmoid(gathered)


def fwd_bwd_times(fns: dict[str, Callable[[torch.Tensor], torch.Tensor]], shape: tuple[int, ...],
                  repeats: int, stat: Callable[[list[float]], float]) -> dict[str, float]:
    """``stat`` of the seconds of f(x).backward(gy) per candidate, interleaved, after one warm-up round."""
    x = torch.randn(shape, requires_grad=True)
    other = torch.randn(shape, requires_grad=True)
    fns = {**fns, "floor": lambda t: t * other}
    gy = torch.randn(shape)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for rep in range(repeats + 1):
        for name, fn in fns.items():
            x.grad = other.grad = None  # no gradient accumulation pass in the timing
            start = time.perf_counter()
            fn(x).backward(gy)
            if rep:
                times[name].append(time.perf_counter() - start)
    return {name: stat(ts) for name, ts in times.items()}


def max_diffs(block: GEBlock, shape: tuple[int, ...]) -> tuple[float, float]:
    """Largest |difference| from the naive composition in the output and in grad x."""
    x = torch.randn(shape, requires_grad=True)
    gy = torch.randn(shape)
    (y, dx), (y_ref, dx_ref) = ((out, *torch.autograd.grad(out, x, gy)) for out in (block(x), naive(block, x)))
    return (y - y_ref).abs().max().item(), (dx - dx_ref).abs().max().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller batch, fewer repeats")
    parser.add_argument("--stat", choices=("median", "min"), default="median", help="summary of the repeats")
    args = parser.parse_args()
    stat = statistics.median if args.stat == "median" else min
    torch.set_num_threads(2)
    torch.manual_seed(0)
    repeats = 3 if args.quick else 7
    sizes = QUICK_SIZES if args.quick else SIZES
    table = Table(title=f"GE blocks, forward+backward, {args.stat} of {repeats}, {torch.get_num_threads()} threads")
    for col in ("input", "block", "extent", "ms", "naive ms", "floor ms", "x naive", "x floor", "max |dy|",
                "max |dx|"):
        table.add_column(col, justify="left" if col in ("input", "block") else "right")
    for label, shape in sizes.items():
        c, size = shape[1], tuple(shape[-2:])
        label = f"{label} {'x'.join(map(str, shape))}"
        for name, op in (("GE-θ⁻", "pool"), ("GE-θ", "dwconv")):
            for extent in EXTENTS:
                block = GEBlock(c, gather_op=op, extent=extent, feature_size=size)
                t = fwd_bwd_times({"block": block, "naive": lambda x, b=block: naive(b, x)}, shape, repeats, stat)
                dy, dx = max_diffs(block, shape)
                table.add_row(label, name, str(extent), *(f"{t[k] * 1e3:.0f}" for k in ("block", "naive", "floor")),
                              f"{t['block'] / t['naive']:.2f}", f"{t['block'] / t['floor']:.2f}",
                              f"{dy:.1e}", f"{dx:.1e}")
        table.add_section()
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
