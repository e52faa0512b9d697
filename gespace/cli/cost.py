"""`gespace cost FILE`: MACs (the paper's convention), parameters and per-stage breakdown of
a space's anchors, one point or a sample; optionally timed (batch 1 and a training batch)."""
from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import TYPE_CHECKING, Any, Iterator

from rich.console import Console
from rich.table import Table

from gespace.grammar import Point, PointError, Space, anchor_label, load_space, point_id

if TYPE_CHECKING:  # torch loads only when a cost is asked for: `gespace --help` stays quick
    from gespace.cost import Cost, Latency

console = Console(highlight=False)
SUMMARY = ("macs", "gmacs", "params", "params_m", "activations", "ge_macs", "ge_params")
STAGE_COLUMNS = ("macs", "params", "ge_macs", "ge_params")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cost", help="MACs / params / per-stage cost of anchors, one point or sampled points")
    parser.add_argument("file", metavar="FILE", help="design-space spec file")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--anchors", action="store_true", help="the spec's anchors (the default)")
    which.add_argument("--point", metavar="ID", help="one point: an anchor name or a point id")
    which.add_argument("--sample", type=int, metavar="N", help="N points sampled from the space")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (with --sample)")
    parser.add_argument("--include-bn", action="store_true", help="count BatchNorm in the MACs")
    parser.add_argument("--latency", action="store_true",
                        help="also time a forward pass at batch 1 and a training batch (CUDA if any)")
    parser.add_argument("--train-batch", type=int, metavar="B",
                        help="training batch for --latency (default: the point's train.batch_size)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per batch (median)")
    parser.add_argument("--format", choices=("table", "json", "csv"), default="table")
    parser.set_defaults(handler=cmd_cost)


def select_points(space: Space, args: argparse.Namespace) -> list[tuple[str, Point]]:
    """(name, point) pairs the options ask for; names are '' for non-anchors."""
    if args.sample is not None:
        if args.sample < 1:
            raise PointError(f"--sample needs a positive count, not {args.sample}")
        return [("", point) for point in space.sample(args.sample, seed=args.seed)]
    anchors = space.anchors()
    if args.point is None:
        return anchors
    for name, point in anchors:
        if args.point in (name, point_id(point)):
            return [(name, point)]
    if space.count() is not None:
        for point in space.enumerate():
            if point_id(point) == args.point:
                return [("", point)]
    raise PointError(f"{space.name}: no anchor or point with id {args.point!r}")


def _row(name: str, point: Point, cost: Cost, timing: Latency | None) -> dict[str, Any]:
    row = {"id": point_id(point), "name": name, **cost.to_dict()}
    if timing is not None:
        row["latency"] = {"device": timing.device, "batch1_ms": round(timing.batch1_ms, 3),
                          "train_batch": timing.train_batch,
                          "train_batch_ms": round(timing.train_batch_ms, 3)}
    return row


def _time(point: Point, args: argparse.Namespace) -> Latency:
    from gespace.builder import backbone_kwargs, build_model
    from gespace.cost import latency

    model = build_model(point)
    size = backbone_kwargs(point).get("image_size", 224)
    batch = args.train_batch or point.get("train.batch_size", 64)
    return latency(model, size, point.get("backbone.in_channels", 3), train_batch=batch,
                   repeats=args.repeats)


def rows(space: Space, args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    from gespace.cost import point_cost

    for name, point in select_points(space, args):
        cost = point_cost(point, include_bn=args.include_bn)
        yield _row(name, point, cost, _time(point, args) if args.latency else None)


def cmd_cost(args: argparse.Namespace) -> int:
    space = load_space(args.file)
    if args.format == "json":
        for row in rows(space, args):
            print(json.dumps(row), flush=True)
    elif args.format == "csv":
        write_csv(list(rows(space, args)))
    else:
        print_table(space, list(rows(space, args)))
    return 0


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    flat = {key: row[key] for key in ("id", "name", *SUMMARY)}
    for stage, values in row["by_stage"].items():
        flat.update({f"{stage}.{key}": values[key] for key in STAGE_COLUMNS})
    for key, value in row.get("latency", {}).items():
        flat[f"latency.{key}"] = value
    return flat


def write_csv(table: list[dict[str, Any]]) -> None:
    flat = [_flat(row) for row in table]
    columns = list(dict.fromkeys(key for row in flat for key in row))
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)


def print_table(space: Space, table: list[dict[str, Any]]) -> None:
    timing = [row["latency"] for row in table if "latency" in row]
    title = f"{space.name}: batch-1 cost (MACs: conv + linear + excite mul"
    title += ", BN)" if table and table[0]["include_bn"] else ")"
    if timing:
        title += f"; latency on {timing[0]['device']}"
    out = Table(title=title)
    for column in ("point", "id", "GMACs", "params M", "GE MMACs", "GE params M"):
        out.add_column(column, justify="left" if column in ("point", "id") else "right")
    if timing:
        out.add_column("b1 ms", justify="right")
        out.add_column(f"b{timing[0]['train_batch']} ms", justify="right")
    for row in table:
        cells = [anchor_label(row["name"]) if row["name"] else "-", row["id"], f"{row['gmacs']:.4f}",
                 f"{row['params_m']:.3f}", f"{row['ge_macs'] / 1e6:.2f}", f"{row['ge_params'] / 1e6:.3f}"]
        if timing:
            cells += [f"{row['latency']['batch1_ms']:.1f}", f"{row['latency']['train_batch_ms']:.1f}"]
        out.add_row(*cells)
    console.print(out)
    if len(table) == 1:
        print_breakdown(table[0])


def print_breakdown(row: dict[str, Any]) -> None:
    out = Table(title=f"{row['id']} by stage")
    for column in ("part", "GMACs", "params (M)", "GE MMACs", "GE params (M)"):
        out.add_column(column, justify="left" if column == "part" else "right")
    for stage, values in row["by_stage"].items():
        out.add_row(stage, f"{values['macs'] / 1e9:.4f}", f"{values['params'] / 1e6:.3f}",
                    f"{values['ge_macs'] / 1e6:.2f}", f"{values['ge_params'] / 1e6:.3f}")
    console.print(out)
    ops = ", ".join(f"{op} {n / 1e6:.2f}M" for op, n in row["by_op"].items())
    console.print(f"all counted ops: {ops}", markup=False)
