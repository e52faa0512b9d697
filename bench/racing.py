"""Racing against fixed seeds on simulated confirmations with a known truth. Asserts nothing.

Each simulated campaign holds n points (5, 10, 20 or 30) of GE-like costs (within 1%, so every
point competes with every other) whose true test errors are spread as `results/answer`'s anchors'
(6.8-7.5%: the means there, resampled with jitter), a third of them placed within the margin
(0.3 pp) of another. A run's test error is its point's truth plus a seed effect shared by every
point under that seed plus its own noise, at the seed noise measured in `results/answer` (its
pooled within-point SD of test error; the committed records carry no per-image bits, so no
image-level noise is simulated). Each campaign is raced (`search.racing`, 30 declared rounds) and
run with fixed K seeds a point, K in 3, 5, 10, 20, judged once by the same rule (a race of one
look, so its bounds need no share over looks). Per design: runs used, the share of points left open, and the share of
campaigns with a wrong settlement (off while no competitor is truly better; on while one is truly
better by more than the margin). The race is compared with the smallest fixed K that is no worse
in wrong and open shares.

    python bench/racing.py [--campaigns 12] [--sizes 5 10 20 30]

Last line: ``racing: X.XXx fewer runs than the fixed-K design with the same decisions; wrong
settlements Y.Y% (nominal 5%)``.
"""
from __future__ import annotations

import argparse
import dataclasses
import random
from pathlib import Path

import numpy as np

from gespace.train.device import cpu_description
from search.racing import OFF, ON, RACE_SEED, RaceSettings, competitors, race
from search.records import CostFigures, TrialRecord
from search.statistics import campaign_noise, pooled_noise, summarise
from search.store import CampaignStore

ROOT = Path(__file__).resolve().parent.parent
DELTA, FIXED = 0.003, (3, 5, 10, 20)


def measured() -> tuple[list[float], float]:
    """results/answer's anchors' mean test errors and its pooled seed noise of test error."""
    records = CampaignStore(ROOT / "results" / "answer").records()
    summaries = [s for s in summarise(records, campaign_noise(records)) if s.name]
    noise = pooled_noise(list(s.tests.values()) for s in summaries)
    return [s.test.mean for s in summaries], noise.sigma


def campaign(n: int, means: list[float], rng: random.Random) -> dict[str, float]:
    """n true errors: resampled anchors' means with jitter, a third within the margin of another."""
    truth = {}
    for k in range(n):
        if k and k % 3 == 0:
            truth[f"p{k:02d}"] = truth[f"p{k - 1:02d}"] + rng.uniform(-DELTA, DELTA) * 0.8
        else:
            truth[f"p{k:02d}"] = rng.choice(means) + rng.gauss(0, 0.002)
    return truth


def record(pid: str, seed: int, error: float) -> TrialRecord:
    return TrialRecord(id=pid, status="ok", point={}, name=None, seed=seed, phase="confirm",
                       cost=CostFigures(gmacs=1.0), val_error=error, test_error=error,
                       epochs=[{"epoch": 1, "val_error": error}])


class Runs:
    """Draws runs: truth + the seed's shared effect + the run's own noise."""

    def __init__(self, truth: dict[str, float], sigma: float, rng: random.Random) -> None:
        self.truth, self.sigma, self.rng, self.effects = truth, sigma, rng, {}

    def __call__(self, pid: str, seed: int) -> TrialRecord:
        effect = self.effects.setdefault(seed, self.rng.gauss(0, self.sigma / 2))
        return record(pid, seed, self.truth[pid] + effect + self.rng.gauss(0, self.sigma))


def wrong(status: dict[str, str], truth: dict[str, float], costs: dict) -> bool:
    for p, s in status.items():
        rivals = competitors(p, list(truth), costs)
        if s == OFF and not any(truth[q] < truth[p] for q in rivals):
            return True
        if s == ON and any(truth[q] < truth[p] - DELTA for q in rivals):
            return True
    return False


def run_race(truth: dict[str, float], runs: Runs, costs: dict, rounds: int) -> tuple[int, float, bool]:
    records: list[TrialRecord] = []
    settings = RaceSettings(DELTA, rounds)
    while True:
        state = race(list(truth), costs, records, settings)
        if not state.next_units:
            break
        records += [runs(pid, seed) for pid, seed in state.next_units]
    open_share = sum(s not in (ON, OFF) for s in state.status.values()) / len(truth)
    return len(records), open_share, wrong(state.status, truth, costs)


def run_fixed(truth: dict[str, float], runs: Runs, costs: dict, k: int) -> tuple[int, float, bool]:
    """K seeds a point, then one look by the same rule (a race of one declared look)."""
    records = [runs(pid, RACE_SEED + s) for s in range(k) for pid in truth]
    # The same analysis at one look: every point trained under seeds RACE_SEED .. RACE_SEED + k - 1.
    state = race(list(truth), costs, _as_one_round(records, k), RaceSettings(DELTA, rounds=1, first_look=1))
    open_share = sum(s not in (ON, OFF) for s in state.status.values()) / len(truth)
    return len(records), open_share, wrong(state.status, truth, costs)


def _as_one_round(records: list[TrialRecord], k: int) -> list[TrialRecord]:
    """Seeds RACE_SEED + 1 .. + k - 1 as earlier fixed seeds (below RACE_SEED), seed RACE_SEED as
    the single look's round: the race analyses them all at its one look."""
    return [r if r.seed == RACE_SEED else dataclasses.replace(r, seed=r.seed - RACE_SEED + 100) for r in records]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=12)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 10, 20, 30])
    parser.add_argument("--rounds", type=int, default=30, help="the race's declared rounds (default %(default)s)")
    args = parser.parse_args()
    means, sigma = measured()
    print(f"CPU: {cpu_description()}")
    print(f"truth from results/answer: anchors' test errors {', '.join(f'{100 * m:.2f}' for m in means)} %, "
          f"seed noise {100 * sigma:.2f} pp; margin {100 * DELTA:g} pp; {args.campaigns} campaigns a size")
    designs = ["race"] + [f"K={k}" for k in FIXED]
    totals = {d: np.zeros(3) for d in designs}
    count = 0
    for n in args.sizes:
        for index in range(args.campaigns):
            rng = random.Random(1000 * n + index)
            truth = campaign(n, means, rng)
            costs = {p: {"gmacs": 1.0 + 0.001 * k / n} for k, p in enumerate(truth)}
            results = {"race": run_race(truth, Runs(truth, sigma, random.Random(index)), costs, args.rounds)}
            for k in FIXED:
                results[f"K={k}"] = run_fixed(truth, Runs(truth, sigma, random.Random(index)), costs, k)
            for d in designs:
                runs, opened, wrongs = results[d]
                totals[d] += (runs / n, opened, float(wrongs))
            count += 1
    print("\n| design | runs a point | open share | campaigns with a wrong settlement |")
    print("|---|---|---|---|")
    rows = {d: totals[d] / count for d in designs}
    for d in designs:
        runs, opened, wrongs = rows[d]
        print(f"| {d} | {runs:.1f} | {opened:.3f} | {100 * wrongs:.1f}% |")
    race_runs, race_open, race_wrong = rows["race"]
    match = next((d for d in designs[1:] if rows[d][1] <= race_open and rows[d][2] <= race_wrong), designs[-1])
    print(f"\nthe smallest fixed design no worse in open and wrong shares: {match}")
    print(f"racing: {rows[match][0] / race_runs:.2f}x fewer runs than the fixed-K design with the same decisions; "
          f"wrong settlements {100 * race_wrong:.1f}% (nominal 5%)")


if __name__ == "__main__":
    main()
