"""The design-space grammar: conditions, canonical points, counting, sampling, errors."""
from __future__ import annotations

import random
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gespace.grammar import Condition, ConditionSyntaxError, PointError, SpecError, load_space, point_id
from gespace.vocab import KNOBS

SPACES = sorted(Path(__file__).resolve().parent.parent.joinpath("spaces").glob("*.yaml"))


def write_spec(tmp_path: Path, text: str, name: str = "spec.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


# --- conditions ------------------------------------------------------------------------------
@pytest.mark.parametrize("text, values, expected", [
    ("a.b == 'x'", {"a.b": "x"}, True),
    ("a.b != 'x'", {"a.b": "x"}, False),
    ("n < 3 and n >= 1", {"n": 2}, True),
    ("n < 3 and n >= 1", {"n": 3}, False),
    ("not n > 2 or m == 1", {"n": 5, "m": 1}, True),
    ("not (n > 2 or m == 1)", {"n": 5, "m": 1}, False),
    ("a or b and c", {"a": True, "b": False, "c": False}, True),  # and binds tighter
    ("(a or b) and c", {"a": True, "b": False, "c": False}, False),
    ("4 in s", {"s": (2, 4)}, True),
    ("4 not in s", {"s": (2, 4)}, False),
    ("s == []", {"s": ()}, True),
    ("s != [2, 3]", {"s": (2, 3)}, False),
    ("x in ['avg', 'max']", {"x": "max"}, True),
    ("e < 4", {"e": "global"}, False),  # mismatched types compare false
    ("f == true and g == null", {"f": True, "g": None}, True),
    ("lr <= 1e-1", {"lr": 0.1}, True),
])
def test_condition_semantics(text, values, expected):
    assert Condition(text).holds(values) is expected


def test_condition_names_and_missing_knob():
    condition = Condition("ge.excite.mlp == 'se' and (backbone.depth > 50 or 2 in ge.placement.stages)")
    assert condition.names == {"ge.excite.mlp", "backbone.depth", "ge.placement.stages"}
    assert not condition.holds({"ge.excite.mlp": "se", "ge.placement.stages": (2,)})  # depth absent


@pytest.mark.parametrize("text, offset", [
    ("a ==", 4), ("a == 'x' and", 12), ("(a == 1", 7), ("a === 1", 4),
    ("__import__('os').system('x')", 16), ("a ; b", 2), ("a == 1 b", 7),
])
def test_condition_syntax_errors_have_offsets(text, offset):
    with pytest.raises(ConditionSyntaxError) as info:
        Condition(text)
    assert info.value.offset == offset


# --- shipped spaces --------------------------------------------------------------------------
EXPECTED_COUNTS = {"fashion-demo": 1515, "fashion-answer": 1515, "paper-cifar": 15, "paper-resnet101": 10,
                   "paper-resnet50": 121, "paper-shufflenet": 17}


@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.stem)
def test_count_equals_enumeration(path):
    space = load_space(str(path))
    points = list(space.enumerate())
    ids = {point_id(p) for p in points}
    assert space.count() == len(points) == len(ids) == EXPECTED_COUNTS[path.stem]
    for name, anchor in space.anchors():
        assert point_id(anchor) in ids, name


def test_paper_anchors_are_the_papers_points():
    space = load_space("spaces/paper-resnet50.yaml")
    anchors = dict(space.anchors())
    assert anchors["baseline"]["ge.placement.stages"] == ()
    assert not any(k.startswith(("ge.gather", "ge.excite")) for k in anchors["baseline"])
    theta = anchors["ge-theta"]
    assert theta["ge.placement.stages"] == (2, 3, 4, 5)
    assert (theta["ge.gather.op"], theta["ge.gather.extent"], theta["ge.gather.depth"]) == ("dwconv", "global", 1)
    assert theta["ge.excite.mlp"] == "none" and "ge.gather.pool" not in theta
    plus = anchors["ge-theta-plus"]
    assert (plus["ge.excite.mlp"], plus["ge.excite.reduction"]) == ("se", 16)
    se = anchors["se"]
    assert (se["ge.gather.op"], se["ge.gather.pool"], se["ge.gather.extent"], se["ge.excite.mlp"]) == \
        ("pool", "avg", "global", "se")
    minus = anchors["ge-theta-minus"]
    assert (minus["ge.gather.op"], minus["ge.gather.pool"], minus["ge.excite.mlp"]) == ("pool", "avg", "none")
    assert anchors["ge-theta-stage3"]["ge.placement.stages"] == (3,)
    assert space.anchor("baseline")["backbone.style"] == "caffe"
    with pytest.raises(PointError, match="did you mean 'ge-theta'"):
        space.anchor("ge-thetaa")


