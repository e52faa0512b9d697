"""The accuracy-parity table of run.sh: validation error per anchor and precision over seeds.

    python results/precision/aggregate.py runs/precision > results/precision/table.md

Reads RUNS/<anchor>/<precision>/seed<S>/result.json. Per anchor: mean ± sample std over
seeds of the (final = best, one epoch) validation error in fp32 and in bf16; the bf16 - fp32
difference paired by seed (same initial weights and batches): its mean and 95% t interval;
the training images/s of each precision (median over seeds). A last row pools every pair.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from statistics import mean, median, stdev

from scipy import stats

from gespace.grammar import anchor_label

ANCHORS = ("baseline", "se", "ge-theta-minus", "ge-theta", "ge-theta-plus")
PRECISIONS = ("fp32", "bf16")


def load(root: Path) -> dict[tuple[str, str], dict[int, dict]]:
    """(anchor, precision) -> seed -> result.json of the runs that finished."""
    runs: dict[tuple[str, str], dict[int, dict]] = {}
    for path in sorted(root.glob("*/*/seed*/result.json")):
        anchor, precision, seed = path.parts[-4], path.parts[-3], int(path.parts[-2][4:])
        result = json.loads(path.read_text())
        if result["status"] == "ok":
            runs.setdefault((anchor, precision), {})[seed] = result
    return runs


def spread(values: list[float]) -> str:
    """Percent mean ± sample std (std only with two or more values)."""
    if not values:
        return "-"
    text = f"{100 * mean(values):.2f}"
    return f"{text} ± {100 * stdev(values):.2f}" if len(values) > 1 else text


def interval(diffs: list[float]) -> str:
    """Percent-point mean and 95% t interval of paired differences."""
    if len(diffs) < 2:
        return "-"
    half = stats.t.ppf(0.975, len(diffs) - 1) * stdev(diffs) / len(diffs) ** 0.5
    return f"{100 * mean(diffs):+.2f} [{100 * (mean(diffs) - half):+.2f}, {100 * (mean(diffs) + half):+.2f}]"


def main() -> None:
    runs = load(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/precision"))
    print("| anchor | seeds | val error fp32 (%) | val error bf16 (%) | bf16 - fp32, paired (pp, 95% CI) "
          "| fp32 img/s | bf16 img/s |")
    print("|---|---|---|---|---|---|---|")
    pooled: list[float] = []
    for anchor in ANCHORS:
        fp32, bf16 = runs.get((anchor, "fp32"), {}), runs.get((anchor, "bf16"), {})
        paired = sorted(set(fp32) & set(bf16))
        errors = {p: [r["final_val_error"] for r in runs.get((anchor, p), {}).values()]
                  for p in PRECISIONS}
        diffs = [bf16[s]["final_val_error"] - fp32[s]["final_val_error"] for s in paired]
        pooled += diffs
        speed = {p: median([r["history"][-1]["images_per_s"] for r in runs.get((anchor, p), {}).values()]
                           or [float("nan")]) for p in PRECISIONS}
        print(f"| {anchor_label(anchor)} | {len(paired)} | {spread(errors['fp32'])} | "
              f"{spread(errors['bf16'])} | {interval(diffs)} | {speed['fp32']:.0f} | {speed['bf16']:.0f} |")
    print(f"| all anchors | {len(pooled)} pairs | | | {interval(pooled)} | | |")


if __name__ == "__main__":
    main()
