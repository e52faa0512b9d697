"""The campaign store, Pareto computation and reports, on hand-made records (no Ray)."""
from __future__ import annotations

import csv
import math
import dataclasses
import io
import json
import os

import pytest
from scipy import stats
from rich.console import Console

from gespace.cli import main
from search.pareto import dominates, pareto_front
from search.records import SCHEMA, CostFigures, RecordError, TrialRecord
from gespace.grammar import describe
from search.render import print_section
from search.report import write_report
from search.sections import campaign_sections, labeller
from search.store import CampaignStore, CorruptRecords


def record(pid: str, val: float | None, gmacs: float, params: float, status: str = "ok",
           name: str | None = None, test: float | None = None) -> TrialRecord:
    cost = CostFigures(macs=int(gmacs * 1e9), gmacs=gmacs, params=int(params * 1e6), params_m=params)
    return TrialRecord(id=pid, status=status, point={"ge.placement.stages": ()}, name=name, cost=cost,
                       epochs=[{"epoch": 1, "val_error": val}], val_error=val, test_error=test)


RECORDS = [
    record("a", 0.10, 1.0, 1.0, name="baseline", test=0.5),  # on both fronts
    record("b", 0.08, 2.0, 4.0),   # on both fronts
    record("c", 0.09, 3.0, 6.0),   # dominated by b on (val, gmacs) and (val, params)
    record("d", 0.07, 3.0, 9.0),   # on both fronts
    record("e", 0.07, 3.5, 4.5),   # dominated by d on gmacs, not on params
    record("f", None, 0.1, 0.1, status="failed"),    # never ranks
    record("g", None, 0.1, 0.1, status="rejected"),  # never ranks
    record("h", 0.20, 0.5, 9.0, status="stopped"),   # early-stopped: ranks; cheapest in gmacs
    record("i", None, 0.4, 9.0, status="diverged"),  # never ranks
]


def ids(records):
    return [r.id for r in records]


def test_dominance():
    a, b = RECORDS[0], RECORDS[2]
    assert dominates(RECORDS[1], b, ["val_error", "gmacs"])
    assert not dominates(a, b, ["val_error", "gmacs"]) and not dominates(b, a, ["val_error", "gmacs"])
    assert not dominates(a, a, ["val_error", "gmacs"])


def test_one_dominance_rule_with_cost_tolerance_and_error_ties():
    """`dominance` is the rule of fronts, schedulers and p_front alike: costs within their relative
    tolerance (the registry's 1% for GMACs, or the spec's override) count as equal, errors within the
    caller's tolerance."""
    from search.pareto import dominance
    from search.schedulers import nondominated_fronts

    pair = [[0.10, 1.000], [0.10, 1.002]]  # equal errors, 0.2% apart in GMACs
    names = ("val_error", "gmacs")
    assert not dominance(pair, names).any()  # within 1%: equal cost, equal error
    assert nondominated_fronts({"a": tuple(pair[0]), "b": tuple(pair[1])}, names) == [["a", "b"]]
    exact = {"gmacs": 0.0}  # report: {cost_tolerance: {gmacs: 0}}: costs as counted
    assert dominance(pair, names, tolerance=exact).tolist() == [[False, True], [False, False]]
    apart = [[0.10, 1.000], [0.10, 1.02]]  # 2% apart: the cheaper one dominates
    assert dominance(apart, names).tolist() == [[False, True], [False, False]]
    close = [[0.100, 1.0], [0.105, 1.0]]
    assert dominance(close, names).tolist() == [[False, True], [False, False]]
    assert not dominance(close, names, error_tolerance=0.01).any()
    # Batched over draws, as p_front uses it: [draw, i, j].
    assert dominance([pair, close], names).shape == (2, 2, 2)


