"""Racing on simulated campaigns with known truth: a clearly worse point settles off after the
first looks, identical points settle on together and are set apart no more often than the
nominal 5%, a settled point trains on while an open one waits on it, a budget stops a race, and
the race is a function of its records (resumable)."""
from __future__ import annotations

import dataclasses
import random

import pytest

from search.racing import EQUAL, OFF, ON, OPEN, RACE_SEED, RaceSettings, race, race_rules
from search.records import CostFigures, TrialRecord

COSTS = {"a": {"gmacs": 1.000}, "b": {"gmacs": 1.002}, "c": {"gmacs": 1.004}}


def run(pid: str, seed: int, error: float, name: str | None = "anchor") -> TrialRecord:
    return TrialRecord(id=pid, status="ok", point={}, name=name, seed=seed, phase="confirm",
                       cost=CostFigures(gmacs=COSTS[pid]["gmacs"]), val_error=error, test_error=error,
                       epochs=[{"epoch": 1, "val_error": error}])


def simulate(means: dict[str, float], settings: RaceSettings, noise: float = 0.004, seed_sd: float = 0.002,
             rng: random.Random | None = None, costs=COSTS, control: str | None = None):
    """Race to the end, each (point, seed) drawing mean + the seed's shared effect + its own noise."""
    rng = rng or random.Random(0)
    effects: dict[int, float] = {}
    records: list[TrialRecord] = []
    while True:
        state = race(list(means), {p: costs[p] for p in means}, records, settings, control=control)
        if not state.next_units:
            return state, records
        for pid, seed in state.next_units:
            effect = effects.setdefault(seed, rng.gauss(0, seed_sd))
            records.append(run(pid, seed, means[pid] + effect + rng.gauss(0, noise)))


def test_a_clearly_worse_point_is_settled_off_after_the_first_looks():
    state, records = simulate({"a": 0.070, "b": 0.070, "c": 0.100}, RaceSettings(delta=0.003, rounds=12))
    settled_at = next(k for k, look in enumerate(state.looks) if "c" in look.settled)
    # 3 pp worse: off at the first look (after the 3 rounds before it) or the next, and no seed after it.
    assert state.status["c"] == OFF and settled_at <= 1
    assert sum(1 for r in records if r.id == "c") == settled_at + 3


def test_identical_points_settle_on_together_and_apart_at_most_at_the_nominal_rate():
    """200 races of two identical points (0.2 pp noise a run, 0.5 pp margin, 17 rounds): one is set
    off the front in at most 5% of them; nearly all settle both on, equal within the margin."""
    apart = together = 0
    for trial in range(200):
        state, _ = simulate({"a": 0.07, "b": 0.07}, RaceSettings(delta=0.005, rounds=17), noise=0.002,
                            rng=random.Random(trial))
        apart += OFF in state.status.values()
        together += all(s == ON for s in state.status.values())
    assert apart / 200 <= 0.05
    assert together >= 190


def test_a_settled_point_trains_on_while_an_open_one_waits_on_it():
    """a settles on early; b, 0.15 pp behind it (half the margin) under 0.2 pp noise, stays open and
    waits on its comparison with a, so a trains every round b does; nothing waits on c (2 pp worse),
    which stops at its first look."""
    state, records = simulate({"a": 0.070, "b": 0.0715, "c": 0.090}, RaceSettings(delta=0.003, rounds=30),
                              noise=0.002, seed_sd=0.001, rng=random.Random(1))
    settled_a = next(look.seed for look in state.looks if "a" in look.settled)
    assert state.status == {"a": ON, "b": OPEN, "c": OFF} and state.end == "rounds"
    seeds = {p: sorted(r.seed for r in records if r.id == p) for p in "abc"}
    assert settled_a < RACE_SEED + 29 and seeds["a"] == seeds["b"] == list(range(RACE_SEED, RACE_SEED + 30))
    assert seeds["c"] == [RACE_SEED, RACE_SEED + 1, RACE_SEED + 2]


