"""Campaign reports: Pareto fronts and all trials as rich tables, Markdown, CSV and a PNG plot.

Points rank by validation error only; test error is shown beside it, never used.
"""
from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console
from rich.table import Table

from gespace.grammar import anchor_label
from search.pareto import objective, pareto_front
from search.store import CampaignStore

Record = dict[str, Any]

COLUMNS = ("campaign", "point", "id", "status", "val_err_%", "test_err_%", "gmacs", "params_m", "epochs")


def describe(point: dict[str, Any]) -> str:
    """A short human description of a point's GE design, e.g. 'dwconv/global +se16 @[2,3,4]'."""
    stages = point.get("ge.placement.stages", ())
    if not stages:
        return "no GE"
    gather = point["ge.gather.op"] if point["ge.gather.op"] == "dwconv" else point["ge.gather.pool"]
    text = f"{gather}/{point['ge.gather.extent']}"
    if point.get("ge.excite.interp") == "bilinear":
        text += " bilinear"
    if point.get("ge.excite.gate") == "hard_sigmoid":
        text += " hsig"
    if point.get("ge.excite.mlp") == "se":
        text += f" +se{point['ge.excite.reduction']}"
    return text + " @[" + ",".join(str(s) for s in stages) + "]"


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def _label(record: Record) -> str:
    """'GE-θ: dwconv/global @[2,3,4]': the anchor's label (if any) and the design."""
    name = record.get("name")
    return (f"{anchor_label(name)}: " if name else "") + describe(record["point"])


def _row(campaign: str, record: Record) -> dict[str, str]:
    cost = record.get("cost") or {}
    return {"campaign": campaign, "point": _label(record), "id": record["id"],
            "status": record["status"], "val_err_%": _percent(record.get("val_error")),
            "test_err_%": _percent(record.get("test_error")),
            "gmacs": "" if cost.get("gmacs") is None else f"{cost['gmacs']:.4f}",
            "params_m": "" if cost.get("params_m") is None else f"{cost['params_m']:.3f}",
            "epochs": str(len(record.get("epochs") or []))}


def load_campaigns(directories: Sequence[str | Path]) -> list[tuple[str, list[Record]]]:
    """(campaign name, records) for each campaign directory."""
    campaigns = []
    for directory in directories:
        store = CampaignStore(directory)
        if not store.exists():
            raise FileNotFoundError(f"{directory}: not a campaign directory (no campaign.json)")
        campaigns.append((store.settings()["name"], store.records()))
    return campaigns


def _rich_table(title: str, rows: list[dict[str, str]], columns: Sequence[str]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, no_wrap=column in ("id", "val_err_%", "gmacs"))
    for row in rows:
        table.add_row(*(row[c] for c in columns))
    return table


