"""Points in words, for tables, live views and curves: the paper's anchor names and a design's
description. Here, not in the campaign layer, so that a trial labels its curves without importing
reports."""
from __future__ import annotations

from typing import Any

ANCHOR_LABELS = {"baseline": "Baseline", "se": "SE", "ge-theta-minus": "GE-θ⁻",
                 "ge-theta": "GE-θ", "ge-theta-plus": "GE-θ⁺"}


def anchor_label(name: str) -> str:
    """Display name of an anchor: the paper's θ names for its anchors."""
    return ANCHOR_LABELS.get(name, name)


def value_text(value: Any) -> str:
    """A knob value as a table shows it: lists as '[2,3,4]', the rest as str."""
    return "[" + ",".join(map(str, value)) + "]" if isinstance(value, (list, tuple)) else str(value)


def describe(point: dict[str, Any]) -> str:
    """The GE design in words, most telling first: 'dwconv global, SE r=16, stages 2,3,4'.

    Gather (operator, extent), then what the excite does beyond the paper's
    default (nearest resize, sigmoid, no subnet), then the placement, so a label
    cut short keeps the gather.
    """
    stages = point.get("ge.placement.stages", ())
    if not stages:
        return "no GE"
    gather = "dwconv" if point["ge.gather.op"] == "dwconv" else f"{point['ge.gather.pool']} pool"
    extent = point["ge.gather.extent"]
    parts = [f"{gather} {'global' if extent == 'global' else f'e={extent}'}"]
    if point.get("ge.excite.interp") == "bilinear":
        parts.append("bilinear")
    if point.get("ge.excite.gate") == "hard_sigmoid":
        parts.append("hard sigmoid")
    if point.get("ge.excite.mlp") == "se":
        parts.append(f"SE r={point['ge.excite.reduction']}")
    parts.append("stages " + ",".join(str(s) for s in stages))
    return ", ".join(parts)


def point_label(name: str | None, point: dict[str, Any]) -> str:
    """The anchor's label, else the design in a few words."""
    return anchor_label(name) if name else describe(point)
