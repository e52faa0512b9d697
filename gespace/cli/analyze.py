"""`gespace analyze ...`: the paper's Sec. 4 analyses of trained checkpoints.

Packages building on gespace add analyses through the ``gespace.analyses``
entry-point group (the campaign layer adds ``edf``).
"""
from __future__ import annotations

import argparse
import csv
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.table import Table

from gespace.errors import CheckpointError, UserError

console = Console(highlight=False)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    analyze = subparsers.add_parser("analyze", help="class selectivity, importance pruning, error EDFs")
    commands = analyze.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS")

    selectivity = commands.add_parser("selectivity", help="class selectivity index of a stage's blocks")
    selectivity.add_argument("checkpoint", metavar="CHECKPOINT")
    selectivity.add_argument("--baseline", metavar="CHECKPOINT", help="a baseline to overlay")
    selectivity.add_argument("--stage", type=int, help="stage number (default: the last)")
    _common(selectivity)
    selectivity.set_defaults(handler=cmd_selectivity)

    prune = commands.add_parser("prune", help="accuracy as gate-ranked channels of a block are dropped")
    prune.add_argument("checkpoint", metavar="CHECKPOINT")
    prune.add_argument("--block", required=True, help="residual block, e.g. stage4.0")
    prune.add_argument("--order", choices=("asc", "desc", "both"), default="both")
    prune.add_argument("--ratios", type=_ratios, default=[i / 10 for i in range(11)],
                       help="comma list of prune ratios in [0, 1] (default 0, 0.1, ..., 1)")
    prune.add_argument("--baseline", metavar="CHECKPOINT", help="baseline for the ratio 0 / 1 references")
    _common(prune)
    prune.set_defaults(handler=cmd_prune)

    for plugin in sorted(entry_points(group="gespace.analyses"), key=lambda e: e.name):
        plugin.load()(commands)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", choices=("val", "test"), default="test")
    parser.add_argument("--data-root", help="dataset directory (default: the one the run used)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--out", default=".", help="where PNG and CSV files go (default: here)")


def _ratios(text: str) -> list[float]:
    try:
        ratios = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("ratios are numbers in [0, 1], e.g. 0,0.25,0.5,1") from None
    if not ratios or any(not 0 <= r <= 1 for r in ratios):
        raise argparse.ArgumentTypeError("ratios are numbers in [0, 1], e.g. 0,0.25,0.5,1")
    return ratios


def _restore(path: str, args: argparse.Namespace) -> tuple[Any, Any, str, Callable]:
    """(model, batches of the chosen split, label, its autocast context) of a checkpoint: analyses
    run in the precision the model trained in, as `gespace eval` scores it."""
    from gespace.train import RESTORE_ERRORS, restore

    try:
        run = restore(path, data_root=args.data_root, device=args.device)
    except CheckpointError as err:  # its message names the file already
        raise UserError(str(err)) from None
    except RESTORE_ERRORS as err:
        raise UserError(f"{path}: {err}") from None
    loader = run.loaders.test if args.split == "test" else run.loaders.val
    if loader is None:
        raise UserError(f"{path}: the run has no validation split; use --split test")
    return run.model, loader, run.label, run.setup.autocast


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def cmd_selectivity(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gespace.analysis.selectivity import stage_selectivity

    runs = [args.checkpoint] + ([args.baseline] if args.baseline else [])
    results = []
    for path in runs:
        model, loader, label, precision = _restore(path, args)
        stage = args.stage or model.stage_ids[-1]
        if stage not in model.stage_ids:
            raise UserError(f"{path}: no stage {stage}; stages are {list(model.stage_ids)}")
        with precision():
            results.append((label, stage_selectivity(model, loader, stage, model.head[-1].out_features)))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    blocks = [s.name for s in results[0][1]]
    figure, axes = plt.subplots(1, len(blocks), figsize=(3.2 * len(blocks), 3), squeeze=False, sharey=True)
    rows = []
    table = Table(title=f"class selectivity, {blocks[0].split('.')[0]} ({args.split} split)")
    table.add_column("block")
    for label, _ in results:
        table.add_column(f"{label} median")
        table.add_column(f"{label} dead")
    for i, (axis, block) in enumerate(zip(axes[0], blocks)):
        cells = [block]
        for label, selectivity in results:
            unit = selectivity[i]
            axis.hist(unit.alive.numpy(), bins=20, range=(0, 1), alpha=0.55, label=label, density=True)
            cells += [f"{unit.median:.3f}", f"{int(unit.dead.sum())}/{len(unit.dead)}"]
            rows.append({"block": block, "model": label, "median": unit.median,
                         "dead": int(unit.dead.sum()), "units": len(unit.dead)})
        table.add_row(*cells)
        axis.set_title(block, fontsize=9)
        axis.set_xlabel("class selectivity index")
    axes[0][0].set_ylabel("density")
    axes[0][-1].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out / "selectivity.png", dpi=120)
    plt.close(figure)
    _write_csv(out / "selectivity.csv", rows)
    console.print(table)
    console.print(f"wrote {out / 'selectivity.png'} and {out / 'selectivity.csv'}")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gespace.analysis.prune import prune_curve, pruned_accuracy

    model, loader, label, precision = _restore(args.checkpoint, args)
    orders = ("asc", "desc") if args.order == "both" else (args.order,)
    try:
        with precision():
            curves = {order: prune_curve(model, loader, args.block, args.ratios, order) for order in orders}
        reference = None
        if args.baseline:
            base, base_loader, base_label, base_precision = _restore(args.baseline, args)
            with base_precision():
                reference = (base_label, [(r, pruned_accuracy(base, base_loader, args.block, r)) for r in (0, 1)])
    except ValueError as error:
        raise UserError(str(error)) from None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figure, axis = plt.subplots(figsize=(5, 3.6))
    rows = []
    for order, curve in curves.items():
        axis.plot([r for r, _ in curve], [100 * a for _, a in curve], "--" if order == "asc" else "-",
                  marker="o", ms=3, label=f"{label} ({'least' if order == 'asc' else 'most'} important first)")
        rows += [{"model": label, "order": order, "ratio": r, "accuracy": a} for r, a in curve]
    if reference:
        base_label, points = reference
        axis.scatter([r for r, _ in points], [100 * a for _, a in points], marker="*", s=120, color="black",
                     label=f"{base_label} (ratio 0 and 1)", zorder=3)
        rows += [{"model": base_label, "order": "-", "ratio": r, "accuracy": a} for r, a in points]
    axis.set_xlabel("prune ratio")
    axis.set_ylabel("top-1 accuracy (%)")
    axis.set_title(f"{args.block}: feature-importance pruning", fontsize=10)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out / "prune.png", dpi=120)
    plt.close(figure)
    _write_csv(out / "prune.csv", rows)
    table = Table(title=f"pruning {args.block} ({args.split} split)")
    for column in ("model", "order", "ratio", "accuracy %"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["model"], row["order"], f"{row['ratio']:.2f}", f"{100 * row['accuracy']:.2f}")
    console.print(table)
    console.print(f"wrote {out / 'prune.png'} and {out / 'prune.csv'}")
    return 0