def _markdown(rows: list[dict[str, str]], columns: Sequence[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row[c] for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _csv(rows: list[dict[str, str]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_report(directories: Sequence[str | Path], *, objectives: Sequence[str] = ("val_error", "gmacs"),
                 out_dir: str | Path | None = None, console: Console | None = None) -> dict[str, Path]:
    """Print the Pareto front(s) and write pareto.md/.csv, trials.csv and pareto.png; returns the paths."""
    console = console or Console()
    campaigns = load_campaigns(directories)
    out = Path(out_dir or directories[0])
    out.mkdir(parents=True, exist_ok=True)
    columns = COLUMNS if len(campaigns) > 1 else COLUMNS[1:]
    # Trials in the order they were suggested (anchors first), not the order they finished.
    tagged = [(name, record) for name, records in campaigns
              for record in sorted(records, key=lambda r: r.get("order") or 0)]
    pairs = [list(objectives)]
    if list(objectives) == ["val_error", "gmacs"]:
        pairs.append(["val_error", "params_m"])
    markdown = []
    for pair in pairs:
        front_ids = {id(r) for r in pareto_front([r for _, r in tagged], pair)}
        rows = [_row(name, r) for name, r in tagged if id(r) in front_ids]
        rows.sort(key=lambda row: tuple(float(row[_COLUMN[o]] or "inf") for o in pair[1:] + pair[:1]))
        title = "Pareto front: " + " vs ".join(pair)
        console.print(_rich_table(title, rows, columns))
        markdown.append(f"## {title}\n\n" + _markdown(rows, columns))
        if pair == pairs[0]:
            (out / "pareto.csv").write_text(_csv(rows, columns))
    all_rows = [_row(name, r) for name, r in tagged]
    markdown.append(f"## All trials ({len(all_rows)})\n\n" + _markdown(all_rows, columns))
    (out / "pareto.md").write_text("\n".join(markdown))
    (out / "trials.csv").write_text(_csv([{**row, "reason": r.get("reason") or ""}
                                          for row, (_, r) in zip(all_rows, tagged)], columns + ("reason",)))
    plot = out / "pareto.png"
    plot_fronts(campaigns, pairs, plot)
    console.print(f"report: {out / 'pareto.md'}, {out / 'pareto.csv'}, {out / 'trials.csv'}, {plot}")
    return {"markdown": out / "pareto.md", "csv": out / "pareto.csv", "trials": out / "trials.csv",
            "plot": plot}


REPLICA_COLUMNS = ("point", "id", "seeds", "val_err_%", "test_err_%", "params_m", "gmacs")


def _mean_std(values: list[float]) -> str:
    """'mean ± sample std' in percent ('mean' alone for one value)."""
    mean = statistics.mean(values)
    if len(values) == 1:
        return f"{100 * mean:.2f}"
    return f"{100 * mean:.2f} ± {100 * statistics.stdev(values):.2f}"


def replica_rows(campaigns: list[tuple[str, list[Record]]]) -> list[dict[str, str]]:
    """One row per point over campaigns that differ only in seed: mean ± std of its errors.

    Only points trained to the end ('ok') count; rows follow the first campaign's
    suggestion order (anchors first), then points the others alone have.
    """
    by_id: dict[str, list[Record]] = {}
    for _, records in campaigns:
        for record in sorted(records, key=lambda r: r.get("order") or 0):
            if record["status"] == "ok":
                by_id.setdefault(record["id"], []).append(record)
    rows = []
    for pid, records in by_id.items():
        first = records[0]
        tests = [r["test_error"] for r in records if r.get("test_error") is not None]
        rows.append({"point": _label(first),
                     "id": pid, "seeds": ",".join(str(r.get("seed")) for r in records),
                     "val_err_%": _mean_std([r["val_error"] for r in records]),
                     "test_err_%": _mean_std(tests) if tests else "",
                     "params_m": f"{first['cost']['params_m']:.3f}", "gmacs": f"{first['cost']['gmacs']:.4f}"})
    return rows


def write_replica_report(directories: Sequence[str | Path], *, out_dir: str | Path | None = None,
                         console: Console | None = None) -> dict[str, Path]:
    """Table-5-style table of campaigns repeated with other seeds: replicas.md and replicas.csv."""
    console = console or Console()
    rows = replica_rows(load_campaigns(directories))
    out = Path(out_dir or directories[0])
    out.mkdir(parents=True, exist_ok=True)
    title = f"{len(directories)} replicas: mean ± std over seeds (validation ranks; test shown)"
    console.print(_rich_table(title, rows, REPLICA_COLUMNS))
    (out / "replicas.md").write_text(f"## {title}\n\n" + _markdown(rows, REPLICA_COLUMNS))
    (out / "replicas.csv").write_text(_csv(rows, REPLICA_COLUMNS))
    console.print(f"report: {out / 'replicas.md'}, {out / 'replicas.csv'}")
    return {"markdown": out / "replicas.md", "csv": out / "replicas.csv"}


_COLUMN = {"val_error": "val_err_%", "gmacs": "gmacs", "params_m": "params_m"}
_AXIS = {"val_error": "validation error (%)", "gmacs": "GMACs", "params_m": "parameters (M)"}


def plot_fronts(campaigns: list[tuple[str, list[Record]]], pairs: list[list[str]], path: Path) -> None:
    """One panel per objective pair: every ranked trial, the front as a step line, anchors starred."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(pairs), figsize=(6 * len(pairs), 4.5), squeeze=False)
    for axis, pair in zip(axes[0], pairs):
        y_name, x_name = pair[0], pair[1]
        scale = (lambda v: 100 * v) if y_name == "val_error" else (lambda v: v)
        for index, (name, records) in enumerate(campaigns):
            colour = f"C{index}"
            points = [r for r in records if r["status"] in ("ok", "stopped")
                      and objective(r, x_name) is not None and objective(r, y_name) is not None]
            axis.scatter([objective(r, x_name) for r in points], [scale(objective(r, y_name)) for r in points],
                         s=14, alpha=0.5, color=colour, label=f"{name} trials")
            front = sorted(pareto_front(points, [y_name, x_name]), key=lambda r: objective(r, x_name))
            axis.step([objective(r, x_name) for r in front], [scale(objective(r, y_name)) for r in front],
                      where="post", color=colour, label=f"{name} Pareto front")
            for record in points:
                if record.get("name"):
                    x, y = objective(record, x_name), scale(objective(record, y_name))
                    axis.scatter([x], [y], marker="*", s=120, color=colour, edgecolor="black", zorder=3)
                    axis.annotate(anchor_label(record["name"]), (x, y), textcoords="offset points",
                                  xytext=(4, 4), fontsize=8)
        axis.set_xlabel(_AXIS[x_name])
        axis.set_ylabel(_AXIS[y_name])
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
