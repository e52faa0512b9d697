"""Campaign schedulers, driven directly with hand-made results (no Ray cluster needed)."""
from __future__ import annotations

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
import json  # noqa: E402
import random  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from search.records import CostFigures, TrialRecord  # noqa: E402
from search.replay import Curve, curves_from_records, replay  # noqa: E402
from search.schedulers import (MultiObjectiveSH, SuccessiveHalving, nondominated_fronts,  # noqa: E402
                               promotion_order)
from search.store import CampaignStore  # noqa: E402

ANSWER = Path(__file__).resolve().parent.parent / "results" / "answer"
OBJECTIVES = ("val_error", "gmacs")


def test_nondominated_sorting_and_promotion_order_by_hand():
    vectors = {"a": (0.10, 3.0), "b": (0.20, 1.0), "c": (0.15, 2.0), "d": (0.20, 3.0), "e": (0.30, 3.0)}
    assert nondominated_fronts(vectors, OBJECTIVES, 0.0) == [["a", "b", "c"], ["d"], ["e"]]
    # Within a front, error first (crowding distance would have taken the ends a and b first).
    assert promotion_order(vectors, OBJECTIVES, 0.0) == ["a", "c", "b", "d", "e"]
    # Within a noise tolerance of 0.06, errors 0.05 apart count as equal: cheaper c dominates a,
    # cheaper b dominates c; errors 0.10 apart still count.
    assert nondominated_fronts(vectors, OBJECTIVES, 0.06) == [["b"], ["c"], ["a"], ["d"], ["e"]]
    # A tolerance per pair: only a and c tie.
    pairs = np.zeros((5, 5))
    pairs[0, 2] = pairs[2, 0] = 0.06
    assert nondominated_fronts(vectors, OBJECTIVES, pairs)[0] == ["b", "c"]
    # Errors that are not numbers rank last and never decide a front.
    broken = {**vectors, "n": (float("nan"), 0.5), "m": (None, 0.1)}
    assert promotion_order(broken, OBJECTIVES, 0.0) == ["a", "c", "b", "d", "e", "m", "n"]


def test_costs_within_tolerance_tie_and_error_decides():
    """GE-like costs (within 1%): the order is the errors', not the costs'."""
    vectors = {"cheap": (0.16, 1.000), "mid": (0.15, 1.002), "best": (0.12, 1.005)}
    assert promotion_order(vectors, OBJECTIVES, 0.0) == ["best", "mid", "cheap"]
    assert promotion_order(vectors, OBJECTIVES, 0.0, tolerance={"gmacs": 0.0})[0] == "best"
    assert nondominated_fronts(vectors, OBJECTIVES, 0.0, tolerance={"gmacs": 0.0}) == [["cheap", "mid", "best"]]


