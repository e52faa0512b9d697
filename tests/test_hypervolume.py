"""Hypervolume against hand-computed areas, its history, and the space's reference point."""
from __future__ import annotations

import numpy as np
import pytest

from gespace.grammar import load_space
from search.hypervolume import history, normalised_hypervolume, space_bounds
from search.records import CostFigures, TrialRecord


def test_normalised_hypervolume_by_hand():
    # Reference (1, 3): boxes [0.1, 1] x [2, 3] = 0.9 and [0.2, 1] x [1, 2] = 0.8, over 1 x 3.
    assert normalised_hypervolume([(0.1, 2.0), (0.2, 1.0)], (1.0, 3.0)) == pytest.approx(1.7 / 3)
    # A dominated point adds nothing; a point beyond the reference is left out.
    assert normalised_hypervolume([(0.1, 2.0), (0.2, 1.0), (0.3, 2.5), (1.2, 0.1)], (1.0, 3.0)) == \
        pytest.approx(1.7 / 3)
    assert normalised_hypervolume([], (1.0, 3.0)) == 0.0
    # From an ideal point (0, 1): the box is 1 x 2.
    assert normalised_hypervolume([(0.1, 2.0), (0.2, 1.0)], (1.0, 3.0), (0.0, 1.0)) == pytest.approx(1.7 / 2)


def test_three_objectives_by_inclusion_exclusion():
    """Optuna's WFG (the private `optuna._hypervolume`, pinned below optuna 6) on three objectives:
    three boxes of volume 4 in the cube [0, 2]^3, pairwise overlaps 2, all three 1: 12 - 6 + 1 = 7."""
    points = [(0.0, 0.0, 1.0), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0)]
    assert normalised_hypervolume(points, (2.0, 2.0, 2.0), (0.0, 0.0, 0.0)) == pytest.approx(7 / 8)


def test_history_follows_finished_trials_and_means_over_seeds():
    def run(pid, seed, error, gmacs, finished, status="ok"):
        return TrialRecord(id=pid, seed=seed, status=status, point={}, cost=CostFigures(gmacs=gmacs),
                           val_error=error, started_at=0.0, finished_at=finished)

    records = [run("a", 0, 0.5, 2.0, 10.0), run("b", 0, 0.4, 4.0, 30.0, status="stopped"),
               run("a", 1, 0.3, 2.0, 20.0), run("c", 0, 0.2, 1.0, 40.0)]
    result = history(records, ["val_error", "gmacs"], {"val_error": 1.0, "gmacs": 5.0})
    assert result.trials == [1, 2, 3, 4] and result.seconds == [10.0, 20.0, 30.0, 40.0]
    # a alone: (1 - .5) * (5 - 2) / 5; a's mean over two seeds .4; the stopped b adds nothing; c dominates.
    expected = [0.5 * 3 / 5, 0.6 * 3 / 5, 0.6 * 3 / 5, 0.8 * 4 / 5]
    assert result.hypervolume == pytest.approx(expected)
    # The band: a's two seeds give the noise (sd 0.1414): c's single run is drawn with that sd, a's
    # mean with sd / sqrt 2; the union of their boxes, (1 - c) * 4 + max(0, c - a) * 3 over 5, by
    # direct simulation here, errors drawn below 0 taken as 0 (200 draws there: the percentiles agree within their Monte Carlo error).
    rng = np.random.default_rng(1)
    c, a = np.maximum(rng.normal([[0.2], [0.4]], [[0.1414], [0.1]], (2, 200_000)), 0)  # no error below 0
    union = ((1 - c) * 4 + np.clip(c - a, 0, None) * 3) / 5
    index, low, high = result.band[-1]
    assert index == 4 and (low, high) == pytest.approx(tuple(np.percentile(union, [2.5, 97.5])), abs=0.02)
    assert [m for m, _, _ in result.band] == [1, 2, 3, 4]  # every trial, below the marks' cap


