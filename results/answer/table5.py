"""The paper's Table 5 ordering, tested on a campaign's confirmed anchor runs.

Usage: python results/answer/table5.py CAMPAIGN_DIR > table5.md

First every point of the confirmed table (the anchors' full-budget runs and the
confirmed points) with 95% intervals and test accuracy; then the pairs.

Table 5 (CIFAR, ResNet-110/164, WRN-16-8) orders the anchors the same way in
every column: GE-θ⁺ < SE < GE-θ < GE-θ⁻ < baseline in error. For each of the
ten pairs: the paper's difference (ResNet-110, CIFAR-10 / CIFAR-100), the
campaign's paired difference of validation error over common seeds with its 95%
interval on the pooled seed noise (search/statistics.py), the same for test
error, and whether each resolves the paper's direction, the opposite, or
neither.
"""
from __future__ import annotations

import sys
from itertools import combinations

from gespace.grammar import anchor_label
from search.records import CONFIRM, SEARCH, phase_records
from search.sections import interval_text, labeller
from search.statistics import (BETTER, WORSE, PointSummary, campaign_noise, paired_difference, pooled_noise,
                               resolvable_difference, summarise, with_p_front)
from search.store import CampaignStore

# Table 5, ResNet-110: CIFAR-10 / CIFAR-100 test error (%), best first.
PAPER = {"ge-theta-plus": (4.93, 23.36), "se": (5.21, 23.85), "ge-theta": (5.57, 24.29),
         "ge-theta-minus": (6.01, 26.58), "baseline": (6.37, 26.88)}


def _cell(comparison) -> str:
    interval = comparison.difference.interval() if comparison.difference else None
    if interval is None:
        return "-"
    mean = comparison.difference.mean
    return f"{100 * mean:+.2f} [{100 * interval[0]:+.2f}, {100 * interval[1]:+.2f}]"


def _agreement(verdict: str, mean: float) -> str:
    if verdict == BETTER:
        return "**yes** (resolved)"
    if verdict == WORSE:
        return "**no**: resolved the other way"
    return f"not resolved ({'same' if mean < 0 else 'opposite'} sign)"


def main() -> None:
    store = CampaignStore(sys.argv[1])
    everything, objectives = store.latest(), store.settings()["objectives"]
    # The confirmed table (the anchors' full-budget runs with it), else the search's.
    records = phase_records(everything, CONFIRM) or phase_records(everything, SEARCH)
    noise = campaign_noise(records)
    summaries = {s.name: s for s in summarise(records, noise) if s.name}
    # Test error as its own measurement: the same comparison on test errors and their pooled noise.
    test_noise = pooled_noise(list(s.tests.values()) for s in summaries.values())
    as_test = {name: PointSummary(s.id, name, s.point, s.cost, s.tests, {}, s.test, None)
               for name, s in summaries.items()}
    print("| point | seeds | validation error (%) | test error (%) | test accuracy (%) | p_front | GMACs "
          "| params (M) |")
    print("|---|---|---|---|---|---|---|---|")
    label = labeller(records)
    for summary in sorted(with_p_front(summarise(records, noise), objectives), key=lambda s: s.error.mean):
        low, high = summary.test.interval() or (float("nan"), float("nan"))
        print(f"| {label(summary)} | {len(summary.errors)} | {interval_text(summary.error)} | {interval_text(summary.test)} "
              f"| {100 * (1 - summary.test.mean):.2f} [{100 * (1 - high):.2f}, {100 * (1 - low):.2f}] "
              f"| {summary.p_front:.2f} | {summary.cost.gmacs:.4f} | {summary.cost.params_m:.3f} |")
    print()
    print("| pair: paper's better first | paper: CIFAR-10 / -100 (pp) | here: validation (pp, 95% CI) "
          "| here: test (pp, 95% CI) | seeds | the paper's direction? validation / test |")
    print("|---|---|---|---|---|---|")
    for better, worse in combinations(PAPER, 2):  # PAPER is ordered best first
        if better not in summaries or worse not in summaries:
            continue
        val = paired_difference(summaries[better], summaries[worse], noise)
        test = paired_difference(as_test[better], as_test[worse], test_noise)
        paper = [f"{a - b:+.2f}" for a, b in zip(PAPER[better], PAPER[worse])]
        agreement = " / ".join(_agreement(c.verdict, c.difference.mean) if c.difference else "-" for c in (val, test))
        print(f"| {anchor_label(better)} − {anchor_label(worse)} | {' / '.join(paper)} | {_cell(val)} "
              f"| {_cell(test)} | {len(val.seeds)} | {agreement} |")
    seeds = min(len(s.errors) for s in summaries.values())
    smallest = resolvable_difference(noise, seeds)
    print(f"\nSeed noise of validation error {100 * noise.sigma:.2f} pp ({noise.df} df), of test error "
          f"{100 * test_noise.sigma:.2f} pp ({test_noise.df} df). With {seeds} common seeds a paired "
          f"difference of {100 * smallest:.2f} pp is resolved with 80% power.")


if __name__ == "__main__":
    main()
