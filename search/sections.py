"""A campaign report's content, computed apart from how it is shown: each section an info
object (`Section`: a title, columns, rows of text cells, notes), for `search.render` to print and
write, and the figures of `search.figures` to draw.

Only full-budget trials rank; early-stopped ones are listed apart with their
fidelity. Points rank by validation error; test error is shown beside it, never
used. See `search.statistics` for the intervals, p_front and power.
"""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from gespace.grammar import anchor_label, describe
from gespace.objectives import OBJECTIVES
from search.calibration import TRUSTED, Calibration, calibrate, first_trusted_epoch
from search.hypervolume import REFERENCE, History, space_bounds
from search.latency import OBJECTIVE as LATENCY_OBJECTIVE
from search.pareto import pareto_front
from search.records import CONFIRM, OK, SEARCH, STOPPED, TrialRecord, phase_records
from search.statistics import (BETTER, WORSE, Estimate, Noise, PointSummary, Spread, campaign_noise,
                               noise_spread, paired_difference, resolvable_difference, seeds_to_resolve,
                               summarise, with_p_front)
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


def trial_row(campaign: str, record: TrialRecord, label: Callable[[TrialRecord], str]) -> dict[str, str]:
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


@dataclass
class Section:
    """A titled table of a report, as data: what `search.render` prints, and writes as Markdown and CSV."""

    title: str
    columns: Sequence[str]
    rows: list[dict[str, str]]
    notes: list[str] = field(default_factory=list)
    csv_name: str | None = None


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


def _spread_notes(noise: Noise, spread: Spread) -> list[str]:
    """sigma's own interval, and how far the points' seed noise differs from one sigma."""
    if not noise.known:
        return []
    low, high = noise.interval()
    text = f"Seed noise's own 95% interval: [{100 * low:.2f}, {100 * high:.2f}] pp ({noise.df} df)."
    if spread.sds:
        text += (f" The points' own SDs range {100 * min(spread.sds.values()):.2f}-"
                 f"{100 * max(spread.sds.values()):.2f} pp")
        text += (f"; Brown-Forsythe test of equal variances: p = {spread.p_equal:.2f} (little power with "
                 "2-3 seeds a point)." if spread.p_equal is not None
                 else "; equal variances cannot be tested at these seeds (3 a point or more are needed).")
    return [text]


def front_section(campaign: str, summaries: list[PointSummary], noise: Noise, objectives: Sequence[str],
                  title: str, columns: Sequence[str], csv_name: str | None,
                  label: Callable[[PointSummary], str]) -> Section:
    """The points on the front of the means or likely on it, by cost."""
    on_front = {s.id for s in pareto_front(summaries, objectives)}
    rows = [s for s in summaries if s.id in on_front or (s.p_front or 0) >= LIKELY]
    rows.sort(key=lambda s: tuple(s.objective(o) for o in list(objectives[1:]) + [objectives[0]]))
    notes = [_noise_note(noise)] + _spread_notes(noise, noise_spread(summaries))
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
    low, high = (resolvable_difference(Noise(sigma, noise.df, noise.points), seeds) for sigma in noise.interval())
    return [f"Power: with {seeds} common seeds a paired comparison resolves a true difference of "
            f"{100 * smallest:.2f} pp (95% confidence, 80% power); resolving 0.5 pp needs {needs[0.5]} seeds, "
            f"1 pp needs {needs[1.0]}.",
            f"Over the seed noise's 95% interval that difference ranges {100 * low:.2f}-{100 * high:.2f} pp."]


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