def test_reference_from_the_spec_or_chance_and_the_largest_cost(tmp_path):
    base = """\
name: r
backbone: {arch: cifar_resnet, depth: 8, width: 4, in_channels: 1, image_size: 16, num_classes: 10}
ge:
  placement: {stages: {choice: [[], all]}}
  gather: {op: {choice: [pool, dwconv]}, extent: global}
anchors:
  baseline: {ge.placement.stages: []}
"""
    declared = tmp_path / "declared.yaml"
    declared.write_text(base + "report:\n  reference: {val_error: 0.5, gmacs: 0.001}\n")
    from gespace.cost import point_cost

    space = load_space(declared)
    baseline = point_cost(space.anchor("baseline")).gmacs
    assert space_bounds(space, ["val_error", "gmacs"]) == ({"val_error": 0.0, "gmacs": baseline},
                                                           {"val_error": 0.5, "gmacs": 0.001})
    default = tmp_path / "default.yaml"
    default.write_text(base)
    cache = tmp_path / "reference.json"
    ideal, reference = space_bounds(load_space(default), ["val_error", "params_m"], cache=cache)
    space = load_space(default)
    largest = max(point_cost(p).params_m for p in space.enumerate())
    assert reference == {"val_error": pytest.approx(0.9), "params_m": largest}  # chance level: 1 - 1/10
    assert largest == point_cost({**space.anchor("baseline"), "ge.placement.stages": (2, 3, 4),
                                  "ge.gather.op": "dwconv"}).params_m  # the dwconv gather everywhere
    assert ideal == {"val_error": 0.0, "params_m": point_cost(space.anchor("baseline")).params_m}
    assert cache.exists() and space_bounds(space, ["val_error", "params_m"], cache=cache) == (ideal, reference)


def test_bad_reference_is_one_line_each(tmp_path, capsys):
    from gespace.cli import main

    spec = tmp_path / "bad.yaml"
    spec.write_text("name: r\nbackbone: {arch: cifar_resnet, depth: 8}\nreport:\n"
                    "  reference: {val_eror: 0.5, gmacs: -1}\n")
    assert main(["space", "validate", str(spec)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{spec}:4:15: report.reference.val_eror: unknown objective (did you mean 'val_error'?); known: "
        "val_error, gmacs, params_m, latency_ms",
        f"{spec}:4:37: report.reference.gmacs: expected a positive number"]


def test_report_options_read_and_bad_ones_are_one_line_each(tmp_path, capsys):
    """report: {equivalence_pp, cost_tolerance} reach the space; mistakes name file, line, key."""
    from gespace.cli import main

    good = tmp_path / "good.yaml"
    good.write_text("name: r\nbackbone: {arch: cifar_resnet, depth: 8}\nreport:\n"
                    "  equivalence_pp: 0.3\n  cost_tolerance: {gmacs: 0.02, params_m: 0}\n")
    options = load_space(good).report
    assert options.equivalence_pp == 0.3 and options.cost_tolerance == {"gmacs": 0.02, "params_m": 0.0}
    from gespace.objectives import cost_tolerances

    assert cost_tolerances(options.cost_tolerance) == {"val_error": 0.0, "gmacs": 0.02, "params_m": 0.0,
                                                       "latency_ms": 0.10}
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: r\nbackbone: {arch: cifar_resnet, depth: 8}\nreport:\n"
                   "  equivalence_pp: -1\n  cost_tolerance: {gmacs: 1.5, val_error: 0.1}\n  adjust: holm\n")
    assert main(["space", "validate", str(bad)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{bad}:4:19: report.equivalence_pp: expected percentage points in (0, 100), e.g. 0.3",
        f"{bad}:5:27: report.cost_tolerance.gmacs: expected a fraction in [0, 1)",
        f"{bad}:5:43: report.cost_tolerance.val_error: errors have no tolerance: whether two errors tie is the "
        "statistics' to say",
        f"{bad}:6:3: report.adjust: unknown key; known: reference, equivalence_pp, cost_tolerance"]
