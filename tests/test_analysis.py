"""The paper's analyses (selectivity, pruning) and EDF comparisons, on hand-set inputs with known answers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from gespace.analysis.edf import bootstrap_band, cost_weights, edf_at, edf_curves, ks_statistic
from gespace.analysis.prune import prune_curve, prune_mask, pruned_accuracy
from gespace.analysis.selectivity import ClassMeans, selectivity_index, stage_selectivity
from gespace.builder import build_model
from gespace.grammar import load_space


# --- selectivity ------------------------------------------------------------------------------
def test_selectivity_known_units():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    features = torch.zeros(6, 4, 2, 2)
    features[labels == 1, 0] = 3.0        # fires for class 1 only -> 1
    features[:, 1] = 2.0                  # the same for every class -> 0
    features[labels == 0, 2] = 4.0        # class 0: 4, class 1: 2, class 2: 0 -> (4 - 1) / (4 + 1)
    features[labels == 1, 2] = 2.0
    features[:, 3] = -1.0                 # negative before ReLU: dead
    means = ClassMeans(3)
    means.add(features[:3], labels[:3])   # streamed in two batches
    means.add(features[3:], labels[3:])
    index, dead = selectivity_index(means.means())
    assert index[0] == 1.0 and index[1] == 0.0 and index[2] == pytest.approx(0.6)
    assert dead.tolist() == [False, False, False, True] and torch.isnan(index[3])


def test_stage_selectivity_hooks_every_block():
    space = load_space("spaces/fashion-demo.yaml")
    model = build_model({**space.anchor("ge-theta"), "backbone.depth": 8})
    torch.manual_seed(0)
    batches = [(torch.randn(16, 1, 28, 28), torch.arange(16) % 10) for _ in range(2)]
    result = stage_selectivity(model, batches, stage=4, num_classes=10)
    assert [r.name for r in result] == ["stage4.0"]
    assert result[0].index.shape == (64,) and bool(((result[0].alive >= 0) & (result[0].alive <= 1)).all())
    with pytest.raises(ValueError, match="no stage 5"):
        stage_selectivity(model, batches, stage=5, num_classes=10)


# --- pruning ----------------------------------------------------------------------------------
def test_prune_mask_orders():
    importance = torch.tensor([[0.1, 0.9, 0.5, 0.3]])
    assert prune_mask(importance, 0.5, "asc").tolist() == [[0, 1, 1, 0]]
    assert prune_mask(importance, 0.5, "desc").tolist() == [[1, 0, 0, 1]]
    assert prune_mask(importance, 0.0, "asc").tolist() == [[1, 1, 1, 1]]
    assert prune_mask(importance, 1.0, "desc").tolist() == [[0, 0, 0, 0]]


class _Zero(nn.Module):
    def forward(self, x):
        return torch.zeros_like(x)


def test_prune_ratio_one_leaves_only_the_identity_path():
    space = load_space("spaces/fashion-demo.yaml")
    model = build_model({**space.anchor("ge-theta"), "backbone.depth": 8}, seed=1).eval()
    torch.manual_seed(0)
    x = torch.randn(32, 1, 28, 28)
    logits = model(x)
    y = logits.argmax(1)  # labels the unpruned model gets all right
    batches = [(x, y)]
    assert pruned_accuracy(model, batches, "stage3.0", 0.0) == 1.0
    model.stage3[0].ge = _Zero()  # drop the residual branch by hand
    expected = model(x).argmax(1).eq(y).float().mean().item()
    model = build_model({**space.anchor("ge-theta"), "backbone.depth": 8}, seed=1).eval()
    curve = prune_curve(model, batches, "stage3.0", [0.0, 0.5, 1.0], order="desc")
    assert curve[0] == (0.0, 1.0) and curve[2] == (1.0, expected)
    baseline = build_model({**space.anchor("baseline"), "backbone.depth": 8}, seed=1).eval()
    with pytest.raises(ValueError, match="only ratios 0 and 1"):
        pruned_accuracy(baseline, batches, "stage3.0", 0.5)
    with pytest.raises(ValueError, match="no block 'stage9.0'"):
        pruned_accuracy(model, batches, "stage9.0", 0.5)


# --- EDFs -------------------------------------------------------------------------------------
def test_edf_is_exact_on_known_errors():
    errors = [0.4, 0.1, 0.3, 0.2]
    assert edf_at(errors, [0.05, 0.1, 0.25, 0.4, 0.5]).tolist() == [0.0, 0.25, 0.5, 1.0, 1.0]
    assert edf_at(errors, [0.25], weights=[1, 1, 1, 5]).tolist() == [pytest.approx(6 / 8)]


def test_ks_statistic():
    a = [0.1, 0.2, 0.3, 0.4]
    assert ks_statistic(a, a) == 0.0
    assert ks_statistic(a, [0.5, 0.6]) == 1.0
    assert ks_statistic(a, [0.15, 0.25, 0.35, 0.45]) == pytest.approx(0.25)


def test_bootstrap_band_brackets_the_edf():
    rng = np.random.default_rng(0)
    errors = rng.uniform(0.1, 0.3, 200)
    grid = np.linspace(0.1, 0.3, 21)
    low, high = bootstrap_band(errors, grid, samples=300)
    edf = edf_at(errors, grid)
    assert np.all(low <= edf + 1e-12) and np.all(edf <= high + 1e-12)
    assert np.max(high - low) < 0.2  # about 4 standard errors of a proportion at n = 200


def test_cost_weights_match_the_pooled_cost_distribution():
    costs = {"cheap": [1, 1, 1, 2, 4], "dear": [2, 4, 4, 4, 4, 4]}
    weights = cost_weights(costs, bins=3)
    pooled = np.log(np.concatenate([costs["cheap"], costs["dear"]]))
    edges = np.linspace(pooled.min(), pooled.max(), 4)
    # 'dear' has no model in the cheapest bin: it matches the pooled shares of the other two.
    expected = {"cheap": [3 / 11, 2 / 11, 6 / 11], "dear": [0, 2 / 8, 6 / 8]}
    for group, values in costs.items():
        index = np.clip(np.searchsorted(edges, np.log(values), side="right") - 1, 0, 2)
        reweighted = np.bincount(index, weights=weights[group], minlength=3)
        assert reweighted == pytest.approx(expected[group])
    curves = edf_curves({"a": [0.1, 0.2], "b": [0.3]}, points=5, samples=20)
    assert [c.count for c in curves] == [2, 1] and curves[1].edf.tolist() == [0, 0, 0, 0, 1]


# --- the analyze commands, end to end on tiny trained points ---------------------------------
@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    from gespace.train import train

    out = tmp_path_factory.mktemp("runs")
    space = load_space("spaces/fashion-demo.yaml")
    small = {"backbone.depth": 8, "backbone.image_size": 16, "train.dataset": "synthetic", "train.epochs": 1,
             "train.batch_size": 64}
    paths = {}
    for name in ("ge-theta", "baseline"):
        result = train(space.canonicalise({**space.anchor(name), **small}), out_dir=out / name,
                       progress=False, threads=1)
        assert result.status == "ok"
        paths[name] = result.checkpoint
    return paths


def test_analyze_selectivity_and_prune_commands(checkpoints, tmp_path, capsys):
    import csv

    from gespace.cli import main
    from gespace.train import evaluate

    assert main(["analyze", "selectivity", checkpoints["ge-theta"], "--baseline", checkpoints["baseline"],
                 "--stage", "3", "--out", str(tmp_path)]) == 0
    rows = list(csv.DictReader((tmp_path / "selectivity.csv").open()))
    assert [(r["block"], int(r["units"])) for r in rows] == [("stage3.0", 32), ("stage3.0", 32)]
    assert all(0 <= float(r["median"]) <= 1 for r in rows) and (tmp_path / "selectivity.png").exists()

    assert main(["analyze", "prune", checkpoints["ge-theta"], "--block", "stage4.0", "--ratios", "0,0.5,1",
                 "--baseline", checkpoints["baseline"], "--out", str(tmp_path)]) == 0
    rows = list(csv.DictReader((tmp_path / "prune.csv").open()))
    accuracy = 1 - evaluate(checkpoints["ge-theta"], "test", device="cpu")["top1_error"]
    curves = {(r["model"], r["order"], float(r["ratio"])): float(r["accuracy"]) for r in rows}
    ge_id = rows[0]["model"]
    # Ratio 0 is the plain model: `gespace eval`'s accuracy, up to a prediction or two that bf16
    # autocast (the checkpoint's precision) flips between memory layouts.
    assert curves[(ge_id, "asc", 0.0)] == curves[(ge_id, "desc", 0.0)] == pytest.approx(accuracy, abs=0.005)
    assert curves[(ge_id, "asc", 1.0)] == curves[(ge_id, "desc", 1.0)]  # both drop the whole branch
    assert len(rows) == 3 * 2 + 2
    capsys.readouterr()
    assert main(["analyze", "prune", checkpoints["ge-theta"], "--block", "stage7.0"]) == 2
    assert "no block 'stage7.0'" in capsys.readouterr().err


def test_analyze_edf_command(tmp_path, capsys):
    from gespace.cli import main
    from search.records import CostFigures, TrialRecord
    from search.store import CampaignStore

    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\n")
    store = CampaignStore(tmp_path / "c")
    store.create(str(spec), {"name": "c"})
    for i, (op, error) in enumerate([("pool", 0.10), ("pool", 0.20), ("pool", 0.30),
                                     ("dwconv", 0.05), ("dwconv", 0.15), ("dwconv", 0.25)]):
        store.append(TrialRecord(id=str(i), status="ok", val_error=error, cost=CostFigures(gmacs=1.0 + i),
                                 point={"ge.gather.op": op}))
    assert main(["analyze", "edf", str(store.directory), "--by", "ge.gather.op", "--bootstrap", "50",
                 "--out", str(tmp_path)]) == 0
    text = (tmp_path / "edf.csv").read_text()
    assert "op=pool,3,0.100000,0.200000" in text and "op=dwconv,3,0.050000,0.150000" in text
    assert "op=pool,op=dwconv,0.333333" in text  # KS of two shifted 3-point EDFs
    assert (tmp_path / "edf.png").exists()


def test_edf_at_an_epoch_counts_early_stopped_sampled_trials(tmp_path):
    """--epoch 1 --sampled: every sampled trial of the search that reached epoch 1 (stopped ones too)
    by its error there; anchors, the calibration cohort, confirmation repeats and failed trials left
    out; placements as labels."""
    from search.edf_report import groups_of
    from search.records import TrialRecord

    def trial(pid, status, errors, stages=(2, 3), **extra):
        return TrialRecord(id=pid, status=status, point={"ge.placement.stages": stages},
                           epochs=[{"epoch": e + 1, "val_error": v} for e, v in enumerate(errors)],
                           val_error=errors[-1] if status in ("ok", "stopped") else None, **extra)

    records = [trial("a", "ok", [0.30, 0.20]), trial("b", "stopped", [0.40]), trial("c", "failed", [0.35]),
               trial("d", "ok", [0.25, 0.15], stages=()), trial("e", "ok", [0.5, 0.1], name="baseline"),
               trial("f", "ok", [0.6, 0.2], calibration=True), trial("a", "ok", [0.3, 0.2], seed=1000, phase="confirm")]
    groups = groups_of([("c", records)], "ge.placement.stages", epoch=1, sampled=True)
    assert {label: [(r.id, e) for r, e in members] for label, members in groups.items()} == {
        "stages=2,3": [("a", 0.30), ("b", 0.40)], "stages=none": [("d", 0.25)]}
    # Without --epoch: fully trained trials at the end, anchors included.
    ended = groups_of([("c", records)], None)
    assert [(r.id, e) for r, e in ended["c"]] == [("a", 0.20), ("d", 0.15), ("e", 0.1), ("f", 0.2), ("a", 0.2)]
