"""`gespace space ...`: validate, show, count, sample, enumerate and list anchors of spec files."""
from __future__ import annotations

import argparse
import json
from typing import Any, Iterable

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from gespace.grammar import Point, Space, SpecError, anchor_label, load_space, point_id
from gespace.vocab import KNOBS, SECTIONS

console = Console(highlight=False)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    space = subparsers.add_parser("space", help="validate, show and sample design-space spec files")
    commands = space.add_subparsers(dest="space_command", required=True, metavar="SUBCOMMAND")

    validate = commands.add_parser("validate", help="check spec files; exit 2 listing every problem")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(handler=cmd_validate)

    show = commands.add_parser("show", help="the space as a tree of knobs, choices and conditions")
    show.add_argument("file", metavar="FILE")
    show.set_defaults(handler=cmd_show)

    count = commands.add_parser("count", help="number of distinct buildable points")
    count.add_argument("file", metavar="FILE")
    count.set_defaults(handler=cmd_count)

    sample = commands.add_parser("sample", help="sample points (uniform per active knob, or Sobol)")
    sample.add_argument("file", metavar="FILE")
    sample.add_argument("-n", type=int, default=8, help="points to draw (default 8)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--method", choices=("random", "sobol"), default="random")
    sample.add_argument("--unique", action="store_true", help="skip repeated points")
    sample.add_argument("--format", choices=("table", "json"), default="table")
    sample.set_defaults(handler=cmd_sample)

    enumerate_ = commands.add_parser("enumerate", help="every point of a discrete space (grid)")
    enumerate_.add_argument("file", metavar="FILE")
    enumerate_.add_argument("--format", choices=("table", "json"), default="table")
    enumerate_.set_defaults(handler=cmd_enumerate)

    anchors = commands.add_parser("anchors", help="the spec's named anchor points")
    anchors.add_argument("file", metavar="FILE")
    anchors.add_argument("--format", choices=("table", "json"), default="table")
    anchors.set_defaults(handler=cmd_anchors)

    keys = commands.add_parser("keys", help="every knob a spec may set, with its meaning")
    keys.set_defaults(handler=cmd_keys)


def cmd_validate(args: argparse.Namespace) -> int:
    problems = []
    for path in args.files:
        try:
            space = load_space(path)
        except SpecError as error:
            problems.extend(error.problems)
            continue
        console.print(f"{path}: ok, {_count_text(space)}, {len(space.anchors())} anchors")
    if problems:
        raise SpecError(problems)
    return 0


def _count_text(space: Space) -> str:
    count = space.count()
    return "continuous" if count is None else f"{count} points"


def cmd_show(args: argparse.Namespace) -> int:
    space = load_space(args.file)
    title = f"[bold]{space.name}[/]: {_count_text(space)}, {len(space.anchors())} anchors"
    tree = Tree(title)
    if space.description:
        tree.add(f"[dim]{space.description.strip()}[/]")
    for section in SECTIONS:
        branch = tree.add(f"[bold cyan]{section}[/]")
        for key in (k for k in space.order if k.startswith(section + ".")):
            knob = space.knobs[key]
            if not knob.declared and key.startswith("train."):
                continue  # training defaults are listed by `gespace space keys`
            values = knob.domain.values()
            size = f" [dim]({len(values)})[/]" if values and len(values) > 1 else ""
            line = f"{key[len(section) + 1:]}: {knob.domain.describe()}{size}"
            for condition in knob.conditions:
                line += f"  [yellow]when {condition.text}[/]"
            if KNOBS[key].active_when:
                line += f"  [dim]active when {KNOBS[key].active_when}[/]"
            branch.add(line)
    if space.anchors():
        anchors = tree.add("[bold cyan]anchors[/]")
        for name, point in space.anchors():
            anchors.add(f"{anchor_label(name)} [dim]({name}, {point_id(point)})[/]")
    if space.constraints:
        constraints = tree.add("[bold cyan]constraints[/]")
        for key, value in space.constraints.items():
            constraints.add(f"{key}: {value:g}")
    console.print(tree)
    return 0


def cmd_count(args: argparse.Namespace) -> int:
    space = load_space(args.file)
    count = space.count()
    console.print("continuous" if count is None else str(count))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    space = load_space(args.file)
    points = space.sample(args.n, seed=args.seed, method=args.method, unique=args.unique)
    print_points(((None, p) for p in points), args.format, title=f"{space.name}: {len(points)} samples")
    return 0


def cmd_enumerate(args: argparse.Namespace) -> int:
    space = load_space(args.file)
    print_points(((None, p) for p in space.enumerate()), args.format, title=f"{space.name}: all points")
    return 0


def cmd_anchors(args: argparse.Namespace) -> int:
    space = load_space(args.file)
    print_points(space.anchors(), args.format, title=f"{space.name}: anchors")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    table = Table(title="gespace knobs", show_lines=False)
    table.add_column("key", no_wrap=True)
    for column in ("type", "default", "values", "active when", "meaning"):
        table.add_column(column, overflow="fold")
    for key, knob in KNOBS.items():
        values = ", ".join(str(v) for v in knob.values) if knob.values else (
            f"[{knob.low:g}, {knob.high:g}]" if knob.low is not None else "")
        default = "per arch" if knob.arch_default else str(knob.default)
        table.add_row(key, knob.kind, default, values, knob.active_when or "", knob.doc)
    console.print(table)
    return 0


def point_record(point: Point, name: str | None = None) -> dict[str, Any]:
    """The JSON record of a point: ``{"id", "name" (anchors), "point"}``."""
    record: dict[str, Any] = {"id": point_id(point)}
    if name is not None:
        record["name"] = name
    record["point"] = point
    return record


def print_points(rows: Iterable[tuple[str | None, Point]], fmt: str, title: str) -> None:
    """Points as JSON lines, or as a table of the knobs that vary between them."""
    rows = list(rows)
    if fmt == "json":
        for name, point in rows:
            print(json.dumps(point_record(point, name)))
        return
    keys = [k for k in KNOBS if len({json.dumps(p.get(k)) for _, p in rows}) > 1]
    table = Table(title=f"{title} ({len(rows)})")
    if any(name for name, _ in rows):
        table.add_column("anchor", no_wrap=True)
    table.add_column("id", no_wrap=True)
    for key in keys:
        table.add_column(key.split(".", 1)[1], overflow="fold")
    for name, point in rows:
        cells = [anchor_label(name)] if any(n for n, _ in rows) else []
        cells.append(point_id(point))
        cells += [_cell(point.get(key)) for key in keys]
        table.add_row(*cells)
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "[dim]-[/]"
    if isinstance(value, tuple):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)