def test_pareto_fronts_on_hand_made_records():
    measured = [r for r in RECORDS if r.measured]  # which records may rank is the caller's choice
    assert ids(measured) == ["a", "b", "c", "d", "e", "h"]
    assert ids(pareto_front(measured, ["val_error", "gmacs"])) == ["h", "a", "b", "d"]
    assert ids(pareto_front(measured, ["val_error", "params_m"])) == ["a", "b", "e"]
    assert ids(pareto_front(measured, ["val_error"])) == ["d", "e"]
    assert ids(pareto_front(measured, ["val_error", "gmacs", "params_m"])) == ["h", "a", "b", "d", "e"]
    # Records without a measured error never rank, whatever their cost.
    assert ids(pareto_front(RECORDS, ["val_error", "gmacs"])) == ["h", "a", "b", "d"]
    with pytest.raises(RecordError, match="a failed trial has no validation error"):
        record("x", 0.2, 1.0, 1.0, status="failed")
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
    assert set(store.finished()) == {("a", None), ("b", None), ("c", None)}  # (point, seed) units
    # The next append moves the fragment aside instead of gluing a record onto it.
    store.append(RECORDS[3])
    assert ids(store.records()) == ["a", "b", "c", "d"]
    assert (store.directory / "trials.torn").read_bytes() == b'{"id": "zz", "status": "o\n'
    assert store.repair() == 0 and store.trials_path.read_bytes().endswith(b"\n")
    env = json.loads((store.directory / "environment.json").read_text())
    assert env["packages"]["torch"] and env["hardware"]["cpus"] == os.cpu_count()
    assert (store.directory / "spec.yaml").read_text() == "name: x\n"


def test_reads_parse_only_what_was_appended(tmp_path, monkeypatch):
    """The live view reads the store at every refresh: each read parses the records appended since
    the last one, not the whole campaign; a file cut shorter (or replaced) is read again whole."""
    store = CampaignStore(tmp_path / "campaign")
    store.directory.mkdir()
    parsed = []
    real = TrialRecord.from_json
    monkeypatch.setattr(TrialRecord, "from_json", lambda data: parsed.append(data["id"]) or real(data))
    for r in RECORDS[:3]:
        store.append(r)
    assert ids(store.records()) == ["a", "b", "c"] and parsed == ["a", "b", "c"]
    store.append(RECORDS[3])
    assert ids(store.latest()) == ["a", "b", "c", "d"] and parsed == ["a", "b", "c", "d"]
    assert ids(store.records()) == ["a", "b", "c", "d"] and len(parsed) == 4  # nothing new: nothing parsed
    lines = store.trials_path.read_text().splitlines(keepends=True)
    store.trials_path.write_text("".join(lines[:2]))
    assert ids(store.records()) == ["a", "b"] and parsed[4:] == ["a", "b"]


