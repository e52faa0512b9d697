"""A campaign report's content, computed apart from how it is shown: each section an info
object (`Section`: a title, columns, rows of text cells, notes), for `search.render` to print and
write, and the figures of `search.figures` to draw.

Only full-budget trials rank; early-stopped ones are listed apart with their
fidelity. Searched points rank by validation error; test error is shown beside
it and judges only the confirmed points, which nothing selected on it. See
`search.statistics` for the intervals, p_front and power, `search.verdicts` for
the families of comparisons and their procedures.
"""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

from gespace.grammar import anchor_label, describe
from gespace.objectives import OBJECTIVES, cost_tolerances
from search.calibration import TRUSTED, Calibration, calibrate, first_trusted_epoch
from search.hypervolume import REFERENCE, History, space_bounds
from search.latency import OBJECTIVE as LATENCY_OBJECTIVE
from search.pareto import pareto_front
from search.records import CONFIRM, OK, SEARCH, STOPPED, TrialRecord, phase_records
from search.statistics import (Estimate, FrontOdds, Noise, PointSummary, Spread, campaign_noise, noise_spread,
                               resolvable_difference, seeds_to_resolve, summarise, with_p_front)
from search.racing import EQUAL, RACE_SEED, RaceSettings, race, race_rules, seeds_to_settle
from search.ablation import change_label
from search.proxies import BASELINES, ProxyRating
from search.verdicts import Experiment, Verdict, adjusted, all_pairs, equal_within, many_to_one
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
    narrow_hidden: tuple[str, ...] = ()  # columns a narrow terminal leaves out (search.render)


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
            "p_best": _probability(summary.p_best),
            "test_err_%": interval_text(summary.test),
            **{name: OBJECTIVES[name].show(getattr(summary.cost, name))
               for name in ("gmacs", "params_m", "latency_ms")}}