def test_a_budget_stops_the_race_before_a_round_that_would_pass_it():
    state, records = simulate({"a": 0.07, "b": 0.0705, "c": 0.071}, RaceSettings(delta=0.001, rounds=12, budget=7))
    assert state.end == "budget" and state.runs == len(records) <= 7
    assert len(records) == 6  # two full rounds of three: a third would need 9
    assert set(state.status.values()) == {OPEN}


def test_a_budget_of_core_hours_stops_the_race_before_a_round_that_would_pass_it():
    """Runs of an hour on 2 cores: 2 core-hours each. 13 core-hours hold two rounds of three (12);
    a third, at the runs' mean time, would take 18."""
    settings = RaceSettings(delta=0.001, rounds=12, hours=13.0, cpus=2.0)
    records: list[TrialRecord] = []
    rng = random.Random(0)
    while True:
        state = race(list(COSTS), COSTS, records, settings)
        if not state.next_units:
            break
        records += [dataclasses.replace(run(pid, seed, 0.07 + rng.gauss(0, 0.004)), wall_time=3600.0)
                    for pid, seed in state.next_units]
    assert state.end == "budget" and len(records) == 6


def test_the_race_is_a_function_of_its_records_so_a_resume_goes_on_without_repeats():
    settings = RaceSettings(delta=0.003, rounds=8)
    full, records = simulate({"a": 0.07, "b": 0.075, "c": 0.09}, settings)
    # Cut the records mid-round (a killed campaign): the race asks for exactly the missing units.
    last_round = max(r.seed for r in records)
    partial = [r for r in records if r.seed < last_round] + [r for r in records if r.seed == last_round][:1]
    state = race(list(COSTS), COSTS, partial, settings)
    missing = {(r.id, r.seed) for r in records if r.seed == last_round} - {(r.id, r.seed) for r in partial}
    assert set(state.next_units) == missing
    assert race(list(COSTS), COSTS, records, settings).status == full.status


def test_rounds_use_fresh_shared_seeds_and_a_race_needs_a_margin():
    state, records = simulate({"a": 0.07, "b": 0.09}, RaceSettings(delta=0.003, rounds=6))
    by_seed = {}
    for r in records:
        by_seed.setdefault(r.seed, set()).add(r.id)
    assert min(by_seed) == RACE_SEED and all(ids == {"a", "b"} for ids in list(by_seed.values())[:1])
    with pytest.raises(ValueError, match="--race needs an indifference margin"):
        race_rules(None, None)
    assert race_rules(None, 0.3, 8, 40) == RaceSettings(0.003, 8, budget=40)


def test_a_race_against_a_control_settles_each_change_better_worse_or_equal():
    """An ablation's race: a (the anchor) against b (3 pp worse: worse at the first look, no seed
    after it) and c (equal: settled equal within a 1 pp margin); the anchor trains while c is open."""
    state, records = simulate({"a": 0.070, "b": 0.100, "c": 0.070}, RaceSettings(delta=0.01, rounds=20),
                              noise=0.003, control="a")
    assert state.status == {"a": ON, "b": "worse", "c": EQUAL} and state.end == "settled"
    seeds = {p: sorted(r.seed for r in records if r.id == p) for p in "abc"}
    assert seeds["b"] == [RACE_SEED, RACE_SEED + 1, RACE_SEED + 2] and seeds["a"] == seeds["c"]
    verdicts = [v for look in state.looks for v in look.verdicts]
    assert all(v.test.reference == "a" for v in verdicts)  # each change minus the anchor


def test_a_change_equal_to_its_control_is_called_better_or_worse_at_most_at_the_nominal_rate():
    """200 races of two changes identical to the anchor (0.2 pp noise, 0.5 pp margin): a sign
    verdict (better or worse) in at most 5% of races."""
    wrong = 0
    for trial in range(200):
        state, _ = simulate({"a": 0.07, "b": 0.07, "c": 0.07}, RaceSettings(delta=0.005, rounds=17), noise=0.002,
                            rng=random.Random(trial), control="a")
        wrong += any(s in ("better", "worse") for s in state.status.values())
    assert wrong / 200 <= 0.05
