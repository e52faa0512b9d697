"""Knob effects (search.effects) recover what was planted in synthetic records, and the ablation
searcher's points are exactly the one-knob neighbourhood of an anchor (search.ablation)."""
from __future__ import annotations

import random
import textwrap

import pytest

from gespace.grammar import PointError, load_space, point_id
from search.ablation import change_label, one_knob_changes
from search.effects import knob_effects
from search.effects import level_of as effects_level
from search.records import CostFigures, TrialRecord

SPEC = """\
name: effects
backbone: {arch: cifar_resnet, depth: 8, width: 4, in_channels: 1, image_size: 16, num_classes: 10}
ge:
  placement: {stages: {choice: [[], all], default: all}}
  gather:
    op: {choice: [pool, dwconv]}
    extent: {choice: [2, 4, global], default: global}
  excite:
    interp: {choice: [nearest, bilinear]}
    gate: {choice: [sigmoid, hard_sigmoid]}
    mlp: {choice: [none, se]}
    reduction: {choice: [2, 4], default: 2}
train: {dataset: synthetic, epochs: 2}
anchors:
  baseline: {ge.placement.stages: []}
  ge-theta: {ge.gather.op: dwconv}
  ge-local: {ge.gather.op: dwconv, ge.gather.extent: 4}
"""


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    path = tmp_path_factory.mktemp("effects") / "effects.yaml"
    path.write_text(textwrap.dedent(SPEC))
    return load_space(str(path))


def records_of(space, truth, seeds=3, noise=0.002, seed_sd=0.003, rng=None):
    """Every point of the space under ``seeds`` seeds: error = truth(point) + the seed's effect +
    noise; costs from the point (dwconv +10% MACs, SE +5% parameters)."""
    rng = rng or random.Random(0)
    effects = [rng.gauss(0, seed_sd) for _ in range(seeds)]
    records = []
    for point in space.enumerate():
        ge = bool(point.get("ge.placement.stages"))
        cost = CostFigures(gmacs=1.0 * (1.1 if ge and point["ge.gather.op"] == "dwconv" else 1.0),
                           params_m=1.0 * (1.05 if ge and point["ge.excite.mlp"] == "se" else 1.0))
        for seed in range(seeds):
            error = truth(point) + effects[seed] + rng.gauss(0, noise)
            records.append(TrialRecord(id=point_id(point), status="ok", point=dict(point), name=None, seed=seed,
                                       phase="search", cost=cost, val_error=error, test_error=error, budget=2,
                                       epochs=[{"epoch": 1, "val_error": error}, {"epoch": 2, "val_error": error}]))
    return records


def planted(point):
    """dwconv lowers the error by 1 pp, SE by 0.5 pp, and together by 1 pp more; the extent, the
    gate and the interpolation do nothing; no GE at all costs 2 pp."""
    if not point.get("ge.placement.stages"):
        return 0.10
    dwconv, se = point["ge.gather.op"] == "dwconv", point["ge.excite.mlp"] == "se"
    return 0.08 - 0.01 * dwconv - 0.005 * se - 0.01 * (dwconv and se)


def effect(found, knob, level):
    return next(e for e in found.levels if e.knob == knob and e.level == level)


