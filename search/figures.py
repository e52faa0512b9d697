"""A report's figures, drawn from its computed content (`search.sections`, hypervolume
histories, calibrations): the fronts, the hypervolume over trials and time, the calibration."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from gespace.grammar import anchor_label
from gespace.objectives import OBJECTIVES, cost_tolerances
from search.calibration import TRUSTED, Calibration
from search.hypervolume import History
from search.pareto import pareto_front
from search.statistics import PointSummary


def plot_hypervolume(histories: list[tuple[str, History]], path: Path,
                     band: tuple[np.ndarray, ...] | None = None) -> None:
    """Hypervolume against trials finished and against wall time, one line per campaign."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (by_trial, by_time) = plt.subplots(1, 2, figsize=(11, 4))
    for index, (name, record) in enumerate(histories):
        by_trial.step(record.trials, record.hypervolume, where="post", label=name, color=f"C{index}")
        by_time.step([s / 60 for s in record.seconds], record.hypervolume, where="post", label=name,
                     color=f"C{index}")
        if record.band:
            marks, low, high = zip(*record.band)
            by_trial.fill_between(marks, low, high, step="post", color=f"C{index}", alpha=0.2,
                                  label=f"{name}: 95% band from the seed noise")
    if band is not None:
        trials, mean, low, high = band
        by_trial.plot(trials, mean, color="black", label="mean of replicas")
        by_trial.fill_between(trials, low, high, color="black", alpha=0.15, label="95% CI")
    by_trial.set_xlabel("trials finished")
    by_time.set_xlabel("wall time (min)")
    for axis in (by_trial, by_time):
        axis.set_ylabel("normalised hypervolume")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_calibration(calibrations: list[tuple[str, Calibration]], path: Path) -> None:
    """Spearman correlation of each epoch's ranking under one seed with the full budget's under
    another, with its bootstrap interval, beside the seed-vs-seed ceiling and the threshold
    --grace auto trusts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5.5, 4))
    for offset, (name, result) in enumerate(calibrations):
        colour = f"C{offset}"
        if result.epochs:  # none when the full budget is one epoch: the ceiling alone
            epochs = np.array([c.epoch for c in result.epochs], dtype=float) + 0.08 * offset
            values = np.array([c.spearman for c in result.epochs])
            low, high = np.array([c.spearman_interval for c in result.epochs]).T
            axis.errorbar(epochs, values, yerr=[values - low, high - values], marker="o", capsize=3, color=colour,
                          label=f"{name}: epoch k vs full budget, across seeds")
        c = result.ceiling
        axis.axhspan(*c.spearman_interval, color=colour, alpha=0.12)
        axis.axhline(c.spearman, color=colour, linestyle=":", label=f"{name}: seed vs seed at full budget (ceiling)")
    axis.axhline(TRUSTED, color="grey", linestyle="--", linewidth=1, label=f"--grace auto threshold ({TRUSTED})")
    axis.set_xlabel("epoch")
    axis.set_ylabel("Spearman rank correlation (95% bootstrap CI)")
    axis.set_ylim(-1.05, 1.05)
    axis.xaxis.get_major_locator().set_params(integer=True)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_fronts(campaigns: list[tuple[str, list[PointSummary], str]], pairs: list[list[str]],
                path: Path, tolerances: Mapping[str, float] | None = None) -> None:
    """One panel per objective pair: full-budget points with 95% intervals, the front of the means
    (costs within their tolerance counting as equal, as in the report) as a step line, anchors
    starred. Costs are drawn in percent above the cheapest drawn point, with the tolerance shaded:
    on a space whose costs differ by fractions of a percent, an absolute axis would make them look
    apart. Early-stopped trials are not drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tolerances = cost_tolerances(tolerances)
    figure, axes = plt.subplots(1, len(pairs), figsize=(6 * len(pairs), 4.5), squeeze=False)
    for axis, pair in zip(axes[0], pairs):
        y_name, x_name = pair[0], pair[1]
        drawn = [s.objective(x_name) for _, summaries, _ in campaigns for s in summaries
                 if s.objective(x_name) is not None]
        cheapest = min(drawn, default=1.0) or 1.0

        def relative(value: float) -> float:
            return 100 * (value / cheapest - 1)

        if tolerances.get(x_name):
            axis.axvspan(0, 100 * tolerances[x_name], color="grey", alpha=0.12,
                         label=f"within {100 * tolerances[x_name]:g}% of the cheapest: equal cost")
        for index, (name, summaries, phase) in enumerate(campaigns):
            colour = f"C{index}"
            points = [s for s in summaries if s.objective(x_name) is not None]
            xs = [relative(s.objective(x_name)) for s in points]
            ys = [100 * s.error.mean for s in points]
            bounds = [s.error.interval() for s in points]
            spread = [[0 if b is None else 100 * (s.error.mean - b[0]) for s, b in zip(points, bounds)],
                      [0 if b is None else 100 * (b[1] - s.error.mean) for s, b in zip(points, bounds)]]
            axis.errorbar(xs, ys, yerr=spread, fmt="o", ms=4, alpha=0.6, color=colour, capsize=2,
                          label=f"{name} {phase} points (95% CI)")
            front = sorted(pareto_front(points, [y_name, x_name], tolerance=tolerances),
                           key=lambda s: s.objective(x_name))
            axis.step([relative(s.objective(x_name)) for s in front], [100 * s.error.mean for s in front],
                      where="post", color=colour, label=f"{name} front of the means")
            axis.scatter([relative(s.objective(x_name)) for s in front], [100 * s.error.mean for s in front],
                         s=220, facecolors="none", edgecolors=colour, linewidths=1.5, zorder=2)
            for summary in points:
                if summary.name:
                    x, y = relative(summary.objective(x_name)), 100 * summary.error.mean
                    axis.scatter([x], [y], marker="*", s=120, color=colour, edgecolor="black", zorder=3)
                    axis.annotate(anchor_label(summary.name), (x, y), textcoords="offset points",
                                  xytext=(4, 4), fontsize=8)
        axis.set_xlabel(f"{OBJECTIVES[x_name].label}: % above the cheapest ({cheapest:.4g})")
        axis.set_ylabel(OBJECTIVES[y_name].label)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_knobs(campaigns: list[tuple[str, list[PointSummary]]], path: Path) -> None:
    """Parallel coordinates from knobs to error: one line per full-budget point, one axis per knob
    that varies among them (its levels in order, 'inactive' where the knob is off), the last axis
    the mean validation error; lines coloured by that error, anchors drawn thicker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summaries = [s for _, group in campaigns for s in group]
    keys = [k for k in dict.fromkeys(k for s in summaries for k in s.point)
            if len({_level(s.point, k) for s in summaries}) > 1 and not k.startswith("backbone.")]
    figure, axis = plt.subplots(figsize=(max(6.0, 1.6 * (len(keys) + 1)), 4.5))
    if not summaries or not keys:
        axis.text(0.5, 0.5, "no knob varies among the full-budget points", ha="center", transform=axis.transAxes)
        figure.savefig(path, dpi=120)
        plt.close(figure)
        return
    levels = {k: sorted({_level(s.point, k) for s in summaries}) for k in keys}
    errors = np.array([100 * s.error.mean for s in summaries])
    low, high = errors.min(), errors.max()
    colours = plt.get_cmap("viridis_r")
    for summary, error in zip(summaries, errors):
        share = 0.5 if high == low else (error - low) / (high - low)
        ys = [(levels[k].index(_level(summary.point, k)) + 0.5) / len(levels[k]) for k in keys] + [1 - share]
        axis.plot(range(len(keys) + 1), ys, color=colours(share), alpha=0.8, lw=2.5 if summary.name else 1.0)
    for x, key in enumerate(keys):
        for index, level in enumerate(levels[key]):
            axis.annotate(level, (x, (index + 0.5) / len(levels[key])), fontsize=7, ha="center",
                          bbox={"boxstyle": "round", "fc": "white", "alpha": 0.7, "lw": 0})
    axis.annotate(f"{low:.2f}%", (len(keys), 1), fontsize=7, ha="left")
    axis.annotate(f"{high:.2f}%", (len(keys), 0), fontsize=7, ha="left")
    axis.set_xticks(range(len(keys) + 1), [k.split(".", 1)[-1] for k in keys] + ["val error"], rotation=20,
                    fontsize=8)
    axis.set_yticks([])
    for x in range(len(keys) + 1):
        axis.axvline(x, color="grey", lw=0.5)
    axis.set_title(f"{len(summaries)} full-budget points: knobs to validation error (thick: anchors)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _level(point: Mapping, key: str) -> str:
    if key not in point:
        return "inactive"
    value = point[key]
    return "[" + ",".join(map(str, value)) + "]" if isinstance(value, (list, tuple)) else str(value)
