"""`gespace export optuna CAMPAIGN`: a campaign as an Optuna study, for `optuna-dashboard`.

One trial per point (a design), not per (point, seed): the dashboard's Pareto
front, parallel coordinates and importance are about designs, and a design's
seeds are repeated measurements of one value, not separate designs (as trials
they would crowd the front with copies and weight a design by its seed count).
Each trial's values are the campaign's objectives, the error the mean over the
point's full-budget seeds; its user attributes keep every seed's validation and
test error, the seeds, the anchor name and the point id. Knobs are categorical
parameters (their values as text: a stage list is not an Optuna category); a
knob inactive for a point is absent from its trial, as in a define-by-run
study. Points that never reached the full budget are left out (their errors
are of another fidelity). The study is written to a journal file, which
``optuna-dashboard FILE`` opens.
"""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from statistics import mean
from typing import Any

from gespace.cli import UserError
from gespace.grammar import Space
from search.effects import INACTIVE, level_of, varied_knobs
from search.records import TrialRecord
from search.store import open_campaign


def add_export_parser(subparsers: argparse._SubParsersAction) -> None:
    export = subparsers.add_parser("export", help="a campaign in another tool's format")
    formats = export.add_subparsers(dest="format", required=True, metavar="FORMAT")
    parser = formats.add_parser("optuna", help="an Optuna study (journal file) for optuna-dashboard: one trial "
                                               "per point, its seeds as user attributes")
    parser.add_argument("directory", metavar="CAMPAIGN")
    parser.add_argument("--out", help="the journal file (default: CAMPAIGN/optuna.journal)")
    parser.set_defaults(handler=cmd_export_optuna)


def cmd_export_optuna(args: argparse.Namespace) -> int:
    store, settings, space, records = open_campaign(args.directory)
    out = Path(args.out) if args.out else store.directory / "optuna.journal"
    if out.exists():
        raise UserError(f"{out} exists: give another --out (a journal is appended to, never rewritten)")
    trials = export_study(space, records, settings.get("objectives", ["val_error", "gmacs"]),
                          settings.get("name") or store.directory.name, out)
    print(f"{out}: {trials} trials (one per point at the full budget); view with: optuna-dashboard {out}")
    return 0


def export_study(space: Space, records: list[TrialRecord], objectives: list[str], name: str, path: Path) -> int:
    """Write the study (module doc) to a journal at ``path``; the number of trials."""
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    by_point: dict[str, list[TrialRecord]] = {}
    for record in records:
        if record.trained_fully:
            by_point.setdefault(record.id, []).append(record)
    knobs = varied_knobs(space)
    choices = {k: sorted({level_of(space, k, space.canonical_values(runs[0].point)) for runs in by_point.values()}
                         - {INACTIVE}) for k in knobs}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path.parent.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(study_name=name, directions=["minimize"] * len(objectives),
                                storage=JournalStorage(JournalFileBackend(str(path))))
    with warnings.catch_warnings():  # experimental since Optuna 3.2; the dashboard reads the names
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(objectives))
    for pid, runs in by_point.items():
        point = space.canonical_values(runs[0].point)
        params = {k: level_of(space, k, point) for k in knobs if choices[k]}
        params = {k: v for k, v in params.items() if v != INACTIVE}
        values = [mean(r.val_error for r in runs) if o == "val_error" else runs[0].objective(o) for o in objectives]
        if any(v is None for v in values):
            continue
        attributes: dict[str, Any] = {
            "point_id": pid, "anchor": runs[0].name or "", "seeds": [r.seed for r in runs],
            "val_errors": [r.val_error for r in runs], "test_errors": [r.test_error for r in runs]}
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions={k: CategoricalDistribution(choices[k]) for k in params},
            values=values, user_attrs=attributes))
    return len(study.trials)
