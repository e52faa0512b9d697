"""Ablations: every one-knob change of an anchor, as the paper's Tables 1-2 vary one thing at a time.

`one_knob_changes` lists the points an ablation campaign trains (``gespace
search SPEC --searcher ablation --around ANCHOR``): for each knob that is active
at the anchor (the GE knobs unless ``knobs`` names others), each other value its
domain lists, with everything else as the anchor has it. A knob the change
switches on (the SE reduction when the subnet becomes SE, the interpolation
when the extent becomes local) takes the space's default; one it switches off
is dropped, as the grammar's conditions say. Values that normalise to the
anchor's own (placement ``all`` and the full stage list) and changes that give
a point already listed are left out, so each point is trained once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from gespace.grammar import Point, PointError, Space, point_id, value_text

GE_PREFIX = "ge."  # the knobs an ablation varies by default


@dataclass(frozen=True)
class Change:
    """One point of an ablation: the knob changed, its new value and the point it gives."""

    knob: str
    value: Any
    point: Point

    @property
    def id(self) -> str:
        return point_id(self.point)


def one_knob_changes(space: Space, around: str, knobs: Sequence[str] | None = None,
                     overrides: Mapping[str, Any] | None = None) -> list[Change]:
    """Every one-knob change of anchor ``around`` the space allows (module doc), each point with the
    campaign's ``overrides`` (its --epochs, ...) applied; `PointError` (one line) for an unknown
    anchor or knob, a named knob the spec does not declare or the anchor leaves inactive, or a knob
    whose domain is a continuous range."""
    center = space.canonical_values(space.anchor(around))
    unknown = [k for k in knobs or () if k not in space.knobs]
    if unknown:
        raise PointError(f"--knobs {unknown[0]}: not a knob of {space.name}; its knobs: {', '.join(space.knobs)}")
    for key in knobs or ():  # a named knob that cannot change the anchor is a mistake, said in one line
        if not space.knobs[key].declared:
            raise PointError(f"--knobs {key}: not declared in {space.name} (fixed or derived from another knob)")
        if not space.is_active(key, center):
            raise PointError(f"--knobs {key}: inactive at anchor {around}, so no change of it changes the anchor")
    keys = list(knobs) if knobs else [k for k in space.order if k.startswith(GE_PREFIX)]
    # The anchor's choices; what the spec does not set (the gather depth an extent implies) is derived again.
    fixed = {k: v for k, v in center.items() if space.is_active(k, center) and space.knobs[k].declared}
    overrides = overrides or {}
    seen = {point_id(space.canonical_values({**center, **overrides}))}
    changes = []
    for key in keys:
        if not space.is_active(key, center):
            continue  # inactive at the anchor: changing it changes nothing
        values = space.knobs[key].domain.values()
        if values is None:
            raise PointError(f"--knobs {key}: a continuous range; an ablation needs the values it lists")
        for value in values:
            if space.normalise(key, value, center) == center[key]:
                continue
            point = space.canonical_values({**{k: v for k, v in fixed.items() if k != key}, key: value, **overrides})
            if point_id(point) not in seen:
                seen.add(point_id(point))
                changes.append(Change(key, value, point))
    return changes


def change_label(center: Mapping[str, Any], point: Mapping[str, Any], knob: str | None = None) -> str:
    """What ``point`` changes from ``center``: 'ge.gather.extent: global -> 4 (+ ge.gather.depth 2,
    ge.excite.interp nearest)': ``knob``, the one changed (else the first knob that differs),
    then what follows from it; knobs switched off are implied and not listed."""
    changed = [k for k in point if k in center and center[k] != point[k]]
    if knob in changed:
        changed.remove(knob)
        changed.insert(0, knob)
    following = changed[1:] + [k for k in point if k not in center]
    if not changed:
        return "(the anchor)" if not following else "(+ " + _listing(point, following) + ")"
    label = f"{changed[0]}: {value_text(center[changed[0]])} -> {value_text(point[changed[0]])}"
    return label + (f" (+ {_listing(point, following)})" if following else "")


def _listing(point: Mapping[str, Any], keys: Sequence[str]) -> str:
    return ", ".join(f"{k} {value_text(point[k])}" for k in keys)

