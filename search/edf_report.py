"""`gespace analyze edf`: error EDFs of campaigns, or of sub-spaces split by a knob."""
from __future__ import annotations

import argparse
from itertools import combinations
from pathlib import Path

from rich.console import Console
from rich.table import Table

from gespace.cli import UserError
from search.records import FAILED, OK, REJECTED, SEARCH, TrialRecord
from search.sections import load_campaigns
from search.store import StoreError


def add_edf_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("edf", help="error EDFs of campaigns or of sub-spaces split by a knob")
    parser.add_argument("directories", nargs="+", metavar="DIR", help="campaign directories")
    parser.add_argument("--by", metavar="KNOB", help="split the trials by this knob, e.g. ge.gather.op")
    parser.add_argument("--normalise-cost", action="store_true",
                        help="reweight each group to the pooled GMACs distribution")
    parser.add_argument("--epoch", type=int, metavar="K",
                        help="compare every trial that reached epoch K (early-stopped ones included) by its "
                             "validation error there, instead of the fully trained ones at the end")
    parser.add_argument("--sampled", action="store_true",
                        help="the search's sampled designs only: leave out the anchors, the calibration "
                             "cohort and the confirmation's repeats")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the bands")
    parser.add_argument("--out", default=".", help="where edf.png and edf.csv go (default: here)")
    parser.set_defaults(handler=cmd_edf)


def error_at(record: TrialRecord, epoch: int | None) -> float | None:
    """The validation error a record is compared by: at ``epoch`` (None if it never got there, or
    failed), else at the end of a fully trained trial."""
    if epoch is None:
        return record.val_error if record.status == OK else None
    if record.status in (FAILED, REJECTED):
        return None
    return next((e.get("val_error") for e in record.epochs if e["epoch"] == epoch), None)


def groups_of(campaigns: list[tuple[str, list[TrialRecord]]], by: str | None, *, epoch: int | None = None,
              sampled: bool = False) -> dict[str, list[tuple[TrialRecord, float]]]:
    """(trial, its error) grouped by campaign, or by the value of knob ``by`` ('-' where inactive)."""
    groups: dict[str, list[tuple[TrialRecord, float]]] = {}
    for name, records in campaigns:
        for record in records:
            error = error_at(record, epoch)
            if error is None or (sampled and (record.name or record.calibration or record.phase != SEARCH)):
                continue
            value = record.point.get(by, "-") if by else name
            if isinstance(value, (list, tuple)):
                value = ",".join(str(v) for v in value) or "none"
            label = f"{by.rsplit('.', 1)[-1]}={value}" if by else name
            groups.setdefault(label, []).append((record, error))
    return groups


def cmd_edf(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gespace.analysis.edf import edf_curves, ks_statistic

    try:
        campaigns = load_campaigns(args.directories)
    except StoreError as error:
        raise UserError(str(error)) from None
    groups = groups_of(campaigns, args.by, epoch=args.epoch, sampled=args.sampled)
    if len(groups) < 1 or any(len(g) < 2 for g in groups.values()):
        sizes = ", ".join(f"{k}: {len(v)}" for k, v in groups.items()) or "none"
        which = f"trials that reached epoch {args.epoch}" if args.epoch else "fully trained trials"
        raise UserError(f"an EDF needs at least 2 {which} per group ({sizes})")
    errors = {label: [error for _, error in members] for label, members in groups.items()}
    costs = ({label: [r.cost.gmacs for r, _ in members] for label, members in groups.items()}
             if args.normalise_cost else None)
    curves = edf_curves(errors, costs=costs, samples=args.bootstrap)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figure, axis = plt.subplots(figsize=(5.5, 4))
    for curve in curves:
        line, = axis.plot(100 * curve.grid, curve.edf, label=f"{curve.label} (n={curve.count})")
        axis.fill_between(100 * curve.grid, curve.low, curve.high, color=line.get_color(), alpha=0.2)
    axis.set_xlabel("validation error (%)" + (f" at epoch {args.epoch}" if args.epoch else ""))
    axis.set_ylabel("cumulative prob." + (" (cost-normalised)" if args.normalise_cost else ""))
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out / "edf.png", dpi=120)
    plt.close(figure)

    table = Table(title="error EDFs" + (f" by {args.by}" if args.by else "")
                  + (", cost-normalised" if args.normalise_cost else ""))
    for column in ("group", "n", "min err %", "weighted mean err %"):
        table.add_column(column)
    lines = ["group,n,min_error,weighted_mean_error"]
    for curve in curves:
        mean = float((curve.errors * curve.weights).sum())
        table.add_row(curve.label, str(curve.count), f"{100 * curve.errors.min():.2f}", f"{100 * mean:.2f}")
        lines.append(f"{curve.label},{curve.count},{curve.errors.min():.6f},{mean:.6f}")
    console = Console(highlight=False)
    console.print(table)
    ks = Table(title="KS statistic between EDFs")
    for column in ("a", "b", "KS"):
        ks.add_column(column)
    lines.append("")
    lines.append("a,b,ks")
    for a, b in combinations(curves, 2):
        value = ks_statistic(a.errors, b.errors, a.weights, b.weights)
        ks.add_row(a.label, b.label, f"{value:.3f}")
        lines.append(f"{a.label},{b.label},{value:.6f}")
    console.print(ks)
    (out / "edf.csv").write_text("\n".join(lines) + "\n")
    console.print(f"wrote {out / 'edf.png'} and {out / 'edf.csv'}")
    return 0
