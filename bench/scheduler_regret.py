"""How well each early-stopping scheduler keeps the true Pareto front, on curve sets with a known
truth, and how far the schedulers agree on the committed campaigns. Asserts nothing.

Ground truth: 30 points, each a learning curve over 9 epochs (rungs at 1 and 3, eta 3) toward a
true final error (normal, mean 8%, SD 1.2 pp, at least 5%), starting near 1.8 times it and decaying
geometrically, a fifth of them learning slowly at first (1.5 pp worse at epoch 1, decaying more
slowly) so that curves cross, with seed noise at each
epoch as measured in `results/answer` (the pooled within-point SD of validation error after
each of its 5 epochs, mapped onto the 9). Costs either spread (0.01-0.05 GMACs) or GE-like (within
0.5% of 0.031 GMACs, as GE changes a ResNet-20's MACs). Each curve set is run under 12 launch
orders with random epoch durations on 2 workers, 12 sets: 144 runs per row, by

- mosha and moasha (`search.schedulers.SuccessiveHalving`, synchronous and asynchronous with
  min_results 6), replayed (`search.replay`);
- Ray Tune's own `ASHAScheduler` on validation error, driven through its API with the same
  replayed results (one bracket, grace 1, reduction factor 3, max_t 9);
- synchronous single-objective halving (SuccessiveHalving on validation error alone);
- random stopping (synchronous halving that ranks by a random key).

Per run: Pareto recall (the share of the true front, true final errors and exact costs, that was
trained to the full budget; and the same against the front whose costs within 1% count as equal,
gespace's rule, where GE-like costs leave the point of lowest true error), the hypervolume ratio (of the fully trained points' true values to
the true front's, each objective normalised over the set, reference 1.1) and the epochs trained.
Then every committed campaign (each results/ folder with a campaign.json) replayed under 100 orders: how often mosha, moasha and ASHA agree on
what trains to the full budget (Jaccard index of the finished sets; no ground truth there, so
never a recall), and how many promotions needed an epoch the recording does not have.

    python bench/scheduler_regret.py [--sets 12] [--orders 12]

Last line: ``regret: mosha recall R1 at E1 epochs, asha R2 at E2, random R3 at E3 (GE-like costs)``.
"""
from __future__ import annotations

import argparse
import heapq
import math
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
from scipy import stats
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from gespace.train.device import cpu_description
from search.hypervolume import normalised_hypervolume
from search.pareto import dominance
from search.replay import Curve, curves_from_records, replay
from search.schedulers import SuccessiveHalving
from search.statistics import noise_by_epoch
from search.store import CampaignStore

ROOT = Path(__file__).resolve().parent.parent
MAX_T, GRACE, ETA, POINTS, WORKERS = 9, 1, 3, 30, 2
OBJECTIVES = ("val_error", "gmacs")


def measured_noise(source: Path) -> list[float]:
    """Seed noise (pooled SD of validation error) after each epoch of ``source``, mapped onto MAX_T."""
    by_epoch = noise_by_epoch(CampaignStore(source).records())
    sigmas = [by_epoch[e].sigma for e in sorted(by_epoch)]
    return [sigmas[min(len(sigmas) - 1, math.ceil(e * len(sigmas) / MAX_T) - 1)] for e in range(1, MAX_T + 1)]


def curve_set(rng: random.Random, noise: list[float], costs: str) -> tuple[list[Curve], dict]:
    """POINTS noisy curves and their truth: point -> (true final error, cost)."""
    curves, truth = [], {}
    for index in range(POINTS):
        final = max(0.05, rng.gauss(0.08, 0.012))
        slow = rng.random() < 0.2  # a slow starter (like GE-θ⁻, Sec. 4 of the paper): curves cross
        start = final * rng.uniform(1.75, 1.85) + (0.015 if slow else 0.0)
        rate = rng.uniform(0.5, 0.65) if slow else rng.uniform(0.3, 0.45)
        errors = [final + (start - final) * rate ** (e - 1) for e in range(1, MAX_T)] + [final]
        noisy = [e + rng.gauss(0, s) for e, s in zip(errors, noise)]
        cost = rng.uniform(0.01, 0.05) if costs == "spread" else 0.031 * (1 + rng.uniform(0, 0.005))
        unit = (f"p{index:02d}", 0)
        curves.append(Curve(unit, noisy, (cost,)))
        truth[unit] = (final, cost)
    return curves, truth


def true_front(truth: dict, cost_tolerance: float) -> set:
    """The true final front: true errors, costs equal within ``cost_tolerance`` (0: exact)."""
    units = list(truth)
    beats = dominance([truth[u] for u in units], OBJECTIVES, tolerance={"gmacs": cost_tolerance})
    return {u for u, out in zip(units, beats.any(0)) if not out}


