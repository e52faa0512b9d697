"""`gespace point DIR ID`: a found design as JSON and as a spec snippet, both rebuilding the same point."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gespace import build_model
from gespace.cli import main
from gespace.cli.train import resolve_point
from gespace.grammar import load_space, point_id
from search.records import CostFigures, TrialRecord
from search.store import CampaignStore

DEMO = Path(__file__).parent.parent / "spaces" / "fashion-demo.yaml"


@pytest.fixture()
def campaign(tmp_path):
    """The demo space's GE-θ anchor under 2 search seeds and a sampled point, searched once then
    confirmed under 2 fresh seeds."""
    space = load_space(DEMO)
    store = CampaignStore(tmp_path / "c")
    store.create(str(DEMO), {"name": "c"})
    theta = space.anchor("ge-theta")
    sampled = next(p for p in space.iter_samples(seed=3) if point_id(p) != point_id(theta))
    runs = [(theta, "ge-theta", 0, "search", 0.25), (theta, "ge-theta", 1, "search", 0.27),
            (sampled, None, 0, "search", 0.20), (sampled, None, 1000, "confirm", 0.22),
            (sampled, None, 1001, "confirm", 0.24)]
    for point, name, seed, phase, error in runs:
        store.append(TrialRecord(id=point_id(point), status="ok", point=point, name=name, seed=seed, phase=phase,
                                 cost=CostFigures(gmacs=0.031), epochs=[{"epoch": 1, "val_error": error}],
                                 val_error=error, test_error=error + 0.01))
    return store, space, theta, sampled


def printed(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["point", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_record_rebuilds_the_point_and_keeps_phases_apart(campaign, capsys, tmp_path):
    store, space, theta, sampled = campaign
    pid = point_id(sampled)
    code, out, _ = printed(capsys, str(store.directory), pid[:6])
    record = json.loads(out)
    assert code == 0 and record["id"] == pid and "name" not in record
    assert record["results"]["search"] == {"seeds": [0], "val_error": 0.20, "test_error": pytest.approx(0.21)}
    assert record["results"]["confirm"]["seeds"] == [1000, 1001]
    assert record["results"]["confirm"]["val_error"] == pytest.approx(0.23)
    # The README's three lines, and `gespace train SPEC --point @FILE`, build the same point.
    assert build_model(record["point"]).point_id == pid
    path = tmp_path / "point.json"
    path.write_text(out)
    assert point_id(resolve_point(space, f"@{path}")) == pid
    code, out, _ = printed(capsys, str(store.directory), "ge-theta")
    assert json.loads(out)["name"] == "ge-theta" and json.loads(out)["id"] == point_id(theta)


def test_spec_snippet_is_an_anchor_of_the_same_point(campaign, capsys, tmp_path):
    store, space, _, sampled = campaign
    pid = point_id(sampled)
    code, out, _ = printed(capsys, str(store.directory), pid, "--format", "spec")
    assert code == 0 and out.startswith("# ") and "validation error 23.00% over 2 confirm seed(s)" in out
    spec = yaml.safe_load(DEMO.read_text())
    spec["anchors"].update(yaml.safe_load(out)["anchors"])
    path = tmp_path / "next.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    assert point_id(load_space(path).anchor(f"found-{pid}")) == pid


def test_lookup_mistakes_are_one_line(campaign, capsys, tmp_path):
    store, *_ = campaign
    code, out, err = printed(capsys, str(store.directory), "zzz")
    assert code == 2 and out == "" and err.count("\n") == 1 and "no point match 'zzz'" in err
    code, _, err = printed(capsys, str(store.directory), "")  # every id starts with ""
    assert code == 2 and "2 points (" in err
    code, _, err = printed(capsys, str(tmp_path), "ge-theta")
    assert code == 2 and err.strip() == f"gespace: {tmp_path}: not a campaign directory (no campaign.json)"