def test_cifar_anchors_resolve_arch_defaults():
    anchors = dict(load_space("spaces/paper-cifar.yaml").anchors())
    assert anchors["baseline"]["backbone.depth"] == 110
    assert anchors["resnet164-ge-theta"]["backbone.depth"] == 164
    assert (anchors["wrn-16-8-se"]["backbone.depth"], anchors["wrn-16-8-se"]["backbone.widen"]) == (16, 8)
    assert "backbone.widen" not in anchors["baseline"]


# --- canonical points and ids ----------------------------------------------------------------
DEMO = load_space("spaces/fashion-demo.yaml")
DEMO_POINTS = list(DEMO.enumerate())
INACTIVE_JUNK = {"ge.gather.pool": ["avg", "max"], "ge.gather.depth": [1, 2, 3],
                 "ge.excite.interp": ["nearest", "bilinear"], "ge.excite.reduction": [4, 8, 16],
                 "ge.gather.op": ["pool", "dwconv"], "ge.gather.extent": [2, 4, 8, "global"],
                 "backbone.widen": [2, 10], "backbone.groups": [1, 8], "train.patience": [1, 9]}


@settings(max_examples=200, deadline=None)
@given(index=st.integers(0, len(DEMO_POINTS) - 1), seed=st.integers(0, 10**6))
def test_id_ignores_key_order_and_inactive_knobs(index, seed):
    point = DEMO_POINTS[index]
    rng = random.Random(seed)
    raw = dict(point)
    for key, values in INACTIVE_JUNK.items():
        if key not in point:  # only inactive knobs get junk
            raw[key] = rng.choice(values)
    items = list(raw.items())
    rng.shuffle(items)
    shuffled = dict(items)
    assert DEMO.canonicalise(shuffled) == point
    assert point_id(shuffled) == DEMO.point_id(shuffled) == point_id(point)


def test_same_network_same_id():
    base = DEMO.anchor("baseline")
    with_gather = {**base, "ge.gather.op": "dwconv", "ge.gather.extent": 4, "ge.excite.mlp": "se"}
    assert point_id(with_gather) == point_id(base)
    theta = DEMO.anchor("ge-theta")
    assert point_id({**theta, "ge.gather.depth": None}) == point_id(theta)  # depth unset = minimum
    assert point_id({**theta, "ge.placement.stages": "all"}) == point_id(theta)
    assert point_id({**theta, "ge.placement.stages": [4, 3, 2]}) == point_id(theta)
    assert point_id({**theta, "ge.gather.extent": 4}) != point_id(theta)


def test_canonicalise_rejects_bad_points():
    with pytest.raises(PointError, match="ge.gather.opp: unknown knob.*did you mean 'ge.gather.op'"):
        DEMO.canonicalise({"ge.gather.opp": "pool"})
    with pytest.raises(PointError, match="ge.excite.reduction: 32 is not in the space"):
        DEMO.canonicalise({"ge.excite.mlp": "se", "ge.excite.reduction": 32}, strict=True)
    with pytest.raises(PointError, match="expected an integer"):
        DEMO.canonicalise({"train.epochs": "ten"})


# --- sampling --------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["random", "sobol"])
def test_sampling_is_seeded(method):
    first = DEMO.sample(20, seed=7, method=method)
    assert first == DEMO.sample(20, seed=7, method=method)
    assert [point_id(p) for p in first] != [point_id(p) for p in DEMO.sample(20, seed=8, method=method)]
    ids = {point_id(p) for p in DEMO_POINTS}
    assert all(point_id(p) in ids for p in first)


