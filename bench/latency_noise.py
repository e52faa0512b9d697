"""How much one network's measured latency moves between measurements: the basis of latency's
tolerance in dominance (`gespace.objectives`). Each measurement is what a campaign takes
(`gespace.cost.latency`: the median of 10 timed batch-1 forwards after 2 warm-up ones); the
paper's anchors on the Fashion-MNIST demo space are measured ``--rounds`` times each, one thread,
round-robin, with another thread busy (a campaign times while trials train). Asserts nothing;
prints each anchor's spread and, last:

    latency noise: median relative spread X.X% (max Y.Y%) over N anchors, R rounds

    python bench/latency_noise.py [--rounds 12] [--space spaces/fashion-demo.yaml]
"""
from __future__ import annotations

import argparse
import threading
from pathlib import Path

import numpy as np
import torch

from gespace.builder import build_model
from gespace.cost import latency
from gespace.grammar import load_space
from gespace.train.device import cpu_description

ROOT = Path(__file__).resolve().parent.parent


def busy(stop: threading.Event) -> None:
    """Another trial's load: matrix products until told to stop."""
    a = torch.randn(256, 256)
    while not stop.is_set():
        a @ a


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--space", default=str(ROOT / "spaces" / "fashion-demo.yaml"))
    parser.add_argument("--load", action=argparse.BooleanOptionalAction, default=True,
                        help="keep another thread busy, as a training trial does (default: yes)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    space = load_space(args.space)
    anchors = dict(space.anchors())
    models = {name: build_model(point) for name, point in anchors.items()}
    stop = threading.Event()
    if args.load:
        threading.Thread(target=busy, args=(stop,), daemon=True).start()
    times: dict[str, list[float]] = {name: [] for name in models}
    try:
        for _ in range(args.rounds):
            for name, model in models.items():
                point = anchors[name]
                times[name].append(latency(model, point["backbone.image_size"], point["backbone.in_channels"],
                                           device="cpu").batch1_ms)
    finally:
        stop.set()
    print(f"CPU: {cpu_description()}")
    spreads = []
    for name, values in times.items():
        values = np.array(values)
        spread = (np.percentile(values, 90) - np.percentile(values, 10)) / np.median(values)
        spreads.append(spread)
        print(f"{name:16s} median {np.median(values):.3f} ms, 10-90% range {100 * spread:.1f}% of it, "
              f"CV {100 * values.std(ddof=1) / values.mean():.1f}%")
    print(f"latency noise: median relative spread {100 * np.median(spreads):.1f}% "
          f"(max {100 * max(spreads):.1f}%) over {len(spreads)} anchors, {args.rounds} rounds")


if __name__ == "__main__":
    main()
