"""`gespace train SPEC --point ...` and `gespace eval CHECKPOINT`.

Exit status: 0 trained (or stopped), 1 failed, 2 a user mistake (one line), 3 diverged.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
from typing import Any

from rich.console import Console
from rich.table import Table

from gespace.errors import CheckpointError, UserError
from gespace.files import read_json
from gespace.grammar import Point, PointError, Space, load_space, point_id
from gespace.vocab import DATASETS

EXIT = {"ok": 0, "stopped": 0, "failed": 1, "diverged": 3}
console = Console(highlight=False)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train", help="train one point of a space",
        description="Train one point of SPEC and print a summary (point id, cost, best "
                    "validation error, test error, time).")
    train.add_argument("spec", metavar="SPEC", help="the design-space spec file")
    train.add_argument("--point", required=True,
                       help="anchor:NAME, a point ID, or @point.json (a flat dict of dotted keys)")
    train.add_argument("--epochs", type=int, help="train.epochs for this run")
    train.add_argument("--data", choices=DATASETS, help="train.dataset for this run")
    train.add_argument("--data-root", help="dataset directory (default: $GESPACE_DATA, then the system copy)")
    train.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default auto)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", help="output directory (default runs/<point id>/seed<S>)")
    train.add_argument("--set", action="append", default=[], metavar="train.KEY=VALUE",
                       help="set a training knob, e.g. --set train.lr=0.05 (repeatable)")
    train.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    train.add_argument("--compile", action="store_true", help="torch.compile the model")
    train.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(handler=run_train)

    evaluate = subparsers.add_parser("eval", help="score a checkpoint on the val or test split",
                                     description="Evaluate a training checkpoint.")
    evaluate.add_argument("checkpoint", metavar="CHECKPOINT")
    evaluate.add_argument("--split", choices=("val", "test"), default="val")
    evaluate.add_argument("--data-root", help="dataset directory (default: the one trained on)")
    evaluate.add_argument("--device", default="auto")
    evaluate.set_defaults(handler=run_eval)


def resolve_point(space: Space, ref: str) -> Point:
    """The point ``--point`` names: ``anchor:NAME``, ``@point.json`` or a point id of the space."""
    if ref.startswith("anchor:"):
        return space.anchor(ref.split(":", 1)[1])
    if ref.startswith("@"):
        raw = read_json(ref[1:], "point")
        if not isinstance(raw, dict):
            raise PointError(f"{ref[1:]}: a point is a JSON object of dotted knob keys")
        return space.canonicalise(raw.get("point", raw))  # a bare point or a `--format json` record
    candidates = space.enumerate() if space.count() is not None else space.sample(10_000, seed=0)
    for point in itertools.chain((p for _, p in space.anchors()), candidates):
        if point_id(point) == ref:
            return point
    anchors = ", ".join(name for name, _ in space.anchors()) or "none"
    raise PointError(f"{space.name}: no point with id {ref!r} (anchors: {anchors})")


def training_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The ``train.*`` knobs set on the command line (--set, --epochs, --data)."""
    settings: dict[str, Any] = {}
    for item in args.set:
        key, sep, text = item.partition("=")
        if not sep or not key.strip().startswith("train."):
            raise PointError(f"--set {item!r}: expected train.KEY=VALUE")
        try:
            settings[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            settings[key.strip()] = text
    if args.epochs is not None:
        settings["train.epochs"] = args.epochs
    if args.data is not None:
        settings["train.dataset"] = args.data
    return settings


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def run_train(args: argparse.Namespace) -> int:
    from gespace.cost import point_cost
    from gespace.train import train

    space = load_space(args.spec)
    # The run's training knobs are part of the point, so its id says how it was trained.
    point = space.canonicalise({**resolve_point(space, args.point), **training_settings(args)})
    pid = point_id(point)
    out = args.out or os.path.join("runs", pid, f"seed{args.seed}")
    cost = point_cost(point)
    result = train(point, data_root=args.data_root, device=args.device, seed=args.seed, out_dir=out,
                   resume=args.resume, progress=not args.no_progress, spec_hash=space.spec_hash,
                   compile=args.compile, threads=args.threads)
    table = Table(title="gespace train", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    rows = [("point", result.point_id or pid), ("status", result.status),
            ("cost", f"{cost.gmacs:.4f} GMACs, {cost.params_m:.3f} M params"),
            ("epochs", f"{result.epochs_completed}/{result.epochs}"),
            ("best val error", _percent(result.best_val_error)),
            ("final val error", _percent(result.final_val_error)),
            ("test error", _percent(result.test_error)),
            ("time", f"{result.wall_time:.1f} s"), ("checkpoint", result.checkpoint or "-")]
    if result.reason:
        rows.insert(2, ("reason", result.reason))
    for key, value in rows:
        table.add_row(key, str(value))
    console.print(table)
    if result.status == "failed" and result.traceback and os.environ.get("GESPACE_DEBUG"):
        console.print(result.traceback)
    return EXIT.get(result.status, 1)


def run_eval(args: argparse.Namespace) -> int:
    from gespace.train import RESTORE_ERRORS, evaluate

    try:
        scores = evaluate(args.checkpoint, args.split, data_root=args.data_root, device=args.device)
    except CheckpointError as err:  # its message names the file already
        raise UserError(str(err)) from None
    except RESTORE_ERRORS as err:
        raise UserError(f"{args.checkpoint}: {err}") from None
    table = Table(title=f"gespace eval ({args.split})", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    for key, value in (("checkpoint", scores["checkpoint"]), ("point", scores["point_id"] or "-"),
                       ("epoch", scores["epoch"]), ("images", scores["images"]),
                       ("loss", f"{scores['loss']:.4f}"), ("top-1 error", _percent(scores["top1_error"])),
                       ("top-5 error", _percent(scores["top5_error"]))):
        table.add_row(key, str(value))
    console.print(table)
    return 0
