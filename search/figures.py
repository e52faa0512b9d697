"""A report's figures, drawn from its computed content (`search.sections`, hypervolume
histories, calibrations): the fronts, the hypervolume over trials and time, the calibration."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from gespace.grammar import anchor_label
from gespace.objectives import OBJECTIVES
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
    for name, record in histories:
        by_trial.step(record.trials, record.hypervolume, where="post", label=name)
        by_time.step([s / 60 for s in record.seconds], record.hypervolume, where="post", label=name)
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
        epochs = np.array([c.epoch for c in result.epochs], dtype=float) + 0.08 * offset
        values = np.array([c.spearman for c in result.epochs])
        low, high = np.array([c.spearman_interval for c in result.epochs]).T
        line = axis.errorbar(epochs, values, yerr=[values - low, high - values], marker="o", capsize=3,
                             label=f"{name}: epoch k vs full budget, across seeds")
        c = result.ceiling
        axis.axhspan(*c.spearman_interval, color=line[0].get_color(), alpha=0.12)
        axis.axhline(c.spearman, color=line[0].get_color(), linestyle=":",
                     label=f"{name}: seed vs seed at full budget (ceiling)")
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
                path: Path) -> None:
    """One panel per objective pair: full-budget points with 95% intervals, the front of the means
    as a step line, anchors starred. Early-stopped trials are not drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(pairs), figsize=(6 * len(pairs), 4.5), squeeze=False)
    for axis, pair in zip(axes[0], pairs):
        y_name, x_name = pair[0], pair[1]
        for index, (name, summaries, phase) in enumerate(campaigns):
            colour = f"C{index}"
            points = [s for s in summaries if s.objective(x_name) is not None]
            xs = [s.objective(x_name) for s in points]
            ys = [100 * s.error.mean for s in points]
            bounds = [s.error.interval() for s in points]
            spread = [[0 if b is None else 100 * (s.error.mean - b[0]) for s, b in zip(points, bounds)],
                      [0 if b is None else 100 * (b[1] - s.error.mean) for s, b in zip(points, bounds)]]
            axis.errorbar(xs, ys, yerr=spread, fmt="o", ms=4, alpha=0.6, color=colour, capsize=2,
                          label=f"{name} {phase} points (95% CI)")
            front = sorted(pareto_front(points, [y_name, x_name]), key=lambda s: s.objective(x_name))
            axis.step([s.objective(x_name) for s in front], [100 * s.error.mean for s in front],
                      where="post", color=colour, label=f"{name} front of the means")
            for summary in points:
                if summary.name:
                    x, y = summary.objective(x_name), 100 * summary.error.mean
                    axis.scatter([x], [y], marker="*", s=120, color=colour, edgecolor="black", zorder=3)
                    axis.annotate(anchor_label(summary.name), (x, y), textcoords="offset points",
                                  xytext=(4, 4), fontsize=8)
        axis.set_xlabel(OBJECTIVES[x_name].label)
        axis.set_ylabel(OBJECTIVES[y_name].label)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