def test_a_planted_effect_is_found_and_a_null_knob_covers_zero(space):
    found = knob_effects(space, records_of(space, planted))
    # Main effects of the additive model, at the other knobs' reference levels (pool, no SE).
    dwconv = effect(found, "ge.gather.op", "dwconv")
    assert dwconv.reference == "pool" and dwconv.verdict.verdict == "better"
    gate = effect(found, "ge.excite.gate", "hard_sigmoid")
    low, high = gate.verdict.interval
    assert low < 0 < high and gate.verdict.verdict == "not resolved"
    for level in ("2", "4"):  # the extent: nothing planted, its interval (Holm over 2 levels) covers 0
        low, high = effect(found, "ge.gather.extent", level).verdict.interval
        assert low < 0 < high
    # No GE against the reference cell (pool, no SE); the planted interaction the additive model
    # leaves out widens the between-point error, and the contrast still clears 0.
    no_ge = effect(found, "ge.placement.stages", "[]")
    assert no_ge.verdict.verdict == "worse" and no_ge.verdict.interval[0] > 0.005
    assert found.references["ge.placement.stages"] == ("[2,3,4]", True)  # 'all', normalised, is the default
    assert dwconv.costs["gmacs"] == pytest.approx(10.0, abs=1e-6)  # log-cost model: exactly +10% MACs
    assert effect(found, "ge.excite.mlp", "se").costs["params_m"] == pytest.approx(5.0, abs=1e-6)
    # Inactive levels that coincide with another knob's level are said so, not estimated.
    assert "ge.excite.interp=inactive" not in [f"{e.knob}={e.level}" for e in found.levels]
    assert "ge.gather.op=inactive (= ge.placement.stages=[])" in found.unseparable


def test_the_error_is_between_points_as_ols_on_the_point_means_has_it(space):
    """Points whose truth departs from additivity at random, each under the same 3 seeds: the
    run-level model judged against the between-point error gives each contrast exactly the
    estimate, standard error and df of statsmodels' OLS on the point means (the nested design's
    analysis); the seeds' scatter alone would make it several times too narrow."""
    import numpy as np
    import statsmodels.api as sm

    rng = random.Random(3)
    departure = {point_id(p): rng.gauss(0, 0.004) for p in space.enumerate()}
    records = records_of(space, lambda p: planted(p) + departure[point_id(p)], noise=0.001, rng=rng)
    found = knob_effects(space, records)
    assert found.between_points and found.lack_of_fit.p < 1e-6

    means = {}
    for r in records:
        means.setdefault(r.id, (r.point, []))[1].append(r.val_error)
    ids = list(means)
    names = [f"{e.knob}={e.level}" for e in found.levels]
    design = np.column_stack([np.ones(len(ids))] + [
        np.array([effects_level(space, e.knob, means[pid][0]) == e.level for pid in ids], float)
        for e in found.levels])
    ols = sm.OLS(np.array([np.mean(means[pid][1]) for pid in ids]), design).fit()
    assert found.df == int(ols.df_resid)
    for k, e in enumerate(found.levels, start=1):
        assert e.verdict.test.estimate == pytest.approx(ols.params[k], abs=1e-12), names[k - 1]
        assert e.verdict.test.stderr == pytest.approx(ols.bse[k], rel=1e-9), names[k - 1]


