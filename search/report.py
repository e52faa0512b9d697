"""Campaign reports: Pareto fronts with their noise, comparisons with the anchors, and all
trials, as rich tables, Markdown, CSV and a PNG plot.

Only full-budget trials rank; early-stopped ones are listed apart with their
fidelity. Points rank by validation error; test error is shown beside it, never
used. See `search.statistics` for the intervals, p_front and power.
"""
from __future__ import annotations

import csv
import io
import json
import math
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from gespace.grammar import anchor_label, describe
from gespace.objectives import DEFAULT_OBJECTIVES, OBJECTIVES
from search.calibration import TRUSTED, Calibration, calibrate, first_trusted_epoch
from search.hypervolume import REFERENCE, History, history, replica_band, space_bounds
from search.latency import OBJECTIVE as LATENCY_OBJECTIVE, latency_note
from search.pareto import pareto_front
from search.records import CONFIRM, OK, SEARCH, STOPPED, TrialRecord, phase_records
from search.statistics import (BETTER, WORSE, Estimate, Noise, PointSummary, campaign_noise,
                               paired_difference, resolvable_difference, seeds_to_resolve, summarise,
                               with_p_front)
from search.store import CampaignStore

TRIAL_COLUMNS = ("campaign", "point", "id", "phase", "seed", "status", "val_err_%", "test_err_%", "gmacs",
                 "params_m", "epochs")


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def _label(record: TrialRecord | PointSummary) -> str:
    """'GE-θ: dwconv global, stages 2,3,4': the anchor's label (if any) and the design."""
    return (f"{anchor_label(record.name)}: " if record.name else "") + describe(record.point)


def labeller(records: Sequence[TrialRecord]) -> Callable[[TrialRecord | PointSummary], str]:
    """One campaign's labels: the anchor and design (`_label`), then the training knobs that differ
    between its points, so two points of one design (say, two learning rates) read apart."""
    keys = sorted({key for r in records for key in r.point if key.startswith("train.")})
    varied = [key for key in keys if len({json.dumps(r.point.get(key)) for r in records}) > 1]

    def label(item: TrialRecord | PointSummary) -> str:
        knobs = ", ".join(f"{key.removeprefix('train.')} {item.point[key]}" for key in varied if key in item.point)
        return f"{_label(item)}, {knobs}" if knobs else _label(item)

    return label


def _row(campaign: str, record: TrialRecord, label: Callable[[TrialRecord], str]) -> dict[str, str]:
    cost = record.cost
    return {"campaign": campaign, "point": label(record), "id": record.id, "phase": record.phase,
            "seed": "" if record.seed is None else str(record.seed), "status": record.status, "val_err_%": _percent(record.val_error),
            "test_err_%": _percent(record.test_error),
            **{name: OBJECTIVES[name].show(getattr(cost, name)) for name in ("gmacs", "params_m")},
            "epochs": f"{record.epochs_done}/{record.budget}" if record.budget else str(record.epochs_done)}


def load_campaigns(directories: Sequence[str | Path]) -> list[tuple[str, list[TrialRecord]]]:
    """(campaign name, records) for each campaign directory."""
    campaigns = []
    for directory in directories:
        store = CampaignStore(directory)
        campaigns.append((store.settings().get("name") or store.directory.name, store.latest()))
    return campaigns


# Columns that wrap in a narrow terminal; every other one (numbers, ids) stays whole.
WRAPPED = ("point", "verdict", "anchor")
# Below this width the id column is left out of printed tables (it stays in Markdown and CSV):
# labels say what a point is, ids only find it.
ID_WIDTH = 120


def _rich_table(title: str, rows: list[dict[str, str]], columns: Sequence[str]) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in columns:
        wrapped = column in WRAPPED
        table.add_column(column, no_wrap=not wrapped, ratio=1 if wrapped else None,
                         min_width=12 if column == "point" else None)
    for row in rows:
        table.add_row(*(row[c] for c in columns))
    return table


