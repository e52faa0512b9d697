"""The paper's Sec. 4 analyses over seeds: class selectivity (Fig. 3) and gate-ranked pruning (Fig. 5).

Usage: python results/answer/aggregate_analyses.py ANALYSES_DIR OUT_DIR

ANALYSES_DIR/s<seed>/ holds one seed's `gespace analyze selectivity` and
`gespace analyze prune` CSVs (GE-θ against the baseline trained under the same
seed). Writes OUT_DIR/selectivity-seeds.png, prune-seeds.png and prints a
Markdown summary: per block, each model's median selectivity as mean ± 95% t
half-width over seeds and the paired GE-θ − baseline difference; per prune
ratio, the accuracy of each order the same way. Each table's paired differences
are one family: paired t over seeds, Holm-adjusted (`search.verdicts.adjusted`),
printed with the interval the adjusted verdict reads.
"""
from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from search.verdicts import PairTest, Verdict, adjusted  # noqa: E402


def mean_half(values: list[float]) -> tuple[float, float]:
    """Mean and 95% t half-width over seeds (nan half-width with one seed)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float(values.mean()), float("nan")
    return float(values.mean()), float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / len(values) ** 0.5)


def text(values: list[float], scale: float = 1.0, digits: int = 3) -> str:
    mean, half = mean_half([scale * v for v in values])
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def paired(name: str, differences: list[float]) -> PairTest:
    """The paired t of per-seed differences (stderr None when they are all equal: nothing to test)."""
    values = np.asarray(differences, dtype=float)
    spread = values.std(ddof=1) if len(values) > 1 else 0.0
    return PairTest(name, "", float(values.mean()), spread / len(values) ** 0.5 if spread > 0 else None,
                    len(values) - 1, tuple(range(len(values))), "paired t", runs=len(values))


def verdict_text(verdict: Verdict, scale: float = 1.0, digits: int = 3) -> str:
    """'+0.246 [+0.21, +0.28], p 0.003 / Holm 0.008: worse' (the family's interval and verdict)."""
    test = verdict.test
    if verdict.interval is None:
        return f"{scale * test.estimate:+.{digits}f} (identical under every seed)"
    low, high = (scale * v for v in verdict.interval)
    return (f"{scale * test.estimate:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}], p {test.p:.3f} / "
            f"Holm {verdict.p_adjusted:.3f}: {'resolved' if verdict.resolved else 'not resolved'}")


def read(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


def save(figure, axis, title: str, path: Path) -> None:
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    root, out = Path(sys.argv[1]), Path(sys.argv[2])
    seeds = sorted((p for p in root.glob("s[0-9]*") if p.is_dir()), key=lambda p: int(p.name[1:]))
    # Selectivity: block -> role -> per-seed median; the GE model is the one that is not the baseline.
    medians: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    prune: dict[tuple[str, float], list[float]] = defaultdict(list)
    for seed in seeds:
        rows = read(seed / "selectivity.csv")
        prune_rows = read(seed / "prune.csv")
        ge = next(r["model"] for r in prune_rows if r["order"] != "-")
        for row in rows:
            medians[row["block"]]["GE-θ" if row["model"] == ge else "Baseline"].append(float(row["median"]))
        for row in prune_rows:
            order = row["order"] if row["order"] != "-" else "baseline"
            prune[(order, float(row["ratio"]))].append(float(row["accuracy"]))

    print(f"### Class selectivity, last stage ({len(seeds)} seeds: median over each block's units; "
          "mean ± 95% t half-width over seeds)\n")
    print("| block | GE-θ | Baseline | GE-θ − Baseline (paired t, Holm over the blocks) |")
    print("|---|---|---|---|")
    blocks = sorted(medians)
    verdicts = adjusted([paired(block, [a - b for a, b in zip(medians[block]["GE-θ"], medians[block]["Baseline"])])
                         for block in blocks])
    for block, verdict in zip(blocks, verdicts):
        print(f"| {block} | {text(medians[block]['GE-θ'])} | {text(medians[block]['Baseline'])} "
              f"| {verdict_text(verdict)} |")

    print(f"\n### Gate-ranked pruning ({len(seeds)} seeds: validation accuracy %, mean ± 95% t half-width)\n")
    ratios = sorted({ratio for order, ratio in prune if order != "baseline"})
    print("| ratio | ascending (least important first) | descending (most important first) "
          "| ascending − descending (paired t, Holm over the ratios) |")
    print("|---|---|---|---|")
    verdicts = adjusted([paired(f"{ratio}", [a - d for a, d in zip(prune[("asc", ratio)], prune[("desc", ratio)])])
                         for ratio in ratios])
    for ratio, verdict in zip(ratios, verdicts):
        asc, desc = prune[("asc", ratio)], prune[("desc", ratio)]
        print(f"| {ratio:.1f} | {text(asc, 100, 2)} | {text(desc, 100, 2)} | {verdict_text(verdict, 100, 2)} |")
    baseline = {ratio: values for (order, ratio), values in prune.items() if order == "baseline"}
    print("\nBaseline, the same block: " + "; ".join(
        f"ratio {ratio:.0f}: {text(values, 100, 2)}" for ratio, values in sorted(baseline.items())))

    figure, axis = plt.subplots(figsize=(5.5, 4))
    x = np.arange(len(blocks))
    for shift, (role, colour) in zip((-0.1, 0.1), (("GE-θ", "C1"), ("Baseline", "C0"))):
        means, halves = zip(*(mean_half(medians[b][role]) for b in blocks))
        axis.errorbar(x + shift, means, yerr=halves, fmt="o-", capsize=4, color=colour, label=f"{role} (mean, 95% CI)")
        for i, block in enumerate(blocks):
            axis.scatter([i + shift] * len(medians[block][role]), medians[block][role], color=colour, alpha=0.35, s=12)
    axis.set_xticks(x, blocks)
    axis.set_ylabel("median class selectivity index")
    save(figure, axis, f"Class selectivity, last stage ({len(seeds)} seeds)", out / "selectivity-seeds.png")

    figure, axis = plt.subplots(figsize=(5.5, 4))
    for order, colour, label in (("asc", "C2", "least important first"), ("desc", "C3", "most important first")):
        means, halves = (np.array(v) for v in zip(*(mean_half([100 * a for a in prune[(order, r)]]) for r in ratios)))
        axis.plot(ratios, means, "o-", color=colour, label=f"GE-θ, {label}")
        axis.fill_between(ratios, means - halves, means + halves, color=colour, alpha=0.2)
    for ratio, values in sorted(baseline.items()):
        axis.axhline(100 * np.mean(values), color="C0", linestyle=":", linewidth=1)
        axis.annotate(f"baseline, ratio {ratio:.0f}", (0.02, 100 * np.mean(values)), fontsize=7, color="C0",
                      xytext=(0, 2), textcoords="offset points")
    axis.set_xlabel("share of the block's channels pruned (ranked by mean gate)")
    axis.set_ylabel("validation accuracy (%), mean and 95% CI over seeds")
    save(figure, axis, f"Gate-ranked pruning ({len(seeds)} seeds)", out / "prune-seeds.png")


if __name__ == "__main__":
    main()
