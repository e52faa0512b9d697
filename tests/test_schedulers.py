"""Campaign schedulers, driven directly with hand-made results (no Ray cluster needed)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ray.tune.schedulers import TrialScheduler

from gespace.grammar.point import CanonicalPoint
from search.contract import TrialSettings, TrialSpec
from search.schedulers import AnchoredASHA


@dataclass
class FakeTrial:
    trial_id: str
    name: str | None = None  # an anchor's

    @property
    def config(self) -> dict:
        point = CanonicalPoint({}, point_id=self.trial_id)
        return TrialSpec(point, 0, "search", TrialSettings("."), name=self.name).config()


def test_anchors_are_never_stopped_but_set_the_bar():
    scheduler = AnchoredASHA(time_attr="epoch", metric="val_error", mode="min", max_t=9, grace_period=1,
                             reduction_factor=3)
    trials = [FakeTrial("a", "baseline"), FakeTrial("b"), FakeTrial("c"), FakeTrial("d"), FakeTrial("e", "se")]
    for trial in trials:
        scheduler.on_trial_add(None, trial)
    decisions = {t.trial_id: scheduler.on_trial_result(None, t, {"epoch": 1, "val_error": error})
                 for t, error in zip(trials, (0.10, 0.12, 0.90, 0.11, 0.95))}
    # b and c fall outside the best third of the rung's results so far (ASHA), the anchor e, worse
    # than both, goes on; d, second of four, is inside the best third.
    assert decisions == {"a": TrialScheduler.CONTINUE, "b": TrialScheduler.STOP,
                         "c": TrialScheduler.STOP, "d": TrialScheduler.CONTINUE, "e": TrialScheduler.CONTINUE}


# --- multi-objective successive halving, by replay ------------------------------------------
import random  # noqa: E402

from search.records import CostFigures, TrialRecord  # noqa: E402
from search.replay import Curve, curves_from_records, replay  # noqa: E402
from search.schedulers import (SuccessiveHalving, crowding_distances, nondominated_fronts,  # noqa: E402
                               promotion_order)
from search.store import CampaignStore  # noqa: E402


def test_nondominated_sorting_and_crowding_by_hand():
    vectors = {"a": (0.10, 3.0), "b": (0.20, 1.0), "c": (0.15, 2.0), "d": (0.20, 3.0), "e": (0.30, 3.0)}
    assert nondominated_fronts(vectors, ("val_error", "gmacs"), 0.0) == [["a", "b", "c"], ["d"], ["e"]]
    # c is inside the front: (0.20 - 0.10) / 0.10 + (3 - 1) / 2 = 2.0; the ends are infinite.
    assert crowding_distances({k: vectors[k] for k in "abc"}) == {"a": math.inf, "b": math.inf, "c": 2.0}
    # Within a noise tolerance of 0.06 pp-fractions, errors 0.05 apart count as equal: cheaper c
    # dominates a, cheaper b dominates c; errors 0.10 apart still count.
    assert nondominated_fronts(vectors, ("val_error", "gmacs"), 0.06) == [["b"], ["c"], ["a"], ["d"], ["e"]]
    assert promotion_order(vectors, ("val_error", "gmacs"), 0.0) == ["a", "b", "c", "d", "e"]


def synthetic_curves(count: int, epochs: int, seed: int) -> list[Curve]:
    """Curves that cross: some points learn slowly at first (like GE-θ⁻, Sec. 4 of the paper)."""
    rng = random.Random(seed)
    curves = []
    for index in range(count):
        final, slow = rng.uniform(0.05, 0.30), rng.random() < 0.3
        start = final + rng.uniform(0.3, 0.6) + (0.2 if slow else 0.0)
        errors = [final + (start - final) * (0.45 if slow else 0.3) ** e + rng.gauss(0, 0.005) for e in range(epochs)]
        curves.append(Curve((f"p{index:02d}", 0), errors, (round(rng.uniform(0.01, 0.05), 4),),
                            exempt=index < 3))
    return curves


def test_synchronous_promotions_do_not_depend_on_launch_order_or_timing(tmp_path):
    # The curves go through trials.jsonl and back, as a campaign's records would.
    store = CampaignStore(tmp_path)
    for curve in synthetic_curves(27, 9, seed=1):
        store.append(TrialRecord(id=curve.unit[0], seed=0, status="ok", point={}, name="a" if curve.exempt else None,
                                 cost=CostFigures(gmacs=curve.costs[0]), val_error=curve.errors[-1],
                                 epochs=[{"epoch": e + 1, "val_error": v} for e, v in enumerate(curve.errors)]))
    curves = curves_from_records(store.records())
    assert len(curves) == 27 and sum(c.exempt for c in curves) == 3
    outcomes = set()
    for trial in range(6):
        rng = random.Random(trial)
        order = curves[:]
        rng.shuffle(order)
        durations = {c.unit: rng.uniform(0.5, 2.0) for c in curves}
        halving = SuccessiveHalving(max_t=9, grace=1, eta=3, synchronous=True)
        result = replay(halving, order, workers=3, durations=durations)
        outcomes.add((frozenset(result.promoted[1]), frozenset(result.promoted[3]),
                      frozenset(result.finished(9))))
    assert len(outcomes) == 1
    promoted_1, promoted_3, finished = outcomes.pop()
    # The 24 searched trials: 8 go past rung 1, 3 past rung 3; the 3 anchors run outside the halving.
    anchors = {c.unit for c in curves if c.exempt}
    assert len(promoted_1) == 8 and len(promoted_3) == 3 and not promoted_1 & anchors
    assert promoted_3 <= promoted_1 and finished == promoted_3 | anchors
    # The decision is the rung's best third by non-dominated sorting of (error at epoch 1, cost).
    at_rung_1 = {c.unit: (c.errors[0],) + c.costs for c in curves if not c.exempt}
    assert promoted_1 == set(promotion_order(at_rung_1, ("val_error", "gmacs"), 0.0)[:8])


def test_asynchronous_mode_waits_for_min_results_and_revisits_early_arrivals():
    curves = synthetic_curves(12, 3, seed=2)
    for c in curves:
        c.exempt = False
    # The best point at epoch 1 arrives first: a plain ASHA would decide on it alone and stop it.
    best = min(curves, key=lambda c: (c.errors[0], c.costs))
    order = [best] + [c for c in curves if c is not best]
    halving = SuccessiveHalving(max_t=3, grace=1, eta=3, synchronous=False, min_results=4)
    result = replay(halving, order, workers=2)
    assert best.unit in result.promoted[1] and result.epochs[best.unit] == 3
    assert len(result.promoted[1]) <= math.ceil(12 / 3)


def test_noise_tolerance_lets_a_cheaper_point_through():
    """Two points 0.4 pp apart in error at the rung, the worse one 3x cheaper: within a noise of 1 pp
    the cheaper one dominates; without noise both are on the first front."""
    vectors = {("fast", 0): (0.200, 0.01), ("slow", 0): (0.196, 0.03), ("bad", 0): (0.5, 0.05)}
    assert promotion_order(vectors, ("val_error", "gmacs"), 0.01)[0] == ("fast", 0)
    assert nondominated_fronts(vectors, ("val_error", "gmacs"), 0.0)[0] == [("fast", 0), ("slow", 0)]