def _markdown(rows: list[dict[str, str]], columns: Sequence[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row[c] for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _csv(rows: list[dict[str, str]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


@dataclass
class Section:
    """A titled table of a report, printed to the terminal and written as Markdown (and CSV)."""

    title: str
    columns: Sequence[str]
    rows: list[dict[str, str]]
    notes: list[str] = field(default_factory=list)
    csv_name: str | None = None

    def print(self, console: Console) -> None:
        if self.rows:
            columns = [c for c in self.columns if c != "id" or console.width >= ID_WIDTH]
            console.print(_rich_table(self.title, self.rows, columns))
        else:
            console.print(f"[bold]{self.title}[/bold]: none")
        for note in self.notes:
            console.print(note, markup=False, highlight=False)

    def markdown(self) -> str:
        table = _markdown(self.rows, self.columns) if self.rows else "none\n"
        return f"## {self.title}\n\n" + table + "".join(f"\n{note}\n" for note in self.notes)


def report_console() -> Console:
    """The terminal's width on a terminal; in a log or a pipe, wide enough that no column is cut."""
    return Console() if sys.stdout.isatty() else Console(width=200, highlight=False)


def interval_text(estimate: Estimate | None, scale: float = 100) -> str:
    """'12.34 ± 0.56' (a 95% t interval's half-width) or the mean alone when the noise is unknown."""
    if estimate is None:
        return ""
    bounds = estimate.interval()
    if bounds is None:
        return f"{scale * estimate.mean:.2f}"
    return f"{scale * estimate.mean:.2f} ± {scale * (bounds[1] - estimate.mean):.2f}"


def _summary_row(campaign: str, summary: PointSummary, label: Callable[[PointSummary], str]) -> dict[str, str]:
    seeds = str(len(summary.errors)) + ("†" if summary.single_seed else "")
    return {"campaign": campaign, "point": label(summary), "id": summary.id, "seeds": seeds,
            "val_err_%": interval_text(summary.error), "p_front": _probability(summary.p_front),
            "test_err_%": interval_text(summary.test),
            **{name: OBJECTIVES[name].show(getattr(summary.cost, name))
               for name in ("gmacs", "params_m", "latency_ms")}}


def _probability(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


FRONT_COLUMNS = ("campaign", "point", "id", "seeds", "val_err_%", "p_front", "test_err_%", "gmacs", "params_m")
# A point enters the Pareto table when it is on the front of the means or in this share of draws.
LIKELY = 0.05
SINGLE_SEED_NOTE = ("† one seed: its interval borrows the campaign's pooled seed noise (its own was not "
                    "measured).")


def _noise_note(noise: Noise) -> str:
    if not noise.known:
        return ("Seed noise unknown (no point has two full-budget seeds): intervals and p_front cannot be "
                "given; train the anchors under 2 seeds or more (--anchor-seeds).")
    return (f"Seed noise (pooled within-point std of validation error): {100 * noise.sigma:.2f} pp, "
            f"{noise.df} df from {noise.points} points. Errors are means over seeds ± the half-width of a "
            f"95% t interval; p_front is the probability of being on the front under that noise.")


def front_section(campaign: str, summaries: list[PointSummary], noise: Noise, objectives: Sequence[str],
                  title: str, columns: Sequence[str], csv_name: str | None,
                  label: Callable[[PointSummary], str]) -> Section:
    """The points on the front of the means or likely on it, by cost."""
    on_front = {s.id for s in pareto_front(summaries, objectives)}
    rows = [s for s in summaries if s.id in on_front or (s.p_front or 0) >= LIKELY]
    rows.sort(key=lambda s: tuple(s.objective(o) for o in list(objectives[1:]) + [objectives[0]]))
    notes = [_noise_note(noise)]
    if noise.known and any(s.single_seed for s in rows):
        notes.append(SINGLE_SEED_NOTE)
    return Section(title, columns, [_summary_row(campaign, s, label) for s in rows], notes, csv_name)


COMPARISON_COLUMNS = ("campaign", "point", "anchor", "seeds", "diff_pp", "verdict")
STOPPED_COLUMNS = ("campaign", "point", "id", "seed", "epochs", "val_err_%")


def comparison_section(campaign: str, summaries: list[PointSummary], noise: Noise, points: list[PointSummary],
                       title: str, columns: Sequence[str], csv_name: str,
                       label: Callable[[PointSummary], str]) -> Section:
    """Each of ``points`` minus each anchor, paired over common seeds, with a verdict."""
    anchors = [s for s in summaries if s.name]
    rows = []
    for point in points:
        for anchor in anchors:
            comparison = paired_difference(point, anchor, noise)
            rows.append({"campaign": campaign, "point": label(point), "anchor": anchor_label(anchor.name),
                         "seeds": (str(len(comparison.seeds)) if comparison.seeds
                                   else f"{len(point.errors)} vs {len(anchor.errors)}"),
                         "diff_pp": interval_text(comparison.difference), "verdict": comparison.verdict})
    resolved = sum(row["verdict"] in (BETTER, WORSE) for row in rows)
    notes = [f"{resolved} of {len(rows)} comparisons resolved (the 95% interval of the difference "
             "is clear of 0; negative: lower error than the anchor). Seeds 'n vs m': no seed in common, "
             "compared by their means."] if rows else []
    return Section(title, columns, rows, notes, csv_name)


def power_notes(noise: Noise, seeds: int) -> list[str]:
    """What the measured noise can and cannot resolve, and what would resolve 0.5 and 1 point."""
    if not noise.known:
        return ["Power: unknown until the seed noise is measured."]
    smallest = resolvable_difference(noise, seeds)
    needs = {d: seeds_to_resolve(noise, d / 100) for d in (0.5, 1.0)}
    return [f"Power: with {seeds} common seeds a paired comparison resolves a true difference of "
            f"{100 * smallest:.2f} pp (95% confidence, 80% power); resolving 0.5 pp needs {needs[0.5]} seeds, "
            f"1 pp needs {needs[1.0]}."]


def stopped_section(campaign: str, records: list[TrialRecord], columns: Sequence[str],
                    label: Callable[[TrialRecord], str]) -> Section:
    rows = [{"campaign": campaign, "point": label(r), "id": r.id, "seed": str(r.seed),
             "epochs": f"{r.epochs_done}/{r.budget}" if r.budget else str(r.epochs_done),
             "val_err_%": _percent(r.val_error)} for r in records if r.status == STOPPED]
    return Section("Stopped early by the scheduler (lower fidelity: not ranked)", columns, rows)


def campaign_sections(campaign: str, records: list[TrialRecord], objectives: Sequence[str], multi: bool,
                      label: Callable[[TrialRecord | PointSummary], str] | None = None
                      ) -> tuple[list[Section], dict[str, list[PointSummary]]]:
    """The sections of one campaign's report, and its point summaries by phase.

    Search: the front with p_front, its points against the anchors, the trials
    stopped early. Confirmed (if the campaign has a confirmation phase): the same,
    built from the confirmation's runs and the anchors' full-budget runs.
    """
    def shown(columns: Sequence[str]) -> Sequence[str]:
        return columns if multi else columns[1:]

    prefix = f"{campaign}: " if multi else ""
    label = label or labeller(records)
    sections, by_phase = [], {}
    for phase in (SEARCH, CONFIRM):
        runs = phase_records(records, phase)
        if not runs:
            continue
        noise = campaign_noise(runs)
        summaries = with_p_front(summarise(runs, noise), objectives)
        by_phase[phase] = summaries
        name = "Confirmed (full budget; chosen points under fresh seeds)" if phase == CONFIRM else "Pareto front (full budget)"
        columns = FRONT_COLUMNS + ((LATENCY_OBJECTIVE,) if LATENCY_OBJECTIVE in objectives else ())
        front = front_section(campaign, summaries, noise, objectives,
                              f"{prefix}{name}: " + " vs ".join(objectives), shown(columns),
                              "confirmed.csv" if phase == CONFIRM else "pareto.csv", label)
        front.notes += power_notes(noise, max((len(s.errors) for s in summaries if s.name), default=1))
        shown_ids = {row["id"] for row in front.rows}
        compared = [s for s in summaries if not s.name and (phase == CONFIRM or s.id in shown_ids)]
        sections += [front, comparison_section(
            campaign, summaries, noise, compared,
            f"{prefix}{'Confirmed' if phase == CONFIRM else 'Front points'}: compared with the anchors",
            shown(COMPARISON_COLUMNS), "confirmed-comparisons.csv" if phase == CONFIRM else "comparisons.csv",
            label)]
        if phase == SEARCH:
            sections.append(stopped_section(campaign, runs, shown(STOPPED_COLUMNS), label))
    return sections, by_phase


def write_report(directories: Sequence[str | Path], *, objectives: Sequence[str] = DEFAULT_OBJECTIVES,
                 out_dir: str | Path | None = None, console: Console | None = None) -> dict[str, Path]:
    """Print the report of one or more campaigns and write its files; returns their paths.

    pareto.md (every section), pareto.csv (the search's front), confirmed.csv,
    comparisons.csv, trials.csv (every trial) and pareto.png.
    """
    console = console or report_console()
    campaigns = load_campaigns(directories)
    out = Path(out_dir or directories[0])
    out.mkdir(parents=True, exist_ok=True)
    multi = len(campaigns) > 1
    sections: list[Section] = []
    plotted = []
    histories = []
    calibrations: list[tuple[str, Calibration]] = []
    labels = {name: labeller(records) for name, records in campaigns}
    for directory, (name, records) in zip(directories, campaigns):
        campaign_parts, by_phase = campaign_sections(name, records, objectives, multi, labels[name])
        device_note = latency_note(directory) if LATENCY_OBJECTIVE in objectives else None
        for section in campaign_parts:
            if device_note and section.csv_name in ("pareto.csv", "confirmed.csv"):
                section.notes.append(device_note)
        sections += campaign_parts
        plotted.append((name, by_phase.get(CONFIRM) or by_phase.get(SEARCH) or [],
                        "confirmed" if CONFIRM in by_phase else "search"))
        calibration, budget = campaign_calibration(records)
        sections.append(calibration_section(name, calibration, budget, multi))
        if calibration is not None:
            calibrations.append((name, calibration))
        ideal, reference = campaign_bounds(directory, objectives)
        histories.append((name, history(records, objectives, reference, ideal)))
        sections.append(hypervolume_section(name, histories[-1][1], ideal, reference, multi))
    paths = {"markdown": out / "pareto.md", "trials": out / "trials.csv", "plot": out / "pareto.png",
             "hypervolume": out / "hypervolume.png"}
    plot_hypervolume(histories, paths["hypervolume"])
    if calibrations:
        paths["calibration"] = out / "calibration.png"
        plot_calibration(calibrations, paths["calibration"])
    csv_rows: dict[str, list[dict[str, str]]] = {}
    for section in sections:
        section.print(console)
        if section.csv_name:
            csv_rows.setdefault(section.csv_name, []).extend(section.rows)
            paths[section.csv_name.removesuffix(".csv")] = out / section.csv_name
    for section in sections:
        if section.csv_name:
            (out / section.csv_name).write_text(_csv(csv_rows[section.csv_name], section.columns))
    paths["csv"] = out / "pareto.csv"
    # Trials in the order they were suggested (anchors first), not the order they finished.
    tagged = [(name, record) for name, records in campaigns
              for record in sorted(records, key=lambda r: (r.phase != SEARCH, r.order or 0))]
    columns = TRIAL_COLUMNS if multi else TRIAL_COLUMNS[1:]
    all_rows = [_row(name, r, labels[name]) for name, r in tagged]
    markdown = [section.markdown() for section in sections]
    markdown.append(f"## All trials ({len(all_rows)})\n\n" + _markdown(all_rows, columns))
    paths["markdown"].write_text("\n".join(markdown))
    paths["trials"].write_text(_csv([{**row, "reason": r.reason or ""} for row, (_, r) in zip(all_rows, tagged)],
                                    columns + ("reason",)))
    plot_fronts(plotted, [list(objectives)] + ([["val_error", "params_m"]]
                                               if tuple(objectives) == DEFAULT_OBJECTIVES else []),
                paths["plot"])
    console.print("report: " + ", ".join(str(p) for p in dict.fromkeys(paths.values()) if p.exists()))
    return paths


def campaign_bounds(directory: str | Path, objectives: Sequence[str]) -> tuple[dict[str, float], dict[str, float]]:
    """The hypervolume ideal and reference points of a campaign's space (`search.hypervolume`), cached."""
    from gespace.grammar import load_space

    store = CampaignStore(directory)
    return space_bounds(load_space(store.spec_path), objectives, cache=store.directory / REFERENCE)


def _correlation_text(value: float, interval: tuple[float, float]) -> str:
    return f"{value:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"


def campaign_calibration(records: list[TrialRecord]) -> tuple[Calibration | None, int]:
    """The calibration of a campaign's cohort, and the full budget it is measured against."""
    budget = max((r.budget or 0 for r in records), default=0)
    return calibrate(records, budget), budget


def calibration_section(campaign: str, result: Calibration | None, budget: int, multi: bool) -> Section:
    """How well each epoch's ranking of the calibration cohort predicts its full-budget ranking."""
    title = (f"{campaign}: " if multi else "") + "Fidelity calibration: epoch ranking vs full budget"
    columns = ("epoch", "points", "spearman [95% CI]", "kendall [95% CI]")
    if result is None:
        return Section(title, columns, [], ["No calibration cohort with 4 points or more (--calibrate N)."])
    rows = [{"epoch": str(c.epoch), "points": str(c.points),
             "spearman [95% CI]": _correlation_text(c.spearman, c.spearman_interval),
             "kendall [95% CI]": _correlation_text(c.kendall, c.kendall_interval)} for c in result.epochs]
    notes = []
    if result.ceiling is not None:
        c = result.ceiling
        rows.append({"epoch": f"ceiling: seed vs seed at {budget}", "points": str(c.points),
                     "spearman [95% CI]": _correlation_text(c.spearman, c.spearman_interval),
                     "kendall [95% CI]": _correlation_text(c.kendall, c.kendall_interval)})
    trusted = first_trusted_epoch(result)
    notes.append(f"First epoch whose Spearman interval clears {TRUSTED}: "
                 + (f"{trusted} (what --grace auto uses)." if trusted else "none (--grace auto stops nothing)."))
    notes += [f"Warning: {w}." for w in result.warnings]
    return Section(title, columns, rows, notes, None)


def hypervolume_section(campaign: str, record: History, ideal: dict[str, float], reference: dict[str, float],
                        multi: bool) -> Section:
    """The normalised hypervolume after a quarter, half, three quarters and all of the trials."""
    title = (f"{campaign}: " if multi else "") + "Hypervolume of the full-budget front (normalised)"

    def text(point: dict[str, float]) -> str:
        return ", ".join(f"{k} {v:.4g}" for k, v in point.items())

    notes = [f"From the ideal point ({text(ideal)}: zero error, the space's smallest cost) to the reference "
             f"({text(reference)}: report.reference in the spec, else chance-level error and the space's "
             "largest cost); 1.0 would be a perfect model at the smallest cost."]
    if not record.trials:
        return Section(title, ("trials", "seconds", "hypervolume"), [], notes)
    count = len(record.trials)
    marks = sorted({max(1, math.ceil(count * q)) for q in (0.25, 0.5, 0.75, 1.0)})
    rows = [{"trials": str(record.trials[m - 1]), "seconds": f"{record.seconds[m - 1]:.0f}",
             "hypervolume": f"{record.hypervolume[m - 1]:.4f}"} for m in marks]
    return Section(title, ("trials", "seconds", "hypervolume"), rows, notes)


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
    """Spearman correlation of each epoch's ranking with the full budget's, with its bootstrap
    interval, beside the seed-vs-seed ceiling and the threshold --grace auto trusts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5.5, 4))
    for offset, (name, result) in enumerate(calibrations):
        epochs = np.array([c.epoch for c in result.epochs], dtype=float) + 0.08 * offset
        values = np.array([c.spearman for c in result.epochs])
        low, high = np.array([c.spearman_interval for c in result.epochs]).T
        line = axis.errorbar(epochs, values, yerr=[values - low, high - values], marker="o", capsize=3,
                             label=f"{name}: epoch k vs full budget")
        if result.ceiling is not None:
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


REPLICA_COLUMNS = ("point", "id", "seeds", "val_err_%", "test_err_%", "params_m", "gmacs")


def _mean_std(values: list[float]) -> str:
    """'mean ± sample std' in percent ('mean' alone for one value)."""
    mean = statistics.mean(values)
    if len(values) == 1:
        return f"{100 * mean:.2f}"
    return f"{100 * mean:.2f} ± {100 * statistics.stdev(values):.2f}"


def replica_rows(campaigns: list[tuple[str, list[TrialRecord]]]) -> list[dict[str, str]]:
    """One row per point over campaigns that differ only in seed: mean ± std of its errors.

    Only points trained to the end ('ok') count; rows follow the first campaign's
    suggestion order (anchors first), then points the others alone have.
    """
    by_id: dict[str, list[TrialRecord]] = {}
    for _, records in campaigns:
        for record in sorted(records, key=lambda r: r.order or 0):
            if record.status == OK:
                by_id.setdefault(record.id, []).append(record)
    rows = []
    for pid, records in by_id.items():
        first = records[0]
        tests = [r.test_error for r in records if r.test_error is not None]
        rows.append({"point": _label(first),
                     "id": pid, "seeds": ",".join(str(r.seed) for r in records),
                     "val_err_%": _mean_std([r.val_error for r in records]),
                     "test_err_%": _mean_std(tests) if tests else "",
                     **{name: OBJECTIVES[name].show(getattr(first.cost, name)) for name in ("params_m", "gmacs")}})
    return rows


def write_replica_report(directories: Sequence[str | Path], *, objectives: Sequence[str] = DEFAULT_OBJECTIVES,
                         out_dir: str | Path | None = None, console: Console | None = None) -> dict[str, Path]:
    """Campaigns repeated with other seeds: a Table-5-style table (replicas.md, replicas.csv) and
    their hypervolume histories with the mean and its 95% interval (hypervolume-replicas.png)."""
    console = console or report_console()
    campaigns = load_campaigns(directories)
    rows = replica_rows(campaigns)
    out = Path(out_dir or directories[0])
    out.mkdir(parents=True, exist_ok=True)
    title = f"{len(directories)} replicas: mean ± std over seeds (validation ranks; test shown)"
    console.print(_rich_table(title, rows, REPLICA_COLUMNS))
    (out / "replicas.md").write_text(f"## {title}\n\n" + _markdown(rows, REPLICA_COLUMNS))
    (out / "replicas.csv").write_text(_csv(rows, REPLICA_COLUMNS))
    histories = []
    for directory, (name, records) in zip(directories, campaigns):
        ideal, reference = campaign_bounds(directory, objectives)
        histories.append((name, history(records, objectives, reference, ideal)))
    plot = out / "hypervolume-replicas.png"
    usable = [h for _, h in histories if h.trials]
    plot_hypervolume(histories, plot, replica_band(usable) if usable else None)
    console.print(f"report: {out / 'replicas.md'}, {out / 'replicas.csv'}, {plot}")
    return {"markdown": out / "replicas.md", "csv": out / "replicas.csv", "hypervolume": plot}


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
