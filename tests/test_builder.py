"""The builder: every backbone x every anchor of the shipped spaces builds, trains a step, and costs."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gespace.builder import BuildError, build_model
from gespace.cost import point_cost
from gespace.grammar import load_space, point_id

SPACES = sorted(Path(__file__).resolve().parent.parent.joinpath("spaces").glob("*.yaml"))
ANCHORS = [(path.stem, name, point) for path in SPACES for name, point in load_space(str(path)).anchors()]
# ImageNet-sized backbones run at 64x64 here (the global gather's kernel follows the feature size).
SMALL = {"resnet": 64, "shufflenet": 64}


# ResNet-101/152 take 1-26 s each to build, step and cost on a 2-core CPU: marked slow (still run).
DEEP = {"resnet": 101}


def _case(space: str, name: str, point: dict) -> object:
    deep = point.get("backbone.depth", 0) >= DEEP.get(point["backbone.arch"], 1 << 30)
    return pytest.param(space, name, point, id=f"{space}:{name}", marks=[pytest.mark.slow] if deep else [])


@pytest.mark.parametrize("space, name, point", [_case(*anchor) for anchor in ANCHORS])
def test_every_anchor_builds_runs_and_costs(space, name, point):
    point = {**point, "backbone.image_size": SMALL.get(point["backbone.arch"], point["backbone.image_size"])}
    torch.manual_seed(0)
    model = build_model(point, seed=0)
    assert model.point_id == point_id(point)
    x = torch.randn(2, point["backbone.in_channels"], point["backbone.image_size"], point["backbone.image_size"])
    logits = model(x)
    assert logits.shape == (2, point["backbone.num_classes"])
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    cost = point_cost(point)
    assert cost.params == sum(p.numel() for p in model.parameters())
    assert cost.macs > 0


def test_build_is_deterministic_and_anchors_build_by_name():
    space = load_space("spaces/fashion-demo.yaml")
    first = build_model("ge-theta-plus", space=space, seed=3)
    second = build_model(space.anchor("ge-theta-plus"), seed=3)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    other = build_model(space.anchor("ge-theta-plus"), seed=4)
    assert not all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), other.state_dict().values()))


def test_unbuildable_point_names_its_id():
    point = {**load_space("spaces/fashion-demo.yaml").anchor("ge-theta"), "ge.placement.stages": (2, 5)}
    with pytest.raises(BuildError, match=rf"point {point_id(point)}: cifar_resnet has no stage\(s\) \[5\]"):
        build_model(point)