def test_unique_sampling_exhausts_small_space():
    space = load_space("spaces/paper-resnet101.yaml")
    points = space.sample(50, seed=0, unique=True)
    assert len(points) == len({point_id(p) for p in points}) == 10


def test_random_sampling_is_uniform_over_active_choices():
    points = DEMO.sample(4000, seed=1)
    stages = Counter(p["ge.placement.stages"] for p in points)
    assert all(abs(n / 4000 - 0.25) < 0.03 for n in stages.values()) and len(stages) == 4
    active = [p for p in points if p["ge.placement.stages"] and p["ge.excite.mlp"] == "se"]
    reductions = Counter(p["ge.excite.reduction"] for p in active)
    assert all(abs(n / len(active) - 1 / 3) < 0.05 for n in reductions.values())
    assert all("ge.excite.reduction" not in p for p in points if p["ge.placement.stages"] == ())


def test_sobol_coverage_and_conditions(tmp_path):
    path = write_spec(tmp_path, """
        name: sobol
        backbone: {arch: cifar_resnet, depth: 20}
        ge:
          placement: {stages: all}
          gather:
            op: {choice: [pool, dwconv]}
            extent: {choice: [2, 4, 8, global]}
          excite:
            mlp: {choice: [none, se]}
            reduction: {choice: [2, 4, 8, 16]}
        train:
          lr: {float: [0.01, 1.0], log: true}
    """)
    space = load_space(path)
    assert space.count() is None  # a float range: continuous
    points = space.sample(256, seed=3, method="sobol")
    # A scrambled Sobol net stratifies each coordinate exactly at power-of-two sizes.
    assert Counter(p["ge.gather.extent"] for p in points) == {2: 64, 4: 64, 8: 64, "global": 64}
    assert Counter(p["ge.gather.op"] for p in points) == {"pool": 128, "dwconv": 128}
    lrs = sorted(p["train.lr"] for p in points)
    import math
    bins = Counter(min(int((math.log10(lr) + 2) / 2 * 8), 7) for lr in lrs)
    assert all(n == 32 for n in bins.values()) and len(bins) == 8
    for p in points:
        assert ("ge.excite.reduction" in p) == (p["ge.excite.mlp"] == "se")
        assert ("ge.gather.pool" in p) == (p["ge.gather.op"] == "pool")
    with pytest.raises(PointError, match="continuous"):
        list(space.enumerate())


# --- counting with conditions ----------------------------------------------------------------
def test_count_with_spec_conditions(tmp_path):
    path = write_spec(tmp_path, """
        name: cond
        backbone:
          arch: {choice: [cifar_resnet, wrn]}
          depth: {choice: [16, 20, 28]}
          widen: {choice: [2, 4], when: "backbone.depth < 28"}
        ge:
          placement: {stages: {choice: [[], [2], all]}}
          gather:
            extent: {choice: [2, global], when: "backbone.arch == 'wrn'"}
          when: "backbone.depth != 16"
    """)
    space = load_space(path)
    points = list(space.enumerate())
    assert space.count() == len(points) == len({point_id(p) for p in points})
    # cifar_resnet: depth 20 only (16, 28 are not 6n+2) x stages (1 + 2) = 3
    # wrn: depth 16 (6n+4; GE off there: stages default []) x widen 2 = 2;
    #      depth 28 x (1 + 2 stages x 2 extents) = 5 (widen fixed at its default)
    assert space.count() == 3 + 2 + 5


# --- errors ----------------------------------------------------------------------------------
def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_space(write_spec(tmp_path, text))
    return [str(p).split(":", 1)[1] for p in info.value.problems]


