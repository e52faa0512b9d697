"""Zero-cost proxies: rated like an epoch on synthetic data with a known correlation, scores that
follow their definitions, and the prefilter that trains the proxy's best points only when the
calibration cohort trusts it."""
from __future__ import annotations

import math
import random
import textwrap

import pytest
import torch
from rich.console import Console
from torch import nn

from gespace.grammar import load_space
from gespace.proxies import PROXIES, grad_norm, synflow
from search.proxies import SCORES, parse_prefilter, prefiltered, rate_proxies, score_points, write_scores
from search.records import CostFigures, TrialRecord


def run(pid: str, seed: int, error: float, params: float = 1.0, calibration: bool = False) -> TrialRecord:
    return TrialRecord(id=pid, status="ok", point={}, name=None, seed=seed, phase="search", calibration=calibration,
                       cost=CostFigures(gmacs=1.0, params_m=params), val_error=error, budget=1,
                       epochs=[{"epoch": 1, "val_error": error}])


def test_a_proxy_with_a_known_correlation_is_rated_at_it():
    """300 points: true quality T ~ N(0, 1); a run's error T + N(0, 1) (so two seeds correlate at
    1/2: the ceiling, Spearman (6/pi) asin(1/4) = 0.241); a proxy scoring -(T + N(0, 1/3)) under
    each seed correlates with another seed's error at 1/sqrt(2 * 4/3) = 0.612 (Pearson), Spearman
    (6/pi) asin(0.306) = 0.593; a proxy of pure noise at 0; params carry nothing here."""
    rng = random.Random(0)
    records, scores = [], {"good": {}, "noise": {}}
    for k in range(300):
        truth = rng.gauss(0, 1)
        for seed in (0, 1):
            records.append(run(f"p{k}", seed, truth + rng.gauss(0, 1)))
            scores["good"][(f"p{k}", seed)] = -(truth + rng.gauss(0, math.sqrt(1 / 3)))
            scores["noise"][(f"p{k}", seed)] = rng.gauss(0, 1)
    rating = rate_proxies(records, scores, resamples=200)
    good, noise = rating.proxies["good"], rating.proxies["noise"]
    expected = 6 / math.pi * math.asin(1 / math.sqrt(8 / 3) / 2)  # Pearson 0.612 as Spearman
    assert good.spearman == pytest.approx(expected, abs=0.07)
    assert good.spearman_interval[0] < expected < good.spearman_interval[1]
    assert noise.spearman_interval[0] < 0 < noise.spearman_interval[1]
    assert rating.ceiling.spearman == pytest.approx(6 / math.pi * math.asin(0.25), abs=0.08)
    assert rating.trusted("good") and not rating.trusted("noise") and rating.points == 300
    assert [w.split(":")[0] for w in rating.warnings] == ["noise"] and "not clearly above chance" in rating.warnings[0]


def test_synflow_and_grad_norm_follow_their_definitions():
    """A linear layer y = W x: synflow with |W| and an all-ones input is sum |w| (each dR/dw is 1);
    grad_norm is the norm of the cross-entropy gradient, computed here by hand."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3, bias=False))
    weights = model[1].weight.detach().clone()
    images, labels = torch.randn(5, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1])
    assert synflow(model, images, labels) == pytest.approx(float(weights.abs().sum()))
    assert torch.equal(model[1].weight.detach(), weights)  # the signs are restored
    probabilities = torch.softmax(images.flatten(1) @ weights.T, 1)
    gradient = (probabilities - torch.eye(3)[labels]).T @ images.flatten(1) / 5
    assert grad_norm(model, images, labels) == pytest.approx(float(gradient.norm()), rel=1e-5)


def test_prefilter_arguments_and_choice():
    assert parse_prefilter("synflow:8") == ("synflow", 8)
    with pytest.raises(ValueError, match="PROXY:K with PROXY one of synflow, grad_norm, jacob_cov"):
        parse_prefilter("synflo:8")
    candidates = [("a", {}), ("b", {}), ("c", {}), ("d", {})]
    assert prefiltered(candidates, {"a": 1.0, "b": 4.0, "c": 3.0, "d": 2.0}, 2) == ["b", "c"]


SPEC = """\
name: proxies
backbone: {arch: cifar_resnet, depth: 8, width: 4, in_channels: 1, image_size: 16, num_classes: 10}
ge:
  placement: {stages: {choice: [[], all], default: all}}
  gather:
    op: {choice: [pool, dwconv]}
    extent: {choice: [2, global], default: global}
  excite:
    gate: {choice: [sigmoid, hard_sigmoid]}
    mlp: {choice: [none, se]}
train: {dataset: synthetic, epochs: 1}
anchors:
  baseline: {ge.placement.stages: []}
  ge-theta: {ge.gather.op: dwconv}
"""


def test_prefilter_refuses_an_untrusted_proxy_and_keeps_the_best_of_a_trusted_one(tmp_path):
    """A cohort of 16 points under 2 seeds whose errors ignore the proxy: not trusted, every sampled
    point trains (and the choice is kept for a resume); errors that follow the proxy's mean score
    over the seeds: trusted, and the campaign trains the anchors and the 3 sampled points it
    scores best."""
    from search.campaign import PREFILTER, prefilter_points
    from search.settings import CampaignSettings
    from search.store import CampaignStore

    spec = tmp_path / "proxies.yaml"
    spec.write_text(textwrap.dedent(SPEC))
    space = load_space(str(spec))
    cohort = {f"{k}": p for k, p in enumerate(list(space.enumerate())[:16])}
    every = score_points({(pid, s): p for pid, p in cohort.items() for s in (0, 1)}, list(PROXIES))
    scores = every["grad_norm"]
    for case, error in (("untrusted", lambda pid, s: random.Random(f"{pid}{s}").random()),
                        ("trusted", lambda pid, s: -(scores[(pid, 0)] + scores[(pid, 1)]) / 2)):
        store = CampaignStore(tmp_path / case)
        settings = CampaignSettings(spec=str(spec), name=case, storage=str(tmp_path), num_samples=7, calibrate=16,
                                    prefilter="grad_norm:3", seed=0)
        store.create(str(spec), {})
        write_scores(store.directory / SCORES, every)  # scored once here, as cohort_scores keeps them
        for pid, point in cohort.items():
            for seed in (0, 1):
                store.append(TrialRecord(**{**run(pid, seed, error(pid, seed), calibration=True).__dict__,
                                            "point": dict(point)}))
        console = Console(record=True, width=200)
        chosen = prefilter_points(store, space, settings, console)
        said = console.export_text()
        if case == "untrusted":
            assert chosen is None and "--prefilter grad_norm: not trusted by the calibration cohort" in said
            assert "every sampled point is trained" in said and (store.directory / PREFILTER).exists()
            assert prefilter_points(store, space, settings, Console(record=True)) is None  # the kept choice
        else:
            assert "trusted (Spearman" in said and "training the 3 of 5 sampled points it scores best" in said
            assert [name for name, _ in chosen] == ["baseline", "ge-theta", None, None, None]
            again = prefilter_points(store, space, settings, Console(record=True))
            assert [dict(p) for _, p in again] == [dict(p) for _, p in chosen]
            # The cohort's scores, kept in the campaign, join the report's calibration as fidelities.
            from search.report import write_report

            report = write_report([store.directory], console=Console(record=True, width=200))["markdown"].read_text()
            for row in ("at init: grad_norm", "at init: synflow", "at init: jacob_cov", "cost: params_m"):
                assert f"| {row} | 16 |" in report, row
            assert "Trusted for --prefilter: grad_norm" in report
