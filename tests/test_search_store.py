"""The campaign store, Pareto computation and reports, on hand-made records (no Ray)."""
from __future__ import annotations

import csv
import json
import os

import pytest

from gespace.cli import main
from search.pareto import dominates, pareto_front
from search.report import describe, write_report
from search.store import CampaignStore


def record(pid: str, val: float | None, gmacs: float, params: float, status: str = "ok",
           name: str | None = None, test: float | None = None) -> dict:
    point = {"ge.placement.stages": ()}
    return {"id": pid, "name": name, "point": point, "status": status, "val_error": val, "test_error": test,
            "cost": {"gmacs": gmacs, "params_m": params, "macs": int(gmacs * 1e9), "params": int(params * 1e6)},
            "epochs": [{"epoch": 1, "val_error": val}], "reason": None}


RECORDS = [
    record("a", 0.10, 1.0, 1.0, name="baseline", test=0.5),  # on both fronts
    record("b", 0.08, 2.0, 4.0),   # on both fronts
    record("c", 0.09, 3.0, 6.0),   # dominated by b on (val, gmacs) and (val, params)
    record("d", 0.07, 3.0, 9.0),   # on both fronts
    record("e", 0.07, 3.5, 4.5),   # dominated by d on gmacs, not on params
    record("f", 0.01, 0.1, 0.1, status="failed"),    # never ranks
    record("g", None, 0.1, 0.1, status="rejected"),  # never ranks
    record("h", 0.20, 0.5, 9.0, status="stopped"),   # early-stopped: ranks; cheapest in gmacs
    record("i", 1.00, 0.4, 9.0, status="diverged"),  # never ranks
]


def ids(records):
    return [r["id"] for r in records]


def test_dominance():
    a, b = RECORDS[0], RECORDS[2]
    assert dominates(RECORDS[1], b, ["val_error", "gmacs"])
    assert not dominates(a, b, ["val_error", "gmacs"]) and not dominates(b, a, ["val_error", "gmacs"])
    assert not dominates(a, a, ["val_error", "gmacs"])


def test_pareto_fronts_on_hand_made_records():
    assert ids(pareto_front(RECORDS, ["val_error", "gmacs"])) == ["h", "a", "b", "d"]
    assert ids(pareto_front(RECORDS, ["val_error", "params_m"])) == ["a", "b", "e"]
    assert ids(pareto_front(RECORDS, ["val_error"])) == ["d", "e"]
    assert ids(pareto_front(RECORDS, ["val_error", "gmacs", "params_m"])) == ["h", "a", "b", "d", "e"]
    with pytest.raises(ValueError, match="unknown objective 'flops'"):
        pareto_front(RECORDS, ["val_error", "flops"])


def test_store_appends_and_survives_a_torn_line(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\n")
    store = CampaignStore(tmp_path / "campaign")
    store.create(str(spec), {"name": "x"})
    for r in RECORDS[:3]:
        store.append(r)
    with open(store.trials_path, "ab") as handle:  # a driver killed mid-write
        handle.write(b'{"id": "zz", "status": "o')
    assert ids(store.records()) == ["a", "b", "c"]
    assert set(store.finished()) == {"a", "b", "c"}
    env = json.loads((store.directory / "environment.json").read_text())
    assert env["packages"]["torch"] and env["hardware"]["cpus"] == os.cpu_count()
    assert (store.directory / "spec.yaml").read_text() == "name: x\n"


def test_report_files(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\n")
    store = CampaignStore(tmp_path / "c1")
    store.create(str(spec), {"name": "c1"})
    for r in RECORDS:
        store.append(r)
    paths = write_report([store.directory])
    rows = list(csv.DictReader(paths["csv"].open()))
    assert [row["id"] for row in rows] == ["h", "a", "b", "d"]
    assert rows[1]["point"] == "Baseline: no GE" and rows[1]["val_err_%"] == "10.00"
    assert rows[1]["test_err_%"] == "50.00"
    trials = list(csv.DictReader(paths["trials"].open()))
    assert len(trials) == len(RECORDS) and trials[5]["status"] == "failed"
    assert paths["plot"].stat().st_size > 10_000
    text = paths["markdown"].read_text()
    assert "## Pareto front: val_error vs gmacs" in text and "## Pareto front: val_error vs params_m" in text


def test_report_cli_compare_and_errors(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\n")
    for name, records in (("c1", RECORDS[:3]), ("c2", RECORDS[3:])):
        store = CampaignStore(tmp_path / name)
        store.create(str(spec), {"name": name})
        for r in records:
            store.append(r)
    out = tmp_path / "cmp"
    assert main(["report", str(tmp_path / "c1"), "--compare", str(tmp_path / "c2"), "--out", str(out),
                 "--objectives", "val_error,params_m"]) == 0
    rows = list(csv.DictReader((out / "pareto.csv").open()))
    assert [(row["campaign"], row["id"]) for row in rows] == [("c1", "a"), ("c1", "b"), ("c2", "e")]
    capsys.readouterr()
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "not a campaign directory" in capsys.readouterr().err


def test_describe_points():
    point = {"ge.placement.stages": (2, 3), "ge.gather.op": "dwconv", "ge.gather.extent": 4,
             "ge.excite.interp": "bilinear", "ge.excite.gate": "hard_sigmoid", "ge.excite.mlp": "se",
             "ge.excite.reduction": 8}
    assert describe(point) == "dwconv/4 bilinear hsig +se8 @[2,3]"
    assert describe({"ge.placement.stages": ()}) == "no GE"


def test_replica_table_is_mean_and_sample_std_over_seeds(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\n")
    runs = {0: [("a", 0.10, 0.20), ("b", 0.08, 0.09)], 1: [("a", 0.12, 0.30), ("b", 0.10, None)],
            2: [("a", 0.14, 0.40)]}  # b failed under seed 2: it has two replicas
    for seed, rows in runs.items():
        store = CampaignStore(tmp_path / f"s{seed}")
        store.create(str(spec), {"name": f"s{seed}"})
        for pid, val, test in rows:
            store.append({**record(pid, val, 1.0, 2.0, name="baseline" if pid == "a" else None, test=test),
                          "seed": seed})
        store.append({**record("f", None, 1.0, 2.0, status="failed"), "seed": seed})
    assert main(["report", str(tmp_path / "s0"), "--replicas", str(tmp_path / "s1"), str(tmp_path / "s2"),
                 "--out", str(tmp_path / "out")]) == 0
    rows = list(csv.DictReader((tmp_path / "out" / "replicas.csv").open()))
    assert [(r["point"], r["seeds"]) for r in rows] == [("Baseline: no GE", "0,1,2"), ("no GE", "0,1")]
    assert rows[0]["val_err_%"] == "12.00 ± 2.00" and rows[0]["test_err_%"] == "30.00 ± 10.00"
    assert rows[1]["val_err_%"] == "9.00 ± 1.41" and rows[1]["test_err_%"] == "9.00"
    assert rows[0]["params_m"] == "2.000" and rows[0]["gmacs"] == "1.0000"
    assert "3 replicas: mean ± std" in (tmp_path / "out" / "replicas.md").read_text()