def test_parse_errors_all_at_once_with_positions(tmp_path):
    problems = problems_of(tmp_path, """\
        name: bad
        backbone:
          arch: cifar_resnett
          depht: 20
        ge:
          gather:
            op: {choice: []}
            extent: {choice: [2, 3, 2]}
            pool: {choice: [avg], when: "ge.gather.opp == 'pool'"}
          excite:
            reduction: {choice: [4, 8], when: "ge.excite.mlp == 'se' and"}
            mlp: {choice: [none, se], default: max}
        train:
          lr: {float: [0.5, 0.1]}
          epochs: {int: [1, 10], step: 0}
          batch_size: abc
          momentum: {float: [0, 0.5], log: true}
          weight_decay: {floot: [0, 1]}
        trainn: {}
        constraints:
          max_gflop: 3
        """)
    assert problems == [
        "3:9: backbone.arch: 'cifar_resnett' is not one of resnet, cifar_resnet, preact_resnet, wrn, "
        "shufflenet (did you mean 'cifar_resnet'?)",
        "4:3: backbone.depht: unknown knob (did you mean 'backbone.depth'?)",
        "7:18: ge.gather.op: choice needs a non-empty list of values",
        "8:26: ge.gather.extent: 3 is not one of 2, 4, 8, global",
        "8:29: ge.gather.extent: 2 is listed twice",
        "9:33: ge.gather.pool.when: condition reads unknown knob 'ge.gather.opp' (did you mean "
        "'ge.gather.op'?)",
        "11:65: ge.excite.reduction.when: bad condition \"ge.excite.mlp == 'se' and\": "
        "expected a value, knob or '(', found 'end of condition'",
        "12:40: ge.excite.mlp.default: 'max' is not one of none, se",
        "14:15: train.lr: empty range: low 0.5 is not below high 0.1",
        "15:32: train.epochs.step: step must be a positive integer",
        "16:15: train.batch_size: expected an integer, got 'abc'",
        "17:21: train.momentum: a log range needs low > 0",
        "18:17: train.weight_decay: a knob's mapping needs one of choice, int, float or value "
        "(did you mean 'float'?)",
        "19:1: trainn: unknown section (did you mean 'train'?); sections are name, description, "
        "backbone, ge, train, anchors, constraints, report",
        "21:3: constraints.max_gflop: unknown constraint (did you mean 'max_gflops'?); known: "
        "max_gflops, max_params_m, max_latency_ms",
    ]


def test_unknown_reference_and_cycle(tmp_path):
    assert problems_of(tmp_path, """\
        name: refs
        ge:
          gather:
            pool: {choice: [avg, max], when: "ge.gather.opp == 'pool'"}
        """) == ["4:38: ge.gather.pool.when: condition reads unknown knob 'ge.gather.opp' "
                 "(did you mean 'ge.gather.op'?)"]
    assert problems_of(tmp_path, """\
        name: cycle
        ge:
          excite:
            mlp: {choice: [none, se], when: "ge.excite.reduction > 4"}
            reduction: {choice: [4, 8]}
        """) == ["4:37: ge.excite.mlp.when: conditions form a cycle: "
                 "ge.excite.mlp -> ge.excite.reduction -> ge.excite.mlp"]


def test_unsatisfiable_and_unbuildable(tmp_path):
    assert problems_of(tmp_path, """\
        name: sem
        backbone: {arch: cifar_resnet, depth: {choice: [20, 21]}}
        ge:
          placement:
            stages: {choice: [[2], [5]]}
          gather:
            op: dwconv
            pool: {choice: [avg, max]}
            extent: {choice: [2, 8]}
            depth: {choice: [1, 2]}
          excite:
            gate: {choice: [sigmoid, hard_sigmoid], when: "ge.gather.op == 'pool'"}
        """) == [
        "2:39: backbone.depth: value 21 never gives a buildable point: cifar_resnet depth 21 is not "
        "6n+2 (20, 56, 110, ...)",
        "5:13: ge.placement.stages: value [5] never gives a buildable point: cifar_resnet has "
        "stages [2, 3, 4], not [5]",
        "8:11: ge.gather.pool: never active in this space (it needs ge.placement.stages != [] and "
        "ge.gather.op == 'pool')",
        "9:13: ge.gather.extent: value 8 never gives a buildable point: extent 8 needs at least 3 "
        "depth-wise conv(s), not 1",
        "12:51: ge.excite.gate.when: condition can never hold: ge.gather.op == 'pool'",
    ]