def scores(finished: set, epochs: int, truth: dict) -> tuple[float, float, float, int]:
    """(Pareto recall against the exact-cost front, against the front with costs within 1% equal,
    hypervolume ratio, epochs) of one run."""
    front = true_front(truth, 0.0)
    tolerant = true_front(truth, 0.01)
    values = np.array([truth[u] for u in truth])
    low, high = values.min(0), values.max(0)
    span = np.where(high > low, high - low, 1.0)

    def volume(units: set) -> float:
        points = [(np.array(truth[u]) - low) / span for u in units]
        return normalised_hypervolume(points, [1.1, 1.1]) if points else 0.0

    return (len(front & finished) / len(front), len(tolerant & finished) / len(tolerant),
            volume(finished) / volume(front), epochs)


def durations_for(rng: random.Random, curves: list[Curve]) -> dict:
    return {c.unit: rng.uniform(0.5, 2.0) for c in curves}


def run_halving(synchronous: bool, objectives: tuple[str, ...] = OBJECTIVES, key: Callable | None = None
                ) -> Callable:
    """A replay of SuccessiveHalving; ``key`` replaces the errors it ranks on (random stopping)."""
    def run(curves: list[Curve], order: list[Curve], rng: random.Random, durations: dict) -> tuple[set, int]:
        ranked = order
        errors = (lambda c: [key(rng)] * len(c.errors)) if key is not None else (lambda c: c.errors)
        ranked = [Curve(c.unit, errors(c), c.costs[:len(objectives) - 1]) for c in order]
        halving = SuccessiveHalving(max_t=MAX_T, grace=GRACE, eta=ETA, synchronous=synchronous, min_results=6,
                                    objectives=objectives)
        result = replay(halving, ranked, workers=WORKERS, durations=durations)
        return result.finished(MAX_T), sum(result.epochs.values())
    return run


def run_ray_asha(curves: list[Curve], order: list[Curve], rng: random.Random, durations: dict) -> tuple[set, int]:
    """Ray Tune's ASHAScheduler, fed the same epochs through its API on simulated workers."""
    scheduler = ASHAScheduler(time_attr="epoch", metric="val_error", mode="min", max_t=MAX_T, grace_period=GRACE,
                              reduction_factor=ETA, brackets=1)
    by_unit = {c.unit: c for c in curves}
    trials = {c.unit: SimpleNamespace(trial_id=f"{c.unit[0]}-{c.unit[1]}") for c in curves}
    pending, busy, clock, sequence, trained = list(order), [], 0.0, 0, {}

    def start(unit, epoch: int) -> None:
        nonlocal sequence
        sequence += 1
        heapq.heappush(busy, (clock + durations[unit], sequence, unit, epoch))

    def fill() -> None:
        while len(busy) < WORKERS and pending:
            curve = pending.pop(0)
            scheduler.on_trial_add(None, trials[curve.unit])
            start(curve.unit, 1)

    fill()
    while busy:
        clock, _, unit, epoch = heapq.heappop(busy)
        trained[unit] = epoch
        action = scheduler.on_trial_result(None, trials[unit], {"epoch": epoch,
                                                                "val_error": by_unit[unit].errors[epoch - 1]})
        if action == TrialScheduler.CONTINUE and epoch < MAX_T:
            start(unit, epoch + 1)
        fill()
    return {u for u, e in trained.items() if e >= MAX_T}, sum(trained.values())


SCHEDULERS: dict[str, Callable] = {
    "mosha": run_halving(True),
    "moasha (min_results 6)": run_halving(False),
    "Ray ASHA (error only)": run_ray_asha,
    "synchronous halving, error only": run_halving(True, ("val_error",)),
    "random stopping": run_halving(True, ("val_error",), key=lambda rng: rng.random()),
}


def synthetic(noise: list[float], sets: int, orders: int) -> dict[tuple[str, str], np.ndarray]:
    table = {}
    for costs in ("spread", "GE-like"):
        for name, run in SCHEDULERS.items():
            rows = []
            for index in range(sets):
                curves, truth = curve_set(random.Random(1000 + index), noise, costs)
                for trial in range(orders):
                    rng = random.Random(trial)
                    order = curves[:]
                    rng.shuffle(order)
                    finished, epochs = run(curves, order, rng, durations_for(rng, curves))
                    rows.append(scores(finished, epochs, truth))
            table[(name, costs)] = np.array(rows)
    return table