def test_report_files(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\n")
    store = CampaignStore(tmp_path / "c1")
    store.create(str(spec), {"name": "c1"})
    for r in RECORDS:
        store.append(r)
    paths = write_report([store.directory])
    rows = list(csv.DictReader(paths["csv"].open()))
    # Only full-budget points rank: h was stopped early and is listed apart.
    assert [row["id"] for row in rows] == ["a", "b", "d"]
    assert rows[0]["point"] == "Baseline: no GE" and rows[0]["val_err_%"] == "10.00"  # one seed, no noise
    assert rows[0]["test_err_%"] == "50.00" and rows[0]["seeds"] == "1†" and rows[0]["p_front"] == "1.00"
    trials = list(csv.DictReader(paths["trials"].open()))
    assert len(trials) == len(RECORDS) and trials[5]["status"] == "failed"
    assert paths["plot"].stat().st_size > 10_000
    text = paths["markdown"].read_text()
    assert "## Pareto front (full budget): val_error vs gmacs" in text
    assert "## Stopped early by the scheduler (lower fidelity: not ranked)" in text
    assert "| no GE | h | None | 1 | 20.00 |" in text and "Seed noise unknown" in text


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
    assert (out / "hypervolume.png").stat().st_size > 10_000  # both campaigns' histories overlaid
    assert "c1: Hypervolume of the full-budget front" in (out / "pareto.md").read_text()
    rows = list(csv.DictReader((out / "pareto.csv").open()))
    # Each campaign's own front (c2: e beats d on parameters at equal error).
    assert [(row["campaign"], row["id"]) for row in rows] == [("c1", "a"), ("c1", "b"), ("c2", "e")]
    capsys.readouterr()
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "not a campaign directory" in capsys.readouterr().err


def test_describe_points():
    point = {"ge.placement.stages": (2, 3), "ge.gather.op": "dwconv", "ge.gather.extent": 4,
             "ge.excite.interp": "bilinear", "ge.excite.gate": "hard_sigmoid", "ge.excite.mlp": "se",
             "ge.excite.reduction": 8}
    assert describe(point) == "dwconv e=4, bilinear, hard sigmoid, SE r=8, stages 2,3"
    assert describe({**point, "ge.gather.op": "pool", "ge.gather.pool": "avg", "ge.gather.extent": "global",
                     "ge.excite.interp": "nearest", "ge.excite.gate": "sigmoid", "ge.excite.mlp": "none"}
                    ) == "avg pool global, stages 2,3"
    assert describe({"ge.placement.stages": ()}) == "no GE"


def test_labels_name_the_training_knobs_that_differ_between_points():
    base = {"ge.placement.stages": (), "train.lr": 0.1, "train.epochs": 5}
    records = [dataclasses.replace(record("a", 0.1, 1.0, 1.0, name="baseline"), point=base),
               dataclasses.replace(record("b", 0.1, 1.0, 1.0), point={**base, "train.lr": 0.05})]
    label = labeller(records)
    assert [label(r) for r in records] == ["Baseline: no GE, lr 0.1", "no GE, lr 0.05"]
    assert labeller(records[:1])(records[0]) == "Baseline: no GE"  # nothing differs: the design alone


def test_replica_table_is_mean_and_sample_std_over_seeds(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\n")
    runs = {0: [("a", 0.10, 0.20), ("b", 0.08, 0.09)], 1: [("a", 0.12, 0.30), ("b", 0.10, None)],
            2: [("a", 0.14, 0.40)]}  # b failed under seed 2: it has two replicas
    for seed, rows in runs.items():
        store = CampaignStore(tmp_path / f"s{seed}")
        store.create(str(spec), {"name": f"s{seed}"})
        for pid, val, test in rows:
            store.append(dataclasses.replace(
                record(pid, val, 1.0, 2.0, name="baseline" if pid == "a" else None, test=test), seed=seed))
        store.append(dataclasses.replace(record("f", None, 1.0, 2.0, status="failed"), seed=seed))
    assert main(["report", str(tmp_path / "s0"), "--replicas", str(tmp_path / "s1"), str(tmp_path / "s2"),
                 "--out", str(tmp_path / "out")]) == 0
    rows = list(csv.DictReader((tmp_path / "out" / "replicas.csv").open()))
    assert [(r["point"], r["seeds"]) for r in rows] == [("Baseline: no GE", "0,1,2"), ("no GE", "0,1")]
    assert rows[0]["val_err_%"] == "12.00 ± 2.00" and rows[0]["test_err_%"] == "30.00 ± 10.00"
    assert rows[1]["val_err_%"] == "9.00 ± 1.41" and rows[1]["test_err_%"] == "9.00"
    assert rows[0]["params_m"] == "2.000" and rows[0]["gmacs"] == "1.0000"
    assert "3 replicas: mean ± std" in (tmp_path / "out" / "replicas.md").read_text()
    assert (tmp_path / "out" / "hypervolume-replicas.png").stat().st_size > 10_000  # mean and band


def test_torn_file_of_one_fragment_and_no_newline(tmp_path):
    store = CampaignStore(tmp_path)
    store.trials_path.write_bytes(b'{"id": "a", "sta')
    assert store.records() == [] and store.repair() == 16
    assert store.trials_path.read_bytes() == b""
    store.append(RECORDS[0])
    assert ids(store.records()) == ["a"]


def test_a_corrupt_complete_line_is_named(tmp_path):
    store = CampaignStore(tmp_path)
    store.append(RECORDS[0])
    with open(store.trials_path, "ab") as handle:
        handle.write(b'{"id": "x", "status": "exploded", "point": {}}\n')
    with pytest.raises(CorruptRecords, match=r"trials.jsonl:2: not a trial record \(unknown status 'exploded'"):
        store.records()
    store.trials_path.write_bytes(b'[1, 2]\n')
    with pytest.raises(CorruptRecords, match=r"trials.jsonl:1: .*not a JSON object"):
        store.records()
    store.trials_path.write_bytes(b'{"schema": 99, "id": "a", "status": "ok", "point": {}}\n')
    with pytest.raises(CorruptRecords, match="record schema 99; this gespace reads up to 3"):
        store.records()


def test_schema_1_records_are_upgraded():
    """Schema 1 stored val_error 1.0 (and a repeated last epoch) for trials that did not finish."""
    old = {"id": "p", "name": None, "point": {"train.epochs": 3}, "status": "diverged", "val_error": 1.0,
           "best_val_error": 0.4, "test_error": None, "cost": {"gmacs": 0.1, "params_m": 0.2},
           "epochs": [{"epoch": 1, "val_error": 0.5}, {"epoch": 2, "val_error": 0.4},
                      {"epoch": 2, "val_error": 1.0}], "seed": 0, "trial_id": "t", "order": 3}
    record = TrialRecord.from_json(old)
    assert record.val_error is None and record.best_val_error == 0.4 and record.epochs_done == 2
    assert record.budget == 3 and record.schema == 2 and not record.measured
    assert record.cost == CostFigures(gmacs=0.1, params_m=0.2)
    ok = TrialRecord.from_json({**old, "status": "ok", "val_error": 0.3, "epochs": old["epochs"][:2]})
    assert ok.val_error == 0.3 and ok.measured and ok.objective("gmacs") == 0.1
    assert TrialRecord.from_json(record.to_json()) == record


def test_committed_campaigns_still_load():
    """Every campaign under results/ (written with record schemas 1 to 3) reads as records."""
    from pathlib import Path

    directories = [p.parent for p in Path(__file__).resolve().parents[1].glob("results/**/campaign.json")]
    assert len(directories) >= 5
    for directory in directories:
        records = CampaignStore(directory).records()
        assert records and all(2 <= r.schema <= SCHEMA for r in records)
        assert all((r.val_error is not None) == r.measured for r in records)


def test_one_driver_per_campaign(tmp_path):
    """A second driver is refused naming the first; the lock goes with its holder."""
    import subprocess
    import sys
    import textwrap

    from search.store import CampaignBusy

    store = CampaignStore(tmp_path / "c")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from search.store import CampaignStore, CorruptRecords
        with CampaignStore({str(store.directory)!r}).lock():
            print("locked", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(CampaignBusy, match=rf"is being run by pid {holder.pid} on .* since"):
            with store.lock():
                pass
    finally:
        holder.kill()  # SIGKILL: no clean-up runs, the kernel drops the lock
        holder.wait()
    with store.lock():
        with pytest.raises(CampaignBusy, match=f"pid {os.getpid()}"):
            with CampaignStore(store.directory).lock():  # also within one process
                pass


def run(pid: str, seed: int, val: float, gmacs: float, name: str | None = None, phase: str = "search"
        ) -> TrialRecord:
    """A full-budget record of ``pid`` under ``seed`` (parameters in millions = GMACs)."""
    return dataclasses.replace(record(pid, val, gmacs, gmacs, name=name), seed=seed, phase=phase)


def campaign_of(tmp_path, records: list[TrialRecord]) -> CampaignStore:
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\n")
    store = CampaignStore(tmp_path / "c")
    store.create(str(spec), {"name": "c"})
    for r in records:
        store.append(r)
    return store


def test_confirmation_reuses_the_anchors_search_runs(tmp_path):
    """A confirmation that trained only the chosen point: its table holds the anchors' search runs,
    and the point, sharing no seed with them, is compared by Welch's t, the family Holm-adjusted.
    Numbers by hand."""
    store = campaign_of(tmp_path, [run("base", 0, 0.10, 1.0, "baseline"), run("base", 1, 0.12, 1.0, "baseline"),
              run("se", 0, 0.08, 2.0, "se"), run("se", 1, 0.09, 2.0, "se"), run("p", 0, 0.05, 3.0),
              run("p", 1000, 0.06, 3.0, phase="confirm"), run("p", 1001, 0.065, 3.0, phase="confirm")])
    paths = write_report([store.directory], objectives=["val_error", "gmacs"])
    confirmed = {row["id"]: row for row in csv.DictReader(paths["confirmed"].open())}
    assert set(confirmed) >= {"base", "p"} and confirmed["p"]["seeds"] == "2"
    # Welch, p - base: .0625 - .11, variance .0000125/2 + .0002/2, Satterthwaite df; p - se likewise.
    def welch(mean, var_p, var_ref):
        v = var_p / 2 + var_ref / 2
        df = v ** 2 / ((var_p / 2) ** 2 + (var_ref / 2) ** 2)
        return 2 * stats.t.sf(abs(mean) / math.sqrt(v), df)
    p_base, p_se = welch(-0.0475, 0.0000125, 0.0002), welch(-0.0225, 0.0000125, 0.00005)
    first = min(1, 2 * min(p_base, p_se))  # Holm: the smaller p times 2, the larger at least that
    holm = {p_base: first, p_se: first} | {max(p_base, p_se): max(first, max(p_base, p_se))}
    verdicts = list(csv.DictReader((tmp_path / "c" / "confirmed-comparisons.csv").open()))
    assert [(c["reference"], c["seeds"], c["diff_pp"].split()[0], c["by"]) for c in verdicts] == [
        ("Baseline", "2 vs 2", "-4.75", "Holm; Welch"), ("SE", "2 vs 2", "-2.25", "Holm; Welch")]
    assert [float(c["p"]) for c in verdicts] == pytest.approx([p_base, p_se], abs=6e-4)
    assert [float(c["p_adj"]) for c in verdicts] == pytest.approx([holm[p_base], holm[p_se]], abs=6e-4)
    assert all(c["verdict"].startswith("not resolved (about") for c in verdicts)


def test_report_tables_fit_80_columns_with_labels_not_ids(tmp_path):
    """Printed at 80 columns: no line longer, every key column's header, numbers whole, the
    design in words and no id column; at 200 columns the id comes back."""
    point = {"ge.placement.stages": (2, 3, 4), "ge.gather.op": "dwconv", "ge.gather.extent": 4,
             "ge.excite.interp": "bilinear", "ge.excite.gate": "hard_sigmoid", "ge.excite.mlp": "se",
             "ge.excite.reduction": 16}
    records = [dataclasses.replace(record("base", v, 0.031, 0.031, name="baseline"), seed=s, test_error=v)
               for s, v in ((0, 0.305), (1, 0.31))]
    records += [dataclasses.replace(record("abcdef123456", 0.2512, 0.0322, 0.0322), seed=0, point=point,
                                    test_error=0.2498)]
    sections, _ = campaign_sections("c", records, ["val_error", "gmacs"], False)

    def printed(width: int) -> str:
        out = io.StringIO()
        console = Console(file=out, width=width, force_terminal=False, color_system=None)
        for section in sections:
            print_section(section, console)
        return out.getvalue()

    text = printed(80)
    assert max(len(line) for line in text.splitlines()) <= 80
    header = next(line for line in text.splitlines() if "p_front" in line)
    for column in ("point", "seeds", "val_err_%", "p_front", "p_best", "test_err_%", "gmacs"):
        assert column in header
    assert "params_m" not in header and "at this width params_m are left out" in text
    assert "id" not in header.split() and "abcdef123456" not in text
    assert "30.75 ±" in text and "25.12 ±" in text and "24.98 ±" in text and "0.0322" in text
    assert "dwconv e=4," in text and "Baseline: no GE" in text
    wide = printed(200)
    assert "abcdef123456" in wide and "params_m" in wide and "left out" not in wide


def test_report_with_seeds_intervals_comparisons_and_confirmation(tmp_path, capsys):
    """Every number below is computed by hand from the records (see the comments)."""
    store = campaign_of(tmp_path, [run("base", 0, 0.10, 1.0, "baseline"), run("base", 1, 0.12, 1.0, "baseline"),
              run("se", 0, 0.08, 2.0, "se"), run("se", 1, 0.09, 2.0, "se"), run("p", 0, 0.05, 3.0),
              run("base", 1000, 0.10, 1.0, "baseline", "confirm"),
              run("base", 1001, 0.11, 1.0, "baseline", "confirm"),
              run("se", 1000, 0.08, 2.0, "se", "confirm"), run("se", 1001, 0.085, 2.0, "se", "confirm"),
              run("p", 1000, 0.06, 3.0, phase="confirm"), run("p", 1001, 0.065, 3.0, phase="confirm")])
    paths = write_report([store.directory], objectives=["val_error", "gmacs"])
    # Search noise: var(.10, .12) = .0002, var(.08, .09) = .00005 -> sigma = sqrt(.000125) on 2 df;
    # t(.975, 2) = 4.302653. Baseline: .11 +- 4.302653 * sigma / sqrt 2 = 3.40 pp.
    front = {row["id"]: row for row in csv.DictReader(paths["csv"].open())}
    assert list(front) == ["base", "se", "p"]
    assert front["base"]["val_err_%"] == "11.00 ± 3.40" and front["base"]["seeds"] == "2"
    assert front["p"]["val_err_%"] == "5.00 ± 4.81" and front["p"]["seeds"] == "1†"  # sigma, one seed
    comparisons = list(csv.DictReader(paths["comparisons"].open()))
    # Blocked model (point + seed): base and se under seeds 0 and 1 leave one residual df, the 2x2
    # interaction (.12 - .10) - (.09 - .08) = .01, residuals +-.0025: sigma .005. Seed 0's effect
    # ((.10 - .11) + (.08 - .085)) / 2 = -.0075, so p (seed 0 only) is .05 + .0075 = .0575 on the
    # average seed: p - base = -.0525, p - se = -.0275, each with variance sigma^2 (1 + 3/4) (p's
    # own run, and a 2x2 additive fit's fitted value). Holm over the two.
    stderr = 0.005 * math.sqrt(1.75)
    raw = [2 * stats.t.sf(0.0525 / stderr, 1), 2 * stats.t.sf(0.0275 / stderr, 1)]
    assert [(c["reference"], c["seeds"], c["diff_pp"].split()[0], c["by"]) for c in comparisons] == [
        ("Baseline", "1", "-5.25", "Holm; blocked model"), ("SE", "1", "-2.75", "Holm; blocked model")]
    assert [float(c["p"]) for c in comparisons] == pytest.approx(raw, abs=6e-4)
    assert [float(c["p_adj"]) for c in comparisons] == pytest.approx([2 * raw[0], 2 * raw[0]], abs=6e-4)
    assert all(c["verdict"].startswith("not resolved (about") for c in comparisons)
    # Confirmed: sigma = sqrt((.00005 + .0000125 + .0000125) / 3) = .005 on 3 df; t(.975, 3) = 3.182446.
    confirmed = {row["id"]: row for row in csv.DictReader(paths["confirmed"].open())}
    assert confirmed["p"]["val_err_%"] == "6.25 ± 1.13" and confirmed["p"]["seeds"] == "2"
    verdicts = list(csv.DictReader((tmp_path / "c" / "confirmed-comparisons.csv").open()))
    # These records have no test error: validation judges. A complete 3 x 2 block design: the row
    # differences .01, .005, .005 leave residuals +-(d - d_mean) / 2, SS 8.333e-6 on 2 df; a
    # difference's stderr sqrt(2 sigma^2 / 2) = sigma. p - base = -.0425, p - se = -.02.
    d_mean = 0.02 / 3
    sigma = math.sqrt(2 * (((0.01 - d_mean) / 2) ** 2 + 2 * ((0.005 - d_mean) / 2) ** 2) / 2)
    assert sigma == pytest.approx(0.0020412, rel=1e-4)
    raw = [2 * stats.t.sf(0.0425 / sigma, 2), 2 * stats.t.sf(0.02 / sigma, 2)]
    assert [(c["reference"], c["seeds"], c["diff_pp"].split()[0], c["verdict"]) for c in verdicts] == [
        ("Baseline", "2", "-4.25", "better"), ("SE", "2", "-2.00", "better")]
    assert [float(c["p"]) for c in verdicts] == pytest.approx(raw, abs=6e-4)
    assert [float(c["p_adj"]) for c in verdicts] == pytest.approx([2 * raw[0], max(2 * raw[0], raw[1])], abs=6e-4)
    text = paths["markdown"].read_text()
    assert "Seed noise (pooled within-point std of validation error): 1.12 pp, 2 df from 2 points" in text
    assert "## Confirmed (full budget; chosen points under fresh seeds): val_error vs gmacs" in text
    assert "2 of 2 comparisons resolved" in text
    # Power on the confirmed noise: (t(.975, 3) + t(.8, 3)) * .005 * sqrt(2 / 2) = (3.1824 + .9785) * .5 pp.
    assert "with 2 common seeds a paired comparison resolves a true difference of 2.08 pp" in text
    assert "resolving 0.5 pp needs 35 seeds, 1 pp needs 9" in text  # ceil(2 (4.1609 * .005 / .005)^2) = 35