def test_invalid_anchors(tmp_path):
    assert problems_of(tmp_path, """\
        name: anchors
        backbone: {arch: cifar_resnet, depth: 20}
        ge:
          placement: {stages: all}
          gather:
            op: {choice: [pool, dwconv]}
            extent: {choice: [2, 8]}
          excite: {mlp: {choice: [none, se]}}
        anchors:
          x: {ge.excite.reduction: 8}
          y: {ge.gather.extent: 4, ge: {excite: {mlp: none}}}
          z: {ge.gather.op: dwconv, ge.gather.depth: 1, ge.gather.extent: 8}
        """) == [
        "10:28: anchors.x.ge.excite.reduction: 8 is not in the space (the space does not vary this knob)",
        "11:25: anchors.y.ge.gather.extent: 4 is not in the space (choice 2, 8)",
        "12:46: anchors.z.ge.gather.depth: 1 is not in the space (the space does not vary this knob)",
    ]
    assert problems_of(tmp_path, """\
        name: nested
        anchors:
          y: {ge: {excite: {mlpp: se}}}
        """) == ["3:21: anchors.y.ge.excite.mlpp: unknown knob (did you mean 'ge.excite.mlp'?)"]


def test_yaml_errors(tmp_path):
    assert problems_of(tmp_path, "name: x\nge:\n  gather: [a\n") == [
        "4:1: <spec>: YAML syntax error: expected ',' or ']', but got '<stream end>'"]
    assert problems_of(tmp_path, "- a\n- b\n") == [
        "1:1: <spec>: a spec is a YAML mapping with name, backbone, ge, train, ..."]
    assert problems_of(tmp_path, "name: x\nname: y\n") == ["2:1: name: duplicate key"]
    assert problems_of(tmp_path, "backbone: {arch: wrn}\n") == [
        "1:1: name: a spec needs a name (a non-empty string)"]


def test_vocabulary_order_is_topological():
    seen: set[str] = set()
    for key, knob in KNOBS.items():
        if knob.active_when:
            assert Condition(knob.active_when).names <= seen, key
        seen.add(key)


def test_one_canonical_point_type_from_the_space_to_the_record(monkeypatch):
    """What the space makes (canonicalise, anchors, samples, the grid) is a frozen CanonicalPoint
    whose id is computed once; it gives its architecture and training config, and round-trips
    through JSON (the store) and pickle (Ray's trial configs)."""
    import json
    import pickle

    from gespace.grammar import space as space_module
    from gespace.grammar.point import CanonicalPoint
    from gespace.train.config import train_config

    space = load_space("spaces/fashion-demo.yaml")
    point = space.canonicalise({"ge.gather.op": "dwconv", "train.lr": 0.2})
    made = [point, space.anchor("ge-theta"), *dict(space.anchors()).values(), *space.sample(3, seed=1),
            next(space.iter_samples(seed=2, method="sobol"))]
    assert all(isinstance(p, CanonicalPoint) for p in made)
    with pytest.raises(TypeError, match="frozen"):
        point["train.lr"] = 0.1
    with pytest.raises(TypeError, match="frozen"):
        point.update({"train.lr": 0.1})
    calls = []
    real = space_module.digest
    monkeypatch.setattr(space_module, "digest", lambda p: calls.append(1) or real(p))
    fresh = space.canonicalise(dict(point))
    assert fresh.id == point_id(dict(point)) and fresh.id == fresh.id and len(calls) == 2  # once, + the dict's
    stored = json.loads(json.dumps(point))
    assert isinstance(stored["ge.placement.stages"], list)
    again = space.canonicalise(stored)
    assert again == point and again.id == point.id and isinstance(again["ge.placement.stages"], tuple)
    shipped = pickle.loads(pickle.dumps(point))
    assert isinstance(shipped, CanonicalPoint) and shipped == point and shipped.id == point.id
    assert point.train_config() == train_config(point) and point.train_config()["train.lr"] == 0.2
    assert not any(key.startswith("train.") for key in point.architecture())
    assert {**point.architecture(), **{k: v for k, v in point.items() if k.startswith("train.")}} == point