def test_results_answer_rung_1_promotes_on_error_not_on_cost():
    """The campaign's first rung (9 sampled points, epoch 1): mosha with costs exact and the rung's
    sigma as tolerance promoted 68ea21 (0.1557), strictly dominated by 7eca72 (0.1507, the same
    MACs), and stopped 0c4377, the best epoch-1 error (0.121). Now the best error goes first, and
    7eca72 ranks before 68ea21."""
    curves = curves_from_records(CampaignStore(ANSWER).records())
    halving = SuccessiveHalving(max_t=5, grace=1, eta=3, synchronous=True)
    result = replay(halving, curves, workers=2)
    decision = next(d for d in halving.decisions if d["rung"] == 1 and d["complete"])
    order = [row[0][:6] for row in decision["ranking"]]
    assert order[0] == "0c4377" and order.index("7eca72") < order.index("68ea21")
    assert {pid[:6] for pid, _ in result.promoted[1]} >= {"0c4377"}
    assert len(result.promoted[1]) == 3  # ceil(9 / 3): the anchors run outside the halving


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
    """200 random launch orders and epoch durations: one promoted set per rung, no unit promoted
    twice, each rung ceil(n/eta) of its halving units."""
    # The curves go through trials.jsonl and back, as a campaign's records would.
    store = CampaignStore(tmp_path)
    for curve in synthetic_curves(27, 9, seed=1):
        store.append(TrialRecord(id=curve.unit[0], seed=0, status="ok", point={}, name="a" if curve.exempt else None,
                                 cost=CostFigures(gmacs=curve.costs[0]), val_error=curve.errors[-1],
                                 epochs=[{"epoch": e + 1, "val_error": v} for e, v in enumerate(curve.errors)]))
    curves = curves_from_records(store.records())
    assert len(curves) == 27 and sum(c.exempt for c in curves) == 3
    outcomes = set()
    for trial in range(200):
        rng = random.Random(trial)
        order = curves[:]
        rng.shuffle(order)
        durations = {c.unit: rng.uniform(0.5, 2.0) for c in curves}
        halving = SuccessiveHalving(max_t=9, grace=1, eta=3, synchronous=True)
        result = replay(halving, order, workers=rng.randint(1, 4), durations=durations)
        promoted = [(d["rung"], tuple(u)) for d in halving.decisions for u in d["promoted"]]
        assert len(promoted) == len(set(promoted))
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
    assert promoted_1 == set(promotion_order(at_rung_1, OBJECTIVES, 0.0)[:8])


def test_asynchronous_promotions_stay_within_floor_n_over_eta_under_any_order():
    """moasha is ASHA on the non-dominated ranking: a rung of n results has promoted at most
    floor(n/eta) at any moment, whatever the launch order (200 orders), and no unit twice."""
    curves = synthetic_curves(30, 9, seed=2)
    for c in curves:
        c.exempt = False
    most = {1: 0, 3: 0}
    for trial in range(200):
        rng = random.Random(trial)
        order = curves[:]
        rng.shuffle(order)
        halving = SuccessiveHalving(max_t=9, grace=1, eta=3, synchronous=False, min_results=3)
        seen: dict[int, int] = {}

        def check(decision: dict) -> None:
            rung = next(r for r in halving.rungs if r.epoch == decision["rung"])
            assert len(rung.promoted) <= decision["results"] // 3
            seen[decision["rung"]] = len(rung.promoted)

        halving.on_decision = check
        replay(halving, order, workers=rng.randint(1, 4), durations={c.unit: rng.uniform(0.5, 2) for c in curves})
        promoted = [(d["rung"], tuple(u)) for d in halving.decisions for u in d["promoted"]]
        assert len(promoted) == len(set(promoted))
        for epoch in most:
            most[epoch] = max(most[epoch], seen.get(epoch, 0))
    assert most[1] <= 10 and most[3] <= 3


def scheduler_with(halving: SuccessiveHalving) -> MultiObjectiveSH:
    return MultiObjectiveSH(halving, list(OBJECTIVES))


def launched(count: int, synchronous: bool) -> tuple[SuccessiveHalving, MultiObjectiveSH, dict]:
    """``count`` fake trials added to a halving (rungs at epochs 1 and 3 of 9), launching done."""
    halving = SuccessiveHalving(max_t=9, grace=1, eta=3, synchronous=synchronous, min_results=3)
    scheduler = scheduler_with(halving)
    trials = {f"p{k}": fake(f"p{k}") for k in range(count)}
    for trial in trials.values():
        scheduler.on_trial_add(None, trial)
    halving.done_launching()
    return halving, scheduler, trials


def fake(pid: str) -> SimpleNamespace:
    point = CanonicalPoint({}, point_id=pid)
    return SimpleNamespace(config=TrialSpec(point, 0, "search", TrialSettings("."), cost={"gmacs": 1.0}).config(),
                           last_result={}, error_file=None, trial_id=pid)


