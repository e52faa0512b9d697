"""`gespace point DIR ID`: a design a campaign found, as JSON or as a spec snippet, to reuse.

The JSON record is what ``gespace train SPEC --point @FILE`` and
``gespace.build_model(record["point"])`` take; the spec snippet is an
``anchors:`` entry that makes the point an anchor of a next campaign over the
same space.
"""
from __future__ import annotations

import argparse
import json
import sys
from statistics import mean
from typing import Any

import yaml

from gespace.errors import UserError
from gespace.grammar import anchor_label, describe, load_space
from search.records import OK, PHASES, TrialRecord
from search.store import CampaignStore, StoreError


class PointLookupError(UserError):
    """No point, or more than one, matches what the user named."""


def find_point(records: list[TrialRecord], ref: str) -> list[TrialRecord]:
    """The records of the point ``ref`` names: an anchor name, a point id or a unique id prefix."""
    by_id: dict[str, list[TrialRecord]] = {}
    for record in records:
        by_id.setdefault(record.id, []).append(record)
    named = [pid for pid, rs in by_id.items() if rs[0].name == ref]
    matches = named or ([ref] if ref in by_id else [pid for pid in by_id if pid.startswith(ref)])
    if len(matches) != 1:
        problem = "no point" if not matches else f"{len(matches)} points ({', '.join(sorted(matches)[:5])})"
        raise PointLookupError(f"{problem} match {ref!r} in this campaign: give an anchor name, a point id "
                               "or a longer prefix")
    return by_id[matches[0]]


def _results(done: list[TrialRecord]) -> dict[str, Any]:
    tests = [r.test_error for r in done if r.test_error is not None]
    return {"seeds": sorted(r.seed for r in done if r.seed is not None),
            "val_error": mean(r.val_error for r in done), "test_error": mean(tests) if tests else None}


def point_json(records: list[TrialRecord]) -> dict[str, Any]:
    """id, anchor name, design in words, the point, its cost and its full-budget results per phase
    (the search's are biased by the selection; the confirmation's are not)."""
    first = records[0]
    result: dict[str, Any] = {"id": first.id}
    if first.name:
        result["name"] = first.name
    result["design"] = describe(first.point)
    result["point"] = first.point
    result["cost"] = {key: value for key, value in vars(first.cost).items() if value is not None}
    result["results"] = {phase: _results(done) for phase in PHASES
                         if (done := [r for r in records if r.phase == phase and r.status == OK])}
    return result


def spec_snippet(record: dict[str, Any], open_keys: set[str]) -> str:
    """An ``anchors:`` entry setting every knob the space leaves open to the point's value."""
    name = record.get("name") or f"found-{record['id']}"
    values = {key: list(value) if isinstance(value, tuple) else value
              for key, value in record["point"].items() if key in open_keys}
    phase = next((p for p in reversed(PHASES) if p in record["results"]), None)
    found = "not trained to the end"
    if phase:
        results = record["results"][phase]
        found = f"validation error {100 * results['val_error']:.2f}% over {len(results['seeds'])} {phase} seed(s)"
    header = f"# {anchor_label(record['name']) + ': ' if record.get('name') else ''}{record['design']}; {found}\n"
    return header + yaml.safe_dump({"anchors": {name: values}}, sort_keys=False, allow_unicode=True,
                                   default_flow_style=None, width=100)


def open_knobs(space: Any) -> set[str]:
    """Knobs with more than one possible value: what an anchor of the space sets."""
    return {key for key, knob in space.knobs.items()
            if (knob.domain.values() is None or len(knob.domain.values()) > 1)}


def add_point_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "point", help="print a point of a campaign as JSON or as a spec snippet, to reuse it",
        description="Print a point a campaign trained: as JSON (for `gespace train SPEC --point @FILE` "
                    "and gespace.build_model) or as an `anchors:` entry of the campaign's spec.")
    parser.add_argument("directory", metavar="DIR", help="the campaign directory")
    parser.add_argument("ref", metavar="ID", help="a point id, a unique prefix of one, or an anchor name")
    parser.add_argument("--format", choices=("json", "spec"), default="json")
    parser.set_defaults(handler=cmd_point)


def cmd_point(args: argparse.Namespace) -> int:
    try:
        store = CampaignStore(args.directory)
        store.settings()  # a campaign directory, or one line saying it is not
        records = store.latest()
        record = point_json(find_point(records, args.ref))
        if args.format == "json":
            print(json.dumps(record, indent=2, ensure_ascii=False))
        else:
            print(spec_snippet(record, open_knobs(load_space(store.spec_path))), end="")
    except (StoreError, UserError) as error:
        print(f"gespace: {error}", file=sys.stderr)
        return 2
    return 0