def _probability(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


FRONT_COLUMNS = ("campaign", "point", "id", "seeds", "val_err_%", "p_front", "p_best", "test_err_%", "gmacs",
                 "params_m")


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


@dataclass(frozen=True)
class Judging:
    """How a report judges: its families' adjustment, the control, the equivalence margin and
    the cost tolerances (the last two from the spec's ``report:`` section)."""

    adjust: str = "holm"  # search.verdicts.ADJUSTMENTS
    control: str | None = None  # an anchor's name; None: the baseline anchor, when there is one
    margin: float | None = None  # equivalence margin, a fraction of error
    tolerance: Mapping[str, float] | None = None  # cost tolerances overriding the registry's
    race: RaceSettings | None = None  # a raced confirmation: its verdicts are the race's
    around: str | None = None  # an ablation's anchor (search.ablation): the report adds its table
    changed: Mapping[str, str] | None = None  # an ablation's point id -> the knob it changes

    @property
    def tolerances(self) -> dict[str, float]:
        return cost_tolerances(self.tolerance)


def campaign_judging(directory: str | Path, adjust: str = "holm", control: str | None = None) -> Judging:
    """A campaign's `Judging`: ``adjust`` and ``control`` from the command line, the rest from its spec."""
    from gespace.grammar import load_space

    store = CampaignStore(directory)
    options = load_space(store.spec_path).report
    margin = options.equivalence_pp / 100 if options.equivalence_pp else None
    settings = store.settings()
    race = (race_rules(settings.get("race_delta"), options.equivalence_pp, settings.get("race_rounds"),
                       settings.get("race_budget"), settings.get("race_hours"), settings.get("cpus_per_trial", 1.0))
            if settings.get("race") else None)
    around = settings.get("around") if settings.get("searcher") == "ablation" else None
    changed = None
    if around:
        from search.ablation import one_knob_changes
        from search.settings import CampaignSettings

        changed = {c.id: c.knob for c in one_knob_changes(load_space(store.spec_path), around, settings.get("knobs"),
                                                          CampaignSettings(**settings).overrides())}
    return Judging(adjust, control, margin, options.cost_tolerance or None, race, around, changed)


def _tolerance_note(objectives: Sequence[str], judging: Judging) -> str | None:
    costs = [f"{name} within {100 * judging.tolerances[name]:g}%" for name in objectives
             if judging.tolerances[name] > 0]
    if not costs:
        return None
    return ("Costs count as equal in dominance when " + ", ".join(costs) + " of each other (report.cost_tolerance "
            "in the spec overrides): a cheaper point must be cheaper by more than that to dominate.")


def _images_note(summaries: Sequence[PointSummary]) -> str:
    """What the intervals count: seeds and images where the records carry per-image bits."""
    counted = sum(s.error.images for s in summaries)
    if not counted:
        return ("Intervals count seeds only: these records carry no per-image bits (written before record "
                "schema 3), or no point has them under three seeds (fewer cannot measure the seeds' share).")
    return (f"Intervals of {counted} of {len(summaries)} points count seeds and images (two-way random model "
            "over the runs' per-image bits, search/components.py); the others, with fewer than three seeds or "
            "records without bits, count seeds only.")


def front_section(campaign: str, summaries: list[PointSummary], noise: Noise, odds: FrontOdds,
                  objectives: Sequence[str], judging: Judging, title: str, columns: Sequence[str],
                  csv_name: str | None, label: Callable[[PointSummary], str]) -> Section:
    """The points on the front of the means or likely on it, by cost."""
    on_front = {s.id for s in pareto_front(summaries, objectives, judging.tolerance)}
    rows = [s for s in summaries if s.id in on_front or (s.p_front or 0) >= LIKELY]
    rows.sort(key=lambda s: tuple(s.objective(o) for o in list(objectives[1:]) + [objectives[0]]))
    notes = [_noise_note(noise)] + _spread_notes(noise, noise_spread({s.id: s.errors for s in summaries}))
    if odds.draws:
        notes.append(f"p_front and p_best (the probability of the lowest validation error) come from "
                     f"{odds.draws:,} joint draws of the blocked model (one sigma a draw, seed effects shared by "
                     f"the points that share seeds); Monte Carlo standard error at most "
                     f"{odds.monte_carlo_error:.4f}.")
    tolerance = _tolerance_note(objectives, judging)
    if tolerance:
        notes.append(tolerance)
    if noise.known and any(s.single_seed for s in rows):
        notes.append(SINGLE_SEED_NOTE)
    notes.append(_images_note(summaries))
    return Section(title, columns, [_summary_row(campaign, s, label) for s in rows], notes, csv_name,
                   tuple(c for c in ("params_m", "gmacs") if c not in objectives))


COMPARISON_COLUMNS = ("campaign", "point", "reference", "seeds", "diff_pp", "p", "p_adj", "verdict", "by",
                      "check_p")
COMPARISON_NARROW_HIDDEN = ("seeds", "p", "by", "check_p")


STOPPED_COLUMNS = ("campaign", "point", "id", "seed", "epochs", "val_err_%")


def _p_text(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}" if value >= 0.001 else "<0.001"


def verdict_row(campaign: str, verdict: Verdict, names: Mapping[str, str], runs: Mapping[str, Mapping]) -> dict[str, str]:
    """A comparison's row: the difference in pp with the interval its verdict reads, raw and adjusted
    p, the verdict, the procedure and test that made it, and the plain paired t beside it."""
    test = verdict.test
    seeds = (str(len(test.seeds)) if test.seeds
             else f"{len(runs[test.point])} vs {len(runs[test.reference])}")
    difference = f"{100 * test.estimate:+.2f}"
    if verdict.interval:
        difference += f" [{100 * verdict.interval[0]:+.2f}, {100 * verdict.interval[1]:+.2f}]"
    return {"campaign": campaign, "point": names[test.point], "reference": names[test.reference], "seeds": seeds,
            "diff_pp": difference, "p": _p_text(test.p), "p_adj": _p_text(verdict.p_adjusted),
            "verdict": verdict.verdict, "by": f"{verdict.procedure}; {test.method}", "check_p": _p_text(test.check_p)}


def _family_notes(verdicts: Sequence[Verdict], family: str, experiment: Experiment, metric: str) -> list[str]:
    if not verdicts:
        return []
    procedures = sorted({v.procedure for v in verdicts})
    resolved = sum(v.resolved for v in verdicts)
    fit = experiment.fit
    notes = [f"{resolved} of {len(verdicts)} comparisons resolved ({family}; verdicts by {', '.join(procedures)}), on "
             f"{metric}. diff_pp: point minus reference in percentage points (negative: lower error) with the "
             "interval the verdict reads (clear of 0: resolved; inside the equivalence margin: equal); p raw, "
             "p_adj adjusted for the family; check_p: the plain paired t over common seeds (Welch without two), "
             "raw, as a check on the model. Seeds 'n vs m': no seed in common."]
    if fit.known:
        notes.append(f"Blocked model (point + seed): residual SD {100 * fit.sigma:.2f} pp on {fit.df} df; "
                     "points that share no seed are compared by Welch's t on their own runs.")
    if not experiment.equal_variances:
        notes.append(f"The points' variances differ (Brown-Forsythe p = {experiment.p_equal_variances:.3f}): "
                     "each pair is judged on its own runs (paired t, else Welch), not the pooled variance.")
    image_wise = sum(v.test.method == "images and seeds" for v in verdicts)
    if image_wise:
        notes.append(f"{image_wise} of {len(verdicts)} comparisons are image by image over their common seeds "
                     "(both points' records carry per-image bits): McNemar's difference per seed, combined over "
                     "seeds by random effects, counts the test set's own noise and pairs the images "
                     "(search/components.py).")
    if any("in place of" in p for p in procedures):
        notes.append("Dunnett and Tukey need every pair on the one blocked model: where pairs share no seed, the "
                     "variances differ or the pairs are compared image by image, the family is adjusted by "
                     "--adjust instead, and the rows say so.")
    return notes


def comparison_section(campaign: str, experiment: Experiment, points: Sequence[str], references: Sequence[str],
                       judging: Judging, names: Mapping[str, str], metric: str, title: str,
                       columns: Sequence[str], csv_name: str | None) -> Section:
    """Each of ``points`` minus each of ``references``: one family, adjusted by ``judging.adjust``."""
    tests = [experiment.pair(p, r) for p in points for r in references if p != r]
    verdicts = adjusted(tests, judging.adjust, judging.margin)
    rows = [verdict_row(campaign, v, names, experiment.runs) for v in verdicts]
    family = "one family: every point against every reference"
    return Section(title, columns, rows, _family_notes(verdicts, family, experiment, metric), csv_name,
                   COMPARISON_NARROW_HIDDEN)


def control_section(campaign: str, experiment: Experiment, control: str, points: Sequence[str], judging: Judging,
                    names: Mapping[str, str], metric: str, title: str, columns: Sequence[str]) -> Section:
    """Every other anchor and front point against the control: Dunnett's many-to-one family."""
    verdicts = many_to_one(experiment, control, [p for p in points if p != control], judging.margin,
                           fallback=judging.adjust)
    rows = [verdict_row(campaign, v, names, experiment.runs) for v in verdicts]
    return Section(title, columns, rows,
                   _family_notes(verdicts, f"each against {names[control]}", experiment, metric), None,
                   COMPARISON_NARROW_HIDDEN)


def anchor_pairs_section(campaign: str, experiment: Experiment, anchors: Sequence[str], judging: Judging,
                         names: Mapping[str, str], metric: str, title: str, columns: Sequence[str]) -> Section:
    """Every pair of anchors: Tukey's HSD, after the omnibus F test that they differ at all."""
    verdicts = all_pairs(experiment, anchors, judging.margin, fallback=judging.adjust)
    rows = [verdict_row(campaign, v, names, experiment.runs) for v in verdicts]
    notes = _family_notes(verdicts, f"all {len(verdicts)} pairs of anchors", experiment, metric)
    omnibus = experiment.omnibus(anchors)
    if omnibus is not None:
        notes.insert(0, f"Omnibus F test that the {len(anchors)} anchors share one {metric}: p = {omnibus:.3f}"
                     + (" (no evidence that any differs)." if omnibus >= 0.05 else "."))
    return Section(title, columns, rows, notes, None, COMPARISON_NARROW_HIDDEN)


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


ABLATION_COLUMNS = ("campaign", "change", "seeds", "test_err_%", "diff_pp", "p_adj", "verdict", "val_err_%", "gmacs",
                    "params_m", "latency_ms")


def ablation_section(campaign: str, summaries: Sequence[PointSummary], records: Sequence[TrialRecord],
                     judging: Judging, names: Mapping[str, str], title: str, columns: Sequence[str]) -> Section | None:
    """An ablation in the layout of the paper's Tables 1-2: the anchor, then one row per one-knob
    change with its error, its difference from the anchor (Dunnett's family over the changes, on
    test error, which nothing selected on) and its costs."""
    center = next((s for s in summaries if s.name == judging.around), None)
    if center is None:
        return None
    on_test = all(s.tests for s in summaries)
    experiment = Experiment({s.id: (s.tests if on_test else s.errors) for s in summaries},
                            bits={s.id: s.bits["test" if on_test else "val"] for s in summaries})
    changes = [s for s in summaries if s.id != center.id]
    raced = judging.race is not None
    if raced:  # the race's own bounds, at the look that settled each change (or the last), replayed as the
        # campaign ran it: on every record (a failed run is a unit done) and every change, trained or not
        race_points = [center.id, *[pid for pid in judging.changed or {} if pid != center.id]]
        state = race(race_points, {}, records, judging.race, control=center.id)
        verdicts = {}
        for s in changes:
            look = next((lk for lk in state.looks if s.id in lk.settled), state.looks[-1] if state.looks else None)
            found = next((v for v in look.verdicts if v.test.point == s.id), None) if look else None
            if found is not None:
                status = state.status[s.id]
                verdicts[s.id] = replace(found, verdict=equal_within(judging.race.delta)
                                         if status == EQUAL else status)
    else:
        verdicts = {v.test.point: v for v in many_to_one(experiment, center.id, [s.id for s in changes],
                                                         judging.margin, fallback=judging.adjust)}
    rows = []
    for summary in [center, *changes]:
        row = {**_summary_row(campaign, summary, lambda s: names[s.id]), "diff_pp": "", "p_adj": "", "verdict": ""}
        label = change_label(center.point, summary.point, (judging.changed or {}).get(summary.id))
        row["change"] = (f"{names[center.id]} (the anchor)" if summary is center
                         else label + (f" = {names[summary.id]}" if summary.name else ""))
        verdict = verdicts.get(summary.id)
        if verdict is not None:
            row.update(diff_pp=verdict_row(campaign, verdict, names, experiment.runs)["diff_pp"],
                       p_adj=_p_text(verdict.p_adjusted), verdict=verdict.verdict)
        rows.append(row)
    metric = "test error" if on_test else "validation error (these records have no test error)"
    notes = [f"One row per one-knob change of {names[center.id]}, each under the same seeds (search/ablation.py). "
             f"diff_pp: the change minus the anchor on {metric}, in percentage points (negative: the change "
             "lowers the error), with the interval its verdict reads: " +
             (f"raced against the anchor, a seed a round ({len(state.looks)} look"
              f"{'' if len(state.looks) == 1 else 's'}): each change's two-sided interval spends "
              f"{judging.race.alpha:.0%}/(2 x {len(changes)}) a side over the declared looks by Pocock's boundary, so "
              f"the chance that any settlement is wrong is at most {judging.race.alpha:.0%} (search/racing.py); "
              "open: not settled yet."
              if raced else ", ".join(sorted({v.procedure for v in verdicts.values()})) + " over the changes.")]
    fit = experiment.fit
    if fit.known:
        notes.append(f"Blocked model (point + seed): residual SD {100 * fit.sigma:.2f} pp on {fit.df} df.")
    return Section(title, columns, rows, notes, "ablation.csv", ("seeds", "p_adj", "val_err_%"))


def stopped_section(campaign: str, records: list[TrialRecord], columns: Sequence[str],
                    label: Callable[[TrialRecord], str]) -> Section:
    rows = [{"campaign": campaign, "point": label(r), "id": r.id, "seed": str(r.seed),
             "epochs": f"{r.epochs_done}/{r.budget}" if r.budget else str(r.epochs_done),
             "val_err_%": _percent(r.val_error)} for r in records if r.status == STOPPED]
    return Section("Stopped early by the scheduler (lower fidelity: not ranked)", columns, rows)


RACE_COLUMNS = ("campaign", "point", "status", "race_seeds", "settled_at", "decided_by", "diff_pp")


def race_section(campaign: str, summaries: list[PointSummary], records: list[TrialRecord], judging: Judging,
                 names: Mapping[str, str], objectives: Sequence[str], title: str,
                 columns: Sequence[str]) -> Section:
    """A raced confirmation: each point's status with the comparison that settled it (or, open, the
    one furthest from settling, with about the seeds it would take), at the race's own level."""
    rules = judging.race
    points = [s.id for s in summaries]
    costs = {s.id: {o: s.objective(o) for o in objectives[1:]} for s in summaries}
    state = race(points, costs, records, rules, judging.tolerance)
    seeds = {p: sum(1 for r in records if r.id == p and r.seed is not None and r.seed >= RACE_SEED) for p in points}
    rows = []
    for p in points:
        status, look = state.status[p], next((k for k, lk in enumerate(state.looks) if p in lk.settled), None)
        verdicts = [v for lk in state.looks[-1:] if p in lk.trained for v in lk.verdicts if v.test.reference == p]
        if look is not None:
            verdicts = [v for v in state.looks[look].verdicts if v.test.reference == p]
        decisive = _decisive(verdicts, status, rules.delta)
        difference = ""
        if decisive is not None and decisive.interval is not None:
            low, high = decisive.interval
            difference = f"{100 * decisive.test.estimate:+.2f} [{100 * low:+.2f}, {100 * high:+.2f}]"
        rows.append({"campaign": campaign, "point": names[p], "status": status, "race_seeds": str(seeds[p]),
                     "settled_at": f"look {look + 1}" if look is not None else "",
                     "decided_by": _decided_by(decisive, status, rules.delta, names), "diff_pp": difference})
    ends = {"settled": "ended: every point is settled", "rounds": f"ended: its {rules.rounds} declared rounds are used",
            "budget": "ended: the next round would pass its budget of " + " or ".join(
                ([f"{rules.budget} race runs"] if rules.budget is not None else [])
                + ([f"{rules.hours:g} core-hours"] if rules.hours is not None else [])),
            None: f"goes on: the next round trains {len(state.next_units)} runs (seed {state.next_units[0][1]})"
            if state.next_units else "goes on"}
    level = (f"lower bounds one-sided at {state.looks[-1].level:.2g} at every look" if state.looks
             else f"the first look comes after round {rules.first_look}")
    rounds = rules.look_rounds
    notes = [f"{len(state.looks)} look{'' if len(state.looks) == 1 else 's'}, {state.runs} race runs (seeds from "
             f"{RACE_SEED}); the race {ends[state.end]}. "
             f"Judged on {'test' if rules.metric == 'test' else 'validation'} error with an indifference margin of "
             f"{100 * rules.delta:g} pp: off the front once a point of no greater cost is resolved better; on once "
             "every such point is shown not better by more than the margin (search/racing.py).",
             f"Intervals: each of the {len(points)} points has {rules.alpha:.0%}/{len(points)} to spend over the "
             f"{len(rounds)} declared looks (after rounds {rounds[0]}-{rounds[-1]}) by Pocock's group-sequential "
             "boundary (search/sequential.py): a lower bound spends the point's share whole, an upper bound that "
             f"share over the point's competitors ({level}), so the chance that the race settles anything wrongly "
             f"is at most {rules.alpha:.0%}; fixed-n intervals would be too narrow once runs can stop. Settled "
             "points train on while an open point waits on a comparison with them. diff_pp: the decisive competitor "
             "minus the point."]
    return Section(title, columns, rows, notes, "confirmed-comparisons.csv", ("race_seeds",))


def _decisive(verdicts: list[Verdict], status: str, delta: float) -> Verdict | None:
    """The comparison that settled the point (off: the first resolved better; on: the closest to
    the margin), or for an open one the comparison furthest from settling."""
    usable = [v for v in verdicts if v.interval is not None]
    if not usable:
        return None
    if status == "off":
        return next(v for v in usable if v.interval[1] < 0)
    if status == "on":  # the closest to the margin among those this look cleared (others cleared earlier)
        return min([v for v in usable if v.interval[0] > -delta] or usable, key=lambda v: v.interval[0])
    return max(usable, key=lambda v: seeds_to_settle(v, delta) or 0)


def _decided_by(verdict: Verdict | None, status: str, delta: float, names: Mapping[str, str]) -> str:
    if verdict is None:
        return "no competitor of no greater cost" if status == "on" else ""
    other = names[verdict.test.point]
    if status == "off":
        return f"{other} resolved better"
    if status == "on":
        return f"no point of no greater cost better by more than {100 * delta:g} pp (closest: {other})"
    needed = seeds_to_settle(verdict, delta)
    return f"open against {other}: about {needed} seeds would settle it" if needed else f"open against {other}"


def _control(summaries: Sequence[PointSummary], judging: Judging) -> PointSummary | None:
    """The control anchor: ``judging.control`` (ValueError naming the anchors when it is none of
    them), else the one named baseline."""
    anchors = {s.name: s for s in summaries if s.name}
    if judging.control is None:
        return anchors.get("baseline")
    if judging.control not in anchors:
        raise ValueError(f"--control {judging.control!r} is not an anchor of this campaign; its anchors: "
                         + (", ".join(anchors) or "none"))
    return anchors[judging.control]


def campaign_sections(campaign: str, records: list[TrialRecord], objectives: Sequence[str], multi: bool,
                      label: Callable[[TrialRecord | PointSummary], str] | None = None,
                      judging: Judging = Judging()) -> tuple[list[Section], dict[str, list[PointSummary]]]:
    """The sections of one campaign's report, and its point summaries by phase.

    Search: the front with p_front; its points against the anchors (one family),
    every point of it and every anchor against the control (Dunnett), the anchors
    pair by pair (Tukey), on validation error; the trials stopped early.
    Confirmed (if the campaign has a confirmation phase): the front of the
    confirmation's runs and the anchors' full-budget runs, and the confirmed
    points against the anchors on test error, which nothing selected on.
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
        summaries = summarise(runs, noise)
        odds = with_p_front(summaries, objectives, tolerance=judging.tolerance)
        by_phase[phase] = summaries
        name = "Confirmed (full budget; chosen points under fresh seeds)" if phase == CONFIRM else "Pareto front (full budget)"
        columns = FRONT_COLUMNS + ((LATENCY_OBJECTIVE,) if LATENCY_OBJECTIVE in objectives else ())
        front = front_section(campaign, summaries, noise, odds, objectives, judging,
                              f"{prefix}{name}: " + " vs ".join(objectives), shown(columns),
                              "confirmed.csv" if phase == CONFIRM else "pareto.csv", label)
        front.notes += power_notes(noise, max((len(s.errors) for s in summaries if s.name), default=1))
        shown_ids = {row["id"] for row in front.rows}
        names = {s.id: anchor_label(s.name) if s.name else label(s) for s in summaries}
        anchors = [s.id for s in summaries if s.name]
        compared = [s.id for s in summaries if not s.name and (phase == CONFIRM or s.id in shown_ids)]
        columns = shown(COMPARISON_COLUMNS)
        if phase == SEARCH:
            metric = "validation error"
            experiment = Experiment({s.id: s.errors for s in summaries}, bits={s.id: s.bits["val"] for s in summaries})
            comparisons = comparison_section(
                campaign, experiment, compared, anchors, judging, names, metric,
                f"{prefix}Front points: compared with the anchors", columns, "comparisons.csv")
            comparisons.notes.append("Front points were picked by this validation error, so their differences "
                                     "lean their way (selection); a confirmation judges them on test error.")
            sections += [front, comparisons]
            control = _control(summaries, judging)
            if control is not None:
                sections.append(control_section(
                    campaign, experiment, control.id, [a for a in anchors if a != control.id] + compared,
                    judging, names, metric, f"{prefix}Against the control, {names[control.id]} (Dunnett)",
                    columns))
            if len(anchors) >= 2:
                sections.append(anchor_pairs_section(
                    campaign, experiment, anchors, judging, names, metric,
                    f"{prefix}Anchors, every pair (Tukey HSD)", columns))
            if judging.around:
                ablation = ablation_section(campaign, summaries, records, judging, names,
                                            f"{prefix}Ablation around {anchor_label(judging.around)}",
                                            shown([c for c in ABLATION_COLUMNS
                                                   if c != LATENCY_OBJECTIVE or LATENCY_OBJECTIVE in objectives]))
                sections += [ablation] if ablation else []
            sections.append(stopped_section(campaign, runs, shown(STOPPED_COLUMNS), label))
        elif judging.race is not None:
            sections += [front, race_section(campaign, summaries, records, judging, names, objectives,
                                             f"{prefix}Race: the confirmation, settled on or off the front",
                                             shown(RACE_COLUMNS))]
        else:
            on_test = all(s.tests for s in summaries)
            metric = "test error" if on_test else "validation error"
            split = "test" if on_test else "val"
            experiment = Experiment({s.id: (s.tests if on_test else s.errors) for s in summaries},
                                    bits={s.id: s.bits[split] for s in summaries})
            comparisons = comparison_section(
                campaign, experiment, compared, anchors, judging, names, metric,
                f"{prefix}Confirmed: compared with the anchors on {metric}", columns, "confirmed-comparisons.csv")
            comparisons.notes.append(
                "Judged on test error, which nothing selected on: the search and the choice of what to confirm "
                "read validation error, so the validation columns of the confirmed table are descriptive."
                if on_test else "Judged on validation error: these records have no test error, and validation "
                "error selected these points, so the differences lean their way.")
            sections += [front, comparisons]
    return sections, by_phase


DECISION_COLUMNS = ("campaign", "rung", "mode", "results", "places", "promoted", "unranked", "error_tie_pp",
                    "cost_tolerance")


def decisions_section(campaign: str, decisions: list[dict], records: list[TrialRecord],
                      label: Callable[[TrialRecord], str], multi: bool) -> Section:
    """The successive-halving scheduler's decisions (its audit trail, decisions.jsonl): per rung
    and moment, how many results it ranked, how many places it had, what it promoted, what had no
    error to rank, and the tolerances that made ties."""
    title = (f"{campaign}: " if multi else "") + "Scheduler decisions (successive halving)"
    names = {r.id: label(r) for r in records}
    rows, seen = [], set()
    for d in decisions:
        key = (d["rung"], d.get("complete"), json.dumps(d["promoted"]), d.get("results"))
        if key in seen or not (d["promoted"] or d.get("complete")):  # a resumed campaign repeats a rung's close
            continue
        seen.add(key)
        tie = d.get("error_tolerance") or {}
        rows.append({"campaign": campaign, "rung": str(d["rung"]),
                     "mode": d.get("mode", "") + (", complete" if d.get("complete") else ""),
                     "results": str(d.get("results", len(d["ranking"]))), "places": str(d.get("places", "")),
                     "promoted": "; ".join(f"{names.get(pid, pid)} (seed {seed})" for pid, seed in d["promoted"])
                                 or "none",
                     "unranked": "; ".join(f"{names.get(pid, pid)} (seed {seed})" for pid, seed in d.get("unranked", [])),
                     "error_tie_pp": (f"{100 * tie['same seed']:.2f} same seed, {100 * tie['across seeds']:.2f} across"
                                      if tie else ""),
                     "cost_tolerance": ", ".join(f"{o} {100 * t:g}%" for o, t in (d.get("cost_tolerance") or {}).items())})
    notes = ["Each rung ranks its searched (point, seed) units by non-dominated sorting of (error at the rung, "
             "costs), errors within the seed noise of their difference and costs within their tolerance counting "
             "as equal, then by error within a front; a unit without an error (diverged, failed) ranks last and is "
             "never promoted. Synchronous: ceil(n/3) of a complete rung; asynchronous: at most floor(n/3) of the n "
             "results so far. decisions.jsonl in the campaign directory keeps every ranking."] if rows else []
    return Section(title, DECISION_COLUMNS if multi else DECISION_COLUMNS[1:], rows, notes, None,
                   ("results", "places", "error_tie_pp", "cost_tolerance"))


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


def calibration_section(campaign: str, result: Calibration | None, budget: int, multi: bool,
                        proxies: ProxyRating | None = None) -> Section:
    """How well each epoch's ranking of the calibration cohort predicts its full-budget ranking: across
    seeds (what --grace auto reads), with the same run's figure beside it."""
    title = (f"{campaign}: " if multi else "") + "Fidelity calibration: epoch ranking vs full budget"
    columns = ("epoch", "points", "spearman across seeds [95% CI]", "kendall across seeds [95% CI]",
               "spearman same run")
    if result is None:
        return Section(title, columns, [], ["No calibration cohort with 4 points under 2 seeds or more "
                                            "(--calibrate N)."])
    same_run = {c.epoch: c.spearman for c in result.same_seed}
    rows = [{"epoch": str(c.epoch), "points": str(c.points),
             "spearman across seeds [95% CI]": _correlation_text(c.spearman, c.spearman_interval),
             "kendall across seeds [95% CI]": _correlation_text(c.kendall, c.kendall_interval),
             "spearman same run": f"{same_run[c.epoch]:.2f}" if c.epoch in same_run else ""} for c in result.epochs]
    c = result.ceiling
    rows.append({"epoch": f"ceiling: seed vs seed at {budget}", "points": str(c.points),
                 "spearman across seeds [95% CI]": _correlation_text(c.spearman, c.spearman_interval),
                 "kendall across seeds [95% CI]": _correlation_text(c.kendall, c.kendall_interval),
                 "spearman same run": ""})
    for name, c in (proxies.proxies.items() if proxies else ()):
        rows.append({"epoch": f"at init: {name}" if name not in BASELINES else f"cost: {name}", "points": str(c.points),
                     "spearman across seeds [95% CI]": _correlation_text(c.spearman, c.spearman_interval),
                     "kendall across seeds [95% CI]": _correlation_text(c.kendall, c.kendall_interval),
                     "spearman same run": ""})
    trusted = first_trusted_epoch(result)
    notes = ["Epoch k under one seed against the full budget under another (`search.calibration`): within one "
             "run the two share the run's seed effect, which inflates the same-run figure (shown, never used).",
             f"First epoch whose cross-seed Spearman interval clears {TRUSTED}: "
             + (f"{trusted} (what --grace auto uses)." if trusted else "none (--grace auto stops nothing).")]
    if proxies:
        notes.append("At init: zero-cost proxies scored on each network before training, under one seed, against "
                     "the full budget under another (search/proxies.py); cost: parameter count and MACs, the baselines "
                     "a proxy must beat. Trusted for --prefilter: "
                     + (", ".join(n for n in proxies.proxies if proxies.trusted(n) and n not in BASELINES) or "none")
                     + ".")
        notes += [f"Warning: {w}." for w in proxies.warnings]
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
    if record.band and record.band[-1][0] == record.trials[-1]:
        _, low, high = record.band[-1]
        notes.append(f"The points' seed noise alone moves the last value within [{low:.4f}, {high:.4f}] (95% of "
                     "200 draws of their mean errors, each within its standard error): steps smaller than that "
                     "are noise, not progress (hypervolume.png shades the band).")
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
