"""Time to cost N points sampled from a space with ``point_cost`` (cold caches, then warm),
and a spot check that the composed cost equals a whole-model trace. Asserts nothing.

    python bench/cost_speed.py                           # 1,000 points of paper-resnet50
    python bench/cost_speed.py -n 200 --space fashion-demo.yaml
    python bench/cost_speed.py --random                  # hand-built random points, no grammar
"""
from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from gespace.cost import cache_info, clear_cache, count_cost, point_cost

SPACES = Path(__file__).resolve().parent.parent / "spaces"
RESNET50 = {"backbone.arch": "resnet", "backbone.depth": 50, "backbone.style": "caffe",
            "backbone.in_channels": 3, "backbone.image_size": 224, "backbone.num_classes": 1000}


def random_points(n: int, seed: int) -> list[dict]:
    """ResNet-50 points drawn knob by knob, for use before (or without) the grammar."""
    rng = random.Random(seed)
    points = []
    for _ in range(n):
        stages = tuple(s for s in (2, 3, 4, 5) if rng.random() < 0.5)
        point = {**RESNET50, "ge.placement.stages": stages}
        if stages:
            op, extent = rng.choice(["pool", "dwconv"]), rng.choice([2, 4, 8, "global"])
            point.update({"ge.gather.op": op, "ge.gather.extent": extent,
                          "ge.excite.gate": rng.choice(["sigmoid", "hard_sigmoid"]),
                          "ge.excite.mlp": rng.choice(["none", "se"])})
            if op == "pool":
                point["ge.gather.pool"] = rng.choice(["avg", "max"])
            else:
                least = 1 if extent == "global" else {2: 1, 4: 2, 8: 3}[extent]
                point["ge.gather.depth"] = rng.randint(least, least + 1)
            if extent != "global":
                point["ge.excite.interp"] = rng.choice(["nearest", "bilinear"])
            if point["ge.excite.mlp"] == "se":
                point["ge.excite.reduction"] = rng.choice([4, 8, 16, 32])
        points.append(point)
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=1000, help="points to cost")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--space", default="paper-resnet50.yaml", help="a file in spaces/")
    parser.add_argument("--random", action="store_true", help="hand-built random ResNet-50 points")
    parser.add_argument("--check", type=int, default=2, help="points to check against whole-model traces")
    args = parser.parse_args()
    if args.random:
        points, source = random_points(args.n, args.seed), "hand-built random ResNet-50 points"
    else:
        from gespace.grammar import load_space, point_id

        points = load_space(str(SPACES / args.space)).sample(args.n, seed=args.seed)
        source = f"{args.space} ({len({point_id(p) for p in points})} distinct)"
    clear_cache()
    start = time.perf_counter()
    costs = [point_cost(point) for point in points]
    cold = time.perf_counter() - start
    start = time.perf_counter()
    for point in points:
        point_cost(point)
    warm = time.perf_counter() - start
    print(f"{len(points)} points from {source}")
    print(f"cold caches: {cold:.2f} s ({cold / len(points) * 1e3:.1f} ms/point); cached: "
          + ", ".join(f"{n} {what}" for what, n in cache_info().items()))
    print(f"warm caches: {warm:.3f} s ({warm / len(points) * 1e6:.0f} us/point)")
    print(f"GMACs {min(c.gmacs for c in costs):.4f}..{max(c.gmacs for c in costs):.4f}, "
          f"params {min(c.params_m for c in costs):.2f}..{max(c.params_m for c in costs):.2f} M")
    if args.check:
        from gespace.builder import backbone_kwargs, build_model

        start = time.perf_counter()
        for point, cost in list(zip(points, costs))[:args.check]:
            size = backbone_kwargs(point).get("image_size", 224)
            whole = count_cost(build_model(point), size, point.get("backbone.in_channels", 3))
            print(f"  composed == whole-model trace: {whole == cost}")
        print(f"  (a whole-model trace: {(time.perf_counter() - start) / args.check:.2f} s each)")


if __name__ == "__main__":
    main()
