"""Campaign reports: compute each section (`search.sections`), then print it and write its
files (`search.render`) and draw the figures (`search.figures`). Pareto fronts with their noise,
comparisons with the anchors, calibration, hypervolume, all trials, and replica tables.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from rich.console import Console

from gespace.objectives import DEFAULT_OBJECTIVES
from search.calibration import Calibration
from search.figures import plot_calibration, plot_fronts, plot_hypervolume, plot_knobs
from search.hypervolume import history, replica_band
from search.proxies import SCORES, rate_proxies, read_scores
from search.latency import OBJECTIVE as LATENCY_OBJECTIVE, latency_note
from search.records import CONFIRM, SEARCH
from search.store import CampaignStore
from search.render import csv_text, markdown_table, print_section, report_console, rich_table, section_markdown
from search.sections import (REPLICA_COLUMNS, TRIAL_COLUMNS, Section, campaign_bounds, campaign_calibration,
                             campaign_judging, decisions_section,
                             calibration_section, campaign_sections, hypervolume_section, labeller, load_campaigns,
                             replica_rows, trial_row)


def write_report(directories: Sequence[str | Path], *, objectives: Sequence[str] = DEFAULT_OBJECTIVES,
                 out_dir: str | Path | None = None, console: Console | None = None, adjust: str = "holm",
                 control: str | None = None) -> dict[str, Path]:
    """Print the report of one or more campaigns and write its files; returns their paths.
    ``adjust`` and ``control`` say how its families of comparisons are judged (`search.sections.Judging`).

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
    searched = []  # (campaign, its search phase's full-budget points): the knobs figure
    histories = []
    calibrations: list[tuple[str, Calibration]] = []
    labels = {name: labeller(records) for name, records in campaigns}
    for directory, (name, records) in zip(directories, campaigns):
        judging = campaign_judging(directory, adjust, control)
        campaign_parts, by_phase = campaign_sections(name, records, objectives, multi, labels[name], judging)
        device_note = latency_note(directory) if LATENCY_OBJECTIVE in objectives else None
        for section in campaign_parts:
            if device_note and section.csv_name in ("pareto.csv", "confirmed.csv"):
                section.notes.append(device_note)
        sections += campaign_parts
        decisions = CampaignStore(directory).decisions()
        if decisions:
            sections.append(decisions_section(name, decisions, records, labels[name], multi))
        searched.append((name, by_phase.get(SEARCH, [])))
        plotted.append((name, by_phase.get(CONFIRM) or by_phase.get(SEARCH) or [],
                        "confirmed" if CONFIRM in by_phase else "search"))
        calibration, budget = campaign_calibration(records)
        scores = read_scores(Path(directory) / SCORES)
        sections.append(calibration_section(name, calibration, budget, multi,
                                            rate_proxies([r for r in records if r.calibration], scores)
                                            if scores else None))
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
        print_section(section, console)
        if section.csv_name:
            csv_rows.setdefault(section.csv_name, []).extend(section.rows)
            paths[section.csv_name.removesuffix(".csv")] = out / section.csv_name
    for section in sections:
        if section.csv_name:
            (out / section.csv_name).write_text(csv_text(csv_rows[section.csv_name], section.columns))
    paths["csv"] = out / "pareto.csv"
    # Trials in the order they were suggested (anchors first), not the order they finished.
    tagged = [(name, record) for name, records in campaigns
              for record in sorted(records, key=lambda r: (r.phase != SEARCH, r.order or 0))]
    columns = TRIAL_COLUMNS if multi else TRIAL_COLUMNS[1:]
    all_rows = [trial_row(name, r, labels[name]) for name, r in tagged]
    markdown = [section_markdown(section) for section in sections]
    markdown.append(f"## All trials ({len(all_rows)})\n\n" + markdown_table(all_rows, columns))
    paths["markdown"].write_text("\n".join(markdown))
    paths["trials"].write_text(csv_text([{**row, "reason": r.reason or ""} for row, (_, r) in zip(all_rows, tagged)],
                                    columns + ("reason",)))
    plot_fronts(plotted, [list(objectives)] + ([["val_error", "params_m"]]
                                               if tuple(objectives) == DEFAULT_OBJECTIVES else []),
                paths["plot"], judging.tolerance)
    paths["knobs"] = out / "knobs.png"
    plot_knobs(searched, paths["knobs"])
    console.print("report: " + ", ".join(str(p) for p in dict.fromkeys(paths.values()) if p.exists()))
    return paths


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
    console.print(rich_table(title, rows, REPLICA_COLUMNS))
    (out / "replicas.md").write_text(f"## {title}\n\n" + markdown_table(rows, REPLICA_COLUMNS))
    (out / "replicas.csv").write_text(csv_text(rows, REPLICA_COLUMNS))
    histories = []
    for directory, (name, records) in zip(directories, campaigns):
        ideal, reference = campaign_bounds(directory, objectives)
        histories.append((name, history(records, objectives, reference, ideal)))
    plot = out / "hypervolume-replicas.png"
    usable = [h for _, h in histories if h.trials]
    plot_hypervolume(histories, plot, replica_band(usable) if usable else None)
    console.print(f"report: {out / 'replicas.md'}, {out / 'replicas.csv'}, {plot}")
    return {"markdown": out / "replicas.md", "csv": out / "replicas.csv", "hypervolume": plot}