@pytest.mark.parametrize("synchronous", [True, False])
@pytest.mark.parametrize("ending", ["failed", "diverged", "diverged at the rung"])
def test_a_promoted_trial_that_ends_early_leaves_its_rung_and_the_next_one_decides(synchronous, ending):
    """9 units, rungs at epochs 1 and 3 of 9. Of the 3 promoted at rung 1, one ends before it
    reports a new epoch (an error; a divergence whose final report repeats the rung's epoch; or no
    error at epoch 3, a rung). Rung 3 completes without it and promotes from the two others; the
    place is not passed on to rung 1's fourth."""
    halving, scheduler, trials = launched(9, synchronous)
    for k, trial in enumerate(trials.values()):
        assert scheduler.on_trial_result(None, trial, {"epoch": 1, "val_error": 0.1 + 0.01 * k, "gmacs": 1.0}) \
            == TrialScheduler.STOP
        scheduler.on_trial_complete(None, trial, {"epoch": 1, "status": "running"})
    promoted = halving.promotions()
    assert promoted == [(f"p{k}", 0) for k in range(3)]
    for pid, _ in promoted:
        scheduler.on_trial_add(None, trials[pid])
    victim, survivors = trials["p0"], [trials["p1"], trials["p2"]]
    if ending == "failed":
        scheduler.on_trial_error(None, victim)
    elif ending == "diverged":
        scheduler.on_trial_result(None, victim, {"epoch": 1, "status": "diverged", "gmacs": 1.0})
        scheduler.on_trial_complete(None, victim, {"epoch": 1, "status": "diverged"})
    else:
        scheduler.on_trial_result(None, victim, {"epoch": 2, "val_error": 0.2, "gmacs": 1.0})
        assert scheduler.on_trial_result(None, victim, {"epoch": 3, "status": "diverged", "gmacs": 1.0}) \
            == TrialScheduler.STOP
        scheduler.on_trial_complete(None, victim, {"epoch": 3, "status": "diverged"})
    for k, trial in enumerate(survivors):
        scheduler.on_trial_result(None, trial, {"epoch": 2, "val_error": 0.05, "gmacs": 1.0})
        scheduler.on_trial_result(None, trial, {"epoch": 3, "val_error": 0.05 + 0.01 * k, "gmacs": 1.0})
        scheduler.on_trial_complete(None, trial, {"epoch": 3, "status": "running"})
    assert ("p3", 0) not in halving.rungs[0].promoted  # the place is not passed on
    rung_3 = halving.promotions()
    if synchronous:
        assert halving.complete(1) and rung_3 == [("p1", 0)]  # ceil(2 / 3) of the two that got there
    else:
        # ASHA's floor(n/eta): 2 results (3 with the diverged one's) promote at most 1.
        assert rung_3 in ([], [("p1", 0)]) and len(halving.rungs[1].promoted) <= 1
    if ending == "diverged at the rung":
        decision = [d for d in halving.decisions if d["rung"] == 3][-1]
        assert decision["unranked"] == [["p0", 0]] and decision["ranking"][-1] == ["p0", 0, None, 1.0]


@pytest.mark.parametrize("synchronous", [True, False])
def test_an_interrupted_unit_stays_awaited_and_a_resume_completes_the_rung(tmp_path, synchronous):
    halving, scheduler, trials = launched(3, synchronous)
    error = tmp_path / "error.txt"
    error.write_text("OSError: [Errno 28] No space left on device\n")
    for k, trial in enumerate(trials.values()):
        if k == 2:
            trial.error_file = str(error)
            scheduler.on_trial_error(None, trial)  # the machine's failure: interrupted
        else:
            scheduler.on_trial_result(None, trial, {"epoch": 1, "val_error": 0.1 + k, "gmacs": 1.0})
            scheduler.on_trial_complete(None, trial, {"epoch": 1, "status": "running"})
    assert not halving.complete(0) and halving.promotions() == []
    scheduler.on_trial_add(None, trials["p2"])  # --resume trains it again
    scheduler.on_trial_result(None, trials["p2"], {"epoch": 1, "val_error": 0.05, "gmacs": 1.0})
    scheduler.on_trial_complete(None, trials["p2"], {"epoch": 1, "status": "running"})
    assert halving.complete(0) and halving.promotions() == [("p2", 0)]  # ceil(3/3) or floor(3/3)