def test_bad_records_and_continuous_knobs_are_left_out(space, tmp_path):
    records = records_of(space, planted)
    diverged = records[0].__class__(**{**records[0].__dict__, "seed": 9, "val_error": float("nan")})
    assert knob_effects(space, records + [diverged]).runs == len(records)  # a NaN error is no run
    path = tmp_path / "lr.yaml"
    path.write_text(textwrap.dedent(SPEC).replace("train: {dataset: synthetic, epochs: 2}",
                                                  "train: {dataset: synthetic, epochs: 2, lr: {float: [0.01, 1.0]}}"))
    lr_space = load_space(str(path))
    rng = random.Random(1)
    sampled = [{**r.point, "train.lr": round(rng.uniform(0.01, 1.0), 4)} for r in records[::3]]
    with_lr = [r.__class__(**{**r.__dict__, "point": sampled[k // 3]}) for k, r in enumerate(records)]
    found = knob_effects(lr_space, with_lr)
    assert "train.lr" not in {e.knob for e in found.levels}
    assert any(c.startswith("train.lr is continuous") for c in found.caveats)
    assert effect(found, "ge.gather.op", "dwconv").verdict.verdict == "better"


def test_a_planted_interaction_is_resolved_and_none_where_none_is_planted(space):
    found = knob_effects(space, records_of(space, planted))
    pairs = {(i.knob, i.other): i for i in found.interactions}
    assert pairs[("ge.gather.op", "ge.excite.mlp")].p_adjusted < 0.001
    assert all(i.against_points for i in pairs.values())  # the pairs leave point means unexplained: their error
    others = [i for key, i in pairs.items() if key != ("ge.gather.op", "ge.excite.mlp")]
    assert others and sum(i.p_adjusted < 0.05 for i in others) == 0
    additive = knob_effects(space, records_of(space, lambda p: planted(p) if not (
        p.get("ge.placement.stages") and p["ge.gather.op"] == "dwconv" and p["ge.excite.mlp"] == "se") else 0.065))
    assert all(i.p_adjusted > 0.05 for i in additive.interactions)  # 0.08 - 0.01 - 0.005: exactly additive


def test_importance_ranks_the_planted_knobs_first_and_caveats_name_thin_levels(space):
    found = knob_effects(space, records_of(space, planted), searcher="tpe", scheduler="mosha")
    ranked = sorted(found.importance, key=found.importance.get, reverse=True)
    assert set(ranked[:2]) <= {"ge.gather.op", "ge.excite.mlp", "ge.placement.stages"}
    assert any("tpe searcher" in c for c in found.caveats) and any("mosha" in c for c in found.caveats)
    thin = knob_effects(space, [r for r in records_of(space, planted) if r.point.get("ge.gather.extent") != 4
                                or r.point.get("ge.excite.gate") == "sigmoid" and r.point.get("ge.excite.mlp") == "none"
                                and r.point.get("ge.gather.op") == "pool" and r.point.get("ge.excite.interp") == "nearest"])
    assert any(c.startswith("ge.gather.extent=4: 1 point") for c in thin.caveats)


def test_the_ablation_is_exactly_the_one_knob_neighbourhood(space):
    """Around GE-θ (dwconv, global extent): placement none; pool; extents 2 and 4 (each switching
    the interpolation on at its default); hard sigmoid; SE (its reduction at the default, 2). The
    interpolation is inactive at a global extent, so it is not varied; around a local extent it is."""
    center = space.canonical_values(space.anchor("ge-theta"))
    changes = one_knob_changes(space, "ge-theta")
    labels = sorted(change_label(center, c.point) for c in changes)
    assert labels == sorted([
        "ge.placement.stages: [1,2,3] -> []".replace("[1,2,3]", "[" + ",".join(map(str, center["ge.placement.stages"])) + "]"),
        "ge.gather.op: dwconv -> pool (+ ge.gather.pool avg)",
        "ge.gather.extent: global -> 2 (+ ge.excite.interp nearest)",
        "ge.gather.extent: global -> 4 (+ ge.gather.depth 2, ge.excite.interp nearest)",
        "ge.excite.gate: sigmoid -> hard_sigmoid",
        "ge.excite.mlp: none -> se (+ ge.excite.reduction 2)"])
    # Each differs from the anchor in one chosen knob; every point is buildable and listed once.
    assert len({c.id for c in changes}) == len(changes) and point_id(center) not in {c.id for c in changes}
    assert all(not space.problems_of(c.point) for c in changes)
    local = [c.knob for c in one_knob_changes(space, "ge-local")]
    assert "ge.excite.interp" in local and local.count("ge.gather.extent") == 2  # 2 and global
    assert [c.knob for c in one_knob_changes(space, "ge-theta", ["ge.excite.gate"])] == ["ge.excite.gate"]
    with pytest.raises(Exception, match="--knobs ge.excite.gat: not a knob"):
        one_knob_changes(space, "ge-theta", ["ge.excite.gat"])
    with pytest.raises(PointError, match="--knobs ge.gather.depth: not declared in effects"):
        one_knob_changes(space, "ge-theta", ["ge.gather.depth"])
    with pytest.raises(PointError, match="--knobs ge.excite.interp: inactive at anchor ge-theta"):
        one_knob_changes(space, "ge-theta", ["ge.excite.interp"])