def committed(orders: int) -> list[str]:
    """Agreement between schedulers' finished sets on each committed campaign's search phase."""
    lines = []
    for source in sorted(path.parent for path in (ROOT / "results").rglob("campaign.json")):
        records = CampaignStore(source).records()
        curves = curves_from_records(records)
        budget = max(r.budget or 0 for r in records)
        agree = {"mosha-moasha": [], "mosha-asha": []}
        truncated = {"mosha": 0, "moasha": 0}
        for trial in range(orders):
            rng = random.Random(trial)
            order = curves[:]
            rng.shuffle(order)
            durations = durations_for(rng, curves)
            finished = {}
            for name, synchronous in (("mosha", True), ("moasha", False)):
                halving = SuccessiveHalving(max_t=budget, grace=1, eta=ETA, synchronous=synchronous, min_results=6)
                result = replay(halving, order, workers=WORKERS, durations=durations)
                finished[name] = result.finished(budget) - {c.unit for c in curves if c.exempt}
                truncated[name] += len(result.truncated)
            asha = ASHAScheduler(time_attr="epoch", metric="val_error", mode="min", max_t=budget, grace_period=1,
                                 reduction_factor=ETA, brackets=1)
            finished["asha"] = asha_finished(asha, order, durations, budget)
            for pair in agree:
                a, b = (finished[n] for n in pair.split("-"))
                agree[pair].append(len(a & b) / len(a | b) if a | b else 1.0)
        lines.append(f"{source.relative_to(ROOT)}: {len(curves)} search units, Jaccard of the searched units "
                     f"finished: mosha-moasha {np.mean(agree['mosha-moasha']):.2f}, mosha-ASHA "
                     f"{np.mean(agree['mosha-asha']):.2f}; promotions past a recorded curve "
                     f"(truncated) per replay: mosha {truncated['mosha'] / orders:.2f}, "
                     f"moasha {truncated['moasha'] / orders:.2f}")
    return lines


def asha_finished(scheduler: ASHAScheduler, order: list[Curve], durations: dict, budget: int) -> set:
    """The searched units Ray's ASHA trains to ``budget`` on a recorded campaign (anchors exempt, as
    `search.schedulers.AnchoredASHA` makes them); a unit it continues past its curve stops there."""
    busy, clock, sequence, trained, pending = [], 0.0, 0, {}, list(order)
    trials = {c.unit: SimpleNamespace(trial_id=f"{c.unit[0]}-{c.unit[1]}") for c in order}
    by_unit = {c.unit: c for c in order}

    def start(unit, epoch: int) -> None:
        nonlocal sequence
        sequence += 1
        heapq.heappush(busy, (clock + durations[unit], sequence, unit, epoch))

    while pending or busy:
        while len(busy) < WORKERS and pending:
            curve = pending.pop(0)
            scheduler.on_trial_add(None, trials[curve.unit])
            start(curve.unit, 1)
        clock, _, unit, epoch = heapq.heappop(busy)
        trained[unit] = epoch
        curve = by_unit[unit]
        action = scheduler.on_trial_result(None, trials[unit], {"epoch": epoch, "val_error": curve.errors[epoch - 1]})
        if (action == TrialScheduler.CONTINUE or curve.exempt) and epoch < min(budget, len(curve.errors)):
            start(unit, epoch + 1)
    return {u for u, e in trained.items() if e >= budget and not by_unit[u].exempt}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=12)
    parser.add_argument("--orders", type=int, default=12)
    args = parser.parse_args()
    np.random.seed(0)  # Ray's ASHA draws its bracket from numpy's global generator
    noise = measured_noise(ROOT / "results" / "answer")
    print(f"CPU: {cpu_description()}")
    print("seed noise per epoch (pp, from results/answer): " + ", ".join(f"{100 * s:.2f}" for s in noise))
    table = synthetic(noise, args.sets, args.orders)
    early = [stats.spearmanr([c.errors[0] for c in curves], [truth[c.unit][0] for c in curves]).statistic
             for curves, truth in (curve_set(random.Random(1000 + i), noise, "spread") for i in range(args.sets))]
    print(f"how much epoch 1 knows: Spearman of the noisy epoch-1 errors with the true finals, mean over the "
          f"sets {np.mean(early):.2f} (results/answer's cross-seed calibration at epoch 1: 0.43 on 5 points)")
    runs = args.sets * args.orders
    for costs in ("spread", "GE-like"):
        print(f"\n{costs} costs ({POINTS} points, eta {ETA}, {runs} runs a row):\n")
        print("| scheduler | Pareto recall (exact costs) | Pareto recall (costs within 1% equal) "
              "| hypervolume ratio | epochs |")
        print("|---|---|---|---|---|")
        for name in SCHEDULERS:
            exact, tolerant, volume, epochs = table[(name, costs)].mean(0)
            print(f"| {name} | {exact:.3f} | {tolerant:.3f} | {volume:.2f} | {epochs:.0f} |")
    print()
    for line in committed(max(100, args.orders)):
        print(line)
    ge = {name: table[(name, "GE-like")].mean(0) for name in SCHEDULERS}
    mosha, asha, rand = ge["mosha"], ge["Ray ASHA (error only)"], ge["random stopping"]
    print(f"regret: mosha recall {mosha[0]:.3f} at {mosha[3]:.0f} epochs, asha {asha[0]:.3f} at {asha[3]:.0f}, "
          f"random {rand[0]:.3f} at {rand[3]:.0f} (GE-like costs)")


if __name__ == "__main__":
    main()
