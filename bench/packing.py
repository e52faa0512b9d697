"""Campaign packing on the CPU: two one-thread trials at once, or one two-thread trial at a time?

A trial is `gespace train` of a demo anchor on the main job's budget (scripts/main.sh:
3 epochs on an 8% training subset, the whole validation split evaluated after every epoch,
the test split at the end), in its own process as a campaign runs it. Each round trains one
pair of trials both ways, the order alternating between rounds: ``1x2`` one after the other
with 2 threads each, ``2x1`` both at once with 1 thread each (``--max-concurrent 2
--cpus-per-trial 1``, scripts/main.sh's default). Prints trials per hour of each (whole
processes: start-up, data, training, evaluation) and their ratio, and the trainers' own
training images/s summed over the trials running at once; asserts nothing. With ``--fp32``
also ``2x1-fp32``: the main job as it ran before ``train.precision`` (fp32 on the CPU).

    python bench/packing.py [--anchor ge-theta-minus] [--rounds 2] [--precision auto] [--fp32]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
def trial(out: Path, args: argparse.Namespace, threads: int, precision: str,
          seed: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "gespace", "train", str(ROOT / "spaces/fashion-demo.yaml"),
               "--point", f"anchor:{args.anchor}", "--epochs", str(args.epochs),
               "--set", f"train.subset={args.subset}", "--set", f"train.precision={precision}",
               "--seed", str(seed), "--threads", str(threads), "--no-progress", "--out", str(out)]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def run_pair(scheme: str, workdir: Path, args: argparse.Namespace) -> tuple[float, float]:
    """Wall seconds for two trials under ``scheme``, and the training images/s of the trials
    running at once (summed; the mean over the trials' epochs)."""
    at_once, threads = (1, 2) if scheme == "1x2" else (2, 1)
    precision = "fp32" if scheme.endswith("fp32") else args.precision
    outs = [workdir / f"{scheme}-{i}" for i in range(2)]
    start = time.perf_counter()
    for batch in ([outs] if at_once == 2 else [[out] for out in outs]):
        procs = [trial(out, args, threads, precision, seed) for seed, out in enumerate(batch)]
        for proc in procs:
            _, err = proc.communicate()
            if proc.returncode != 0:
                raise SystemExit(f"trial failed ({scheme}):\n{err.decode()[-2000:]}")
    wall = time.perf_counter() - start
    rates = []
    for out in outs:
        history = json.loads((out / "result.json").read_text())["history"]
        rates.append(sum(h["images_per_s"] for h in history) / len(history))
    return wall, sum(rates) / len(rates) * at_once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchor", default="ge-theta-minus")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--subset", type=float, default=0.08)
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--fp32", action="store_true", help="also 2x1 in fp32 (the main job before)")
    args = parser.parse_args()
    schemes = ["1x2", "2x1"] + (["2x1-fp32"] if args.fp32 else [])
    print(f"demo {args.anchor}, {args.epochs} epochs on a {args.subset:.0%} subset, precision "
          f"{args.precision}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    walls: dict[str, list[float]] = {scheme: [] for scheme in schemes}
    speeds: dict[str, list[float]] = {scheme: [] for scheme in schemes}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for scheme in (schemes if r % 2 == 0 else schemes[::-1]):
                wall, speed = run_pair(scheme, Path(tmp) / f"round{r}", args)
                walls[scheme].append(wall)
                speeds[scheme].append(speed)
                print(f"  round {r + 1} {scheme}: 2 trials in {wall:6.1f} s ({7200 / wall:5.1f} trials/h), "
                      f"training {speed:6.1f} img/s  (load {os.getloadavg()[0]:.2f})", flush=True)
    per_hour = {scheme: 7200 / median(walls[scheme]) for scheme in schemes}
    for scheme in schemes:
        print(f"{scheme:8s}: {per_hour[scheme]:5.1f} trials/h, training {median(speeds[scheme]):6.1f} img/s")
    for better, worse in [("2x1", "1x2")] + ([("2x1", "2x1-fp32")] if args.fp32 else []):
        print(f"{better} / {worse} trials per hour: {per_hour[better] / per_hour[worse]:.3f}  "
              f"(training images/s: {median(speeds[better]) / median(speeds[worse]):.3f})")


if __name__ == "__main__":
    main()