def test_replay_of_results_answer_never_crashes_and_counts_truncated_curves():
    """100 launch orders of the committed campaign under both modes: a unit promoted past its
    recorded curve ends there (counted), never an IndexError; confirmation runs and duplicate
    segments are not searched units."""
    records = CampaignStore(ANSWER).records()
    curves = curves_from_records(records)
    search_units = {r.unit for r in records if r.phase == "search"}
    assert {c.unit for c in curves} == search_units and len(curves) == len(search_units)
    truncated = {True: 0, False: 0}
    for trial in range(100):
        rng = random.Random(trial)
        order = curves[:]
        rng.shuffle(order)
        for synchronous in (True, False):
            halving = SuccessiveHalving(max_t=5, grace=1, eta=3, synchronous=synchronous)
            result = replay(halving, order, workers=2, durations={c.unit: rng.uniform(0.5, 2) for c in curves})
            truncated[synchronous] += len(result.truncated)
            assert all(epochs <= 5 for epochs in result.epochs.values())
    assert truncated[True] >= 0 and truncated[False] >= 0


def test_decisions_are_kept_with_the_campaign_and_the_report_shows_them(tmp_path):
    """The audit trail: every decision appended to decisions.jsonl as it is made (a torn last line
    skipped, a foreign one refused naming it), and the report's section lists each rung's
    promotions with labels, the tolerances and what had no error."""
    from search.sections import decisions_section, labeller
    from search.store import CorruptRecords

    records = CampaignStore(ANSWER).records()
    store = CampaignStore(tmp_path)
    halving = SuccessiveHalving(max_t=5, grace=1, eta=3, synchronous=True, on_decision=store.append_decision)
    replay(halving, curves_from_records(records), workers=2)
    kept = store.decisions()
    assert kept == json.loads(json.dumps(halving.decisions)) and len(kept) >= 2
    with open(tmp_path / "decisions.jsonl", "a") as handle:
        handle.write('{"rung": 1, "rank')  # a driver killed mid-write
    assert store.decisions() == kept
    section = decisions_section("c", kept, records, labeller(records), False)
    first = section.rows[0]
    assert first["rung"] == "1" and first["mode"] == "synchronous, complete" and first["places"] == "3"
    assert "dwconv e=2, hard sigmoid, SE r=16, stages 4, lr 0.05 (seed 0)" in first["promoted"]
    assert first["cost_tolerance"] == "gmacs 1%"
    (tmp_path / "decisions.jsonl").write_text('{"rung": 1}\n')
    with pytest.raises(CorruptRecords, match=r"decisions.jsonl:1: not a scheduler decision"):
        store.decisions()


@pytest.mark.parametrize("synchronous", [True, False])
def test_every_rung_completes_when_trials_fail_under_any_order(synchronous):
    """200 orders, a sixth of the units failing at a random epoch (before, at or after a rung, in a
    promoted continuation or not): every rung completes, no promoted unit is left waiting, and no
    unit is promoted twice at a rung."""
    curves = synthetic_curves(27, 9, seed=3)
    for trial in range(200):
        rng = random.Random(trial)
        order = curves[:]
        rng.shuffle(order)
        failures = {c.unit: rng.randint(1, 9) for c in curves if rng.random() < 1 / 6}
        halving = SuccessiveHalving(max_t=9, grace=1, eta=3, synchronous=synchronous, min_results=3)
        replay(halving, order, workers=rng.randint(1, 4), durations={c.unit: rng.uniform(0.5, 2) for c in curves},
               failures=failures)
        assert all(halving.complete(i) for i in range(len(halving.rungs))), (trial, failures)
        assert halving.promotions() == []
        promoted = [(d["rung"], tuple(u)) for d in halving.decisions for u in d["promoted"]]
        assert len(promoted) == len(set(promoted))
