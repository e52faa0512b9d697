"""`gespace analyze effects`: what each knob value does to error and cost (search.effects)."""
from __future__ import annotations

import argparse
from pathlib import Path

from gespace.cli import UserError

from search.effects import Effects, knob_effects
from search.render import csv_text, print_section, report_console, section_markdown
from search.sections import Section
from search.store import open_campaign

METRICS = {"val": "val_error", "test": "test_error"}
COLUMNS = ("knob", "level", "reference", "points", "diff_pp", "p_adj", "verdict", "gmacs_%", "params_m_%")


def add_effects_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("effects", help="each knob value against the space's default: effects on error "
                                                 "(with adjusted intervals) and on cost, from one linear model")
    parser.add_argument("directory", metavar="CAMPAIGN", help="a campaign directory")
    parser.add_argument("--metric", choices=METRICS, default="val",
                        help="validation error (default) or test error")
    parser.add_argument("--out", help="where effects.csv and effects.md go (default: not written)")
    parser.set_defaults(handler=cmd_effects)


def cmd_effects(args: argparse.Namespace) -> int:
    _, settings, space, records = open_campaign(args.directory)
    margin = space.report.equivalence_pp / 100 if space.report.equivalence_pp else None
    try:
        effects = knob_effects(space, records, METRICS[args.metric], margin=margin,
                               searcher=settings.get("searcher", "random"),
                               scheduler=settings.get("scheduler", "none"), raced=bool(settings.get("race")))
    except ValueError as error:
        raise UserError(f"{args.directory}: {error}") from None
    if not effects.levels:
        raise UserError(f"{args.directory}: no knob varies among its full-budget runs; nothing to compare")
    section = Section(f"Knob effects on {effects.metric.replace('_', ' ')}", COLUMNS, effect_rows(effects),
                      effects_notes(effects), "effects.csv", ("reference", "p_adj", "params_m_%"))
    print_section(section, report_console())
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "effects.csv").write_text(csv_text(section.rows, section.columns))
        (out / "effects.md").write_text(section_markdown(section))
    return 0


def effect_rows(effects: Effects) -> list[dict[str, str]]:
    rows = []
    for e in effects.levels:
        verdict = e.verdict
        difference = f"{100 * verdict.test.estimate:+.2f}"
        if verdict.interval:
            difference += f" [{100 * verdict.interval[0]:+.2f}, {100 * verdict.interval[1]:+.2f}]"
        rows.append({"knob": e.knob, "level": e.level, "reference": e.reference, "points": str(e.points),
                     "diff_pp": difference,
                     "p_adj": "" if verdict.p_adjusted is None else f"{verdict.p_adjusted:.3f}",
                     "verdict": verdict.verdict,
                     "gmacs_%": f"{e.costs['gmacs']:+.2f}" if "gmacs" in e.costs else "",
                     "params_m_%": f"{e.costs['params_m']:+.2f}" if "params_m" in e.costs else ""})
    return rows


def effects_notes(effects: Effects) -> list[str]:
    references = ", ".join(f"{k}={level}" + ("" if default else " (its commonest level: no run holds the default)")
                           for k, (level, default) in effects.references.items())
    if effects.between_points:
        error = (f"the error is the point means' scatter about the model (SD {100 * effects.sigma:.2f} pp, "
                 f"{effects.df} df): a point's seeds repeat one design")
        if effects.lack_of_fit:
            lof = effects.lack_of_fit
            error += (f"; against the seeds' scatter the points depart from additivity by F = {lof.f:.2f} "
                      f"({lof.df}, {lof.df_seeds} df), p = {lof.p:.3f}")
    else:
        error = (f"the model fits every point, so the error is the seeds' scatter about the points "
                 f"(SD {100 * effects.sigma:.2f} pp, {effects.df} df)")
    notes = [f"One linear model over {effects.runs} full-budget runs of {effects.points} points: each knob a factor "
             "against its reference level, 'inactive' a level of its own, seeds as blocks; " + error + ". "
             "diff_pp: the level minus the reference with the other knobs at their references (" + references
             + "); its interval is at the level Holm's step over the knob's levels gives it (it agrees with the "
             "verdict; Holm within a knob, not across knobs); cost columns: the same model on log cost, in "
             "percent (search/effects.py)."]
    if effects.unseparable:
        notes.append("Not separable from other levels in these runs (left out): " + ", ".join(effects.unseparable))
    if effects.interactions:
        how = ("each given every other pair's" if effects.jointly else "one pair at a time, the joint model having "
               "no residual df: an interaction may stand in for another it travels with")
        notes.append(f"Interactions (F test of the pair's product terms, {how}; Holm over the pairs tested): " + "; ".join(
            f"{i.knob} x {i.other}: p = {i.p:.3f}, adjusted {i.p_adjusted:.3f} ({i.df} df"
            + ("" if i.against_points else "; against the seeds' scatter") + ")"
            for i in effects.interactions) + f"; {effects.untested_pairs} pairs the data cannot test.")
        if not all(i.against_points for i in effects.interactions):
            notes.append("Against the seeds' scatter: the model with the pair fits every point, so a point's own "
                         "departure from additivity cannot be told from the interaction.")
    elif effects.untested_pairs:
        notes.append(f"Interactions: none of the {effects.untested_pairs} pairs of knobs can be tested on these runs.")
    if effects.importance:
        ranked = sorted(effects.importance.items(), key=lambda item: (-round(item[1], 2), item[0]))  # as printed
        notes.append("PED-ANOVA importance (Optuna, one trial per point; a cross-check without seeds or "
                     "intervals): " + ", ".join(f"{k} {v:.2f}" for k, v in ranked if v > 0))
    notes += [f"Caveat: {c}." for c in effects.caveats]
    return notes
