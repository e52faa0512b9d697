"""``gespace train SPEC --point ...`` and ``gespace eval CHECKPOINT``.

``add_parser(subparsers)`` registers both commands; each sets ``handler``
(and ``func``), ``(args) -> int``: the exit status, 0 ok or stopped, 1 failed,
2 a bad argument (unknown point, spec, checkpoint), 3 diverged.
``main(argv)`` runs them standalone: ``python -m gespace.cli.train train ...``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from gespace.vocab import KNOBS

DATA_CHOICES = ("fashion-mnist", "cifar10", "cifar100", "imagefolder", "synthetic")
EXIT = {"ok": 0, "stopped": 0, "failed": 1, "diverged": 3}


class PointError(ValueError):
    """A --point that names nothing in the space."""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train one point of a space",
        description="Train one point of SPEC and print a summary (point id, cost, best "
                    "validation error, test error, time).")
    p.add_argument("spec", help="the design-space spec file")
    p.add_argument("--point", required=True,
                   help="anchor:NAME, a point ID, or @point.json (a flat dict of dotted keys)")
    p.add_argument("--epochs", type=int, help="override train.epochs")
    p.add_argument("--data", choices=DATA_CHOICES, help="override train.dataset")
    p.add_argument("--data-root", help="dataset directory (default: $GESPACE_DATA, then the "
                   "system copy)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default auto)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output directory (default runs/<point id>/seed<S>)")
    p.add_argument("--set", action="append", default=[], metavar="train.KEY=VALUE",
                   help="override a training knob, e.g. --set train.lr=0.05 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_train, func=run_train)

    e = subparsers.add_parser("eval", help="score a checkpoint on the val or test split",
                              description="Evaluate a training checkpoint.")
    e.add_argument("checkpoint")
    e.add_argument("--split", choices=("val", "test"), default="val")
    e.add_argument("--data-root", help="dataset directory (default: the one trained on)")
    e.add_argument("--device", default="auto")
    e.set_defaults(handler=run_eval, func=run_eval)


# --- resolving --point ---------------------------------------------------------------------
def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        lowered = text.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return text


def normalise_point(raw: dict[str, Any]) -> dict[str, Any]:
    """A point read from JSON: list values of list-valued knobs back to tuples."""
    point = {}
    for key, value in raw.items():
        knob = KNOBS.get(key)
        if isinstance(value, list) and (knob is None or knob.kind in ("stages", "floats")):
            value = tuple(value)
        point[key] = value
    return point


def spec_hash(space: Any, spec_path: str | os.PathLike) -> str | None:
    for attr in ("spec_hash", "hash", "digest"):
        value = getattr(space, attr, None) if space is not None else None
        if callable(value):
            value = value()
        if isinstance(value, str):
            return value
    try:
        return hashlib.sha256(Path(spec_path).read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def find_point(space: Any, pid: str, point_id) -> dict[str, Any]:
    """The point whose id is ``pid``: anchors first, then the enumeration, then samples."""
    for _, point in space.anchors():
        if point_id(point) == pid:
            return point
    try:
        for point in space.enumerate():
            if point_id(point) == pid:
                return point
    except (NotImplementedError, OverflowError, MemoryError, TypeError, ValueError):
        pass  # too large to enumerate: try samples
    for kwargs in ({"n": 10000, "seed": 0}, {}):
        try:
            samples = space.sample(**kwargs)
        except (TypeError, NotImplementedError):
            continue
        for point in samples:
            if point_id(point) == pid:
                return point
        break
    raise PointError(f"no point with id {pid!r} in the space (anchors: "
                     f"{', '.join(name for name, _ in space.anchors()) or 'none'})")


def resolve_point(spec: str, ref: str) -> tuple[dict[str, Any], str | None]:
    """(point, spec hash) for ``--point`` ``anchor:NAME`` | ``ID`` | ``@point.json``."""
    space = None
    if ref.startswith("@"):
        raw = json.loads(Path(ref[1:]).read_text())
        if not isinstance(raw, dict):
            raise PointError(f"{ref[1:]} must hold a JSON object of dotted keys")
        point = normalise_point(raw)
        try:
            from gespace.grammar import load_space

            space = load_space(spec)
        except Exception:  # the point file stands alone; the spec only names its hash
            space = None
        return point, spec_hash(space, spec)
    from gespace.grammar import load_space, point_id

    space = load_space(spec)
    if ref.startswith("anchor:"):
        return space.anchor(ref.split(":", 1)[1]), spec_hash(space, spec)
    return find_point(space, ref, point_id), spec_hash(space, spec)


def apply_sets(point: dict[str, Any], sets: list[str]) -> dict[str, Any]:
    point = dict(point)
    for item in sets:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.startswith("train.") or key not in KNOBS:
            raise PointError(f"--set {item!r}: expected train.KEY=VALUE with a known train.* key")
        parsed = _parse_value(value)
        if isinstance(parsed, list):
            parsed = tuple(parsed)
        point[key] = parsed
    return point


def point_cost(point: dict[str, Any]) -> str:
    try:
        from gespace.cost import point_cost as cost_fn
    except ImportError:
        return "-"
    try:
        cost = cost_fn(point)
    except Exception as err:  # cost is informative only
        return f"? ({type(err).__name__})"
    if isinstance(cost, dict):
        return ", ".join(f"{k} {_fmt_number(v)}" for k, v in cost.items())
    fields = [(name, getattr(cost, name)) for name in ("macs", "params", "flops")
              if hasattr(cost, name)]
    if fields:
        return ", ".join(f"{k} {_fmt_number(v)}" for k, v in fields)
    return str(cost)


def _fmt_number(value: Any) -> str:
    if isinstance(value, (int, float)) and abs(value) >= 1000:
        for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
            if abs(value) >= div:
                return f"{value / div:.2f}{unit}"
    return str(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


# --- commands ------------------------------------------------------------------------------
def run_train(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from gespace.train import train

    console = Console()
    try:
        point, shash = resolve_point(args.spec, args.point)
        point = apply_sets(point, args.set)
    except Exception as err:
        console.print(f"[red]error[/red]: {err}", highlight=False)
        return 2
    pid = None
    try:
        from gespace.grammar import point_id

        pid = point_id(point)
    except Exception:
        pass
    out = args.out or os.path.join("runs", pid or "point", f"seed{args.seed}")
    result = train(point, data=args.data, data_root=args.data_root, device=args.device,
                   seed=args.seed, out_dir=out, epochs=args.epochs, resume=args.resume,
                   progress=not args.no_progress, spec_hash=shash, compile=args.compile,
                   threads=args.threads)
    table = Table(title="gespace train", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    rows = [("point", result.point_id or pid or "-"), ("status", result.status),
            ("cost", point_cost(point)),
            ("epochs", f"{result.epochs_completed}/{result.epochs}"),
            ("best val error", _pct(result.best_val_error)),
            ("final val error", _pct(result.final_val_error)),
            ("test error", _pct(result.test_error)),
            ("test accuracy", _pct(None if result.test_error is None else 1 - result.test_error)),
            ("time", f"{result.wall_time:.1f}s"),
            ("checkpoint", result.checkpoint or "-")]
    if result.reason:
        rows.insert(2, ("reason", result.reason))
    for key, value in rows:
        table.add_row(key, str(value))
    console.print(table)
    if result.status == "failed" and result.traceback and os.environ.get("GESPACE_DEBUG"):
        console.print(result.traceback, highlight=False)
    return EXIT.get(result.status, 1)


def run_eval(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from gespace.train import evaluate

    console = Console()
    try:
        scores = evaluate(args.checkpoint, args.split, data_root=args.data_root,
                          device=args.device)
    except Exception as err:
        console.print(f"[red]error[/red]: {type(err).__name__}: {err}", highlight=False)
        return 2
    table = Table(title=f"gespace eval ({args.split})", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    for key, value in (("checkpoint", scores["checkpoint"]), ("point", scores["point_id"] or "-"),
                       ("epoch", scores["epoch"]), ("images", scores["images"]),
                       ("loss", f"{scores['loss']:.4f}"),
                       ("top-1 error", _pct(scores["top1_error"])),
                       ("top-5 error", _pct(scores["top5_error"])),
                       ("top-1 accuracy", _pct(1 - scores["top1_error"]))):
        table.add_row(key, str(value))
    console.print(table)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gespace")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
