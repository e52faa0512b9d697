"""The paper's Table 5 ordering, tested on a campaign's anchors as one family of comparisons.

Usage: python results/answer/table5.py CAMPAIGN_DIR [--equivalence-pp 0.3] > table5.md

First every point of the confirmed table (the anchors' full-budget runs and the
confirmed points) with 95% intervals, test accuracy, p_front and p_best; then the
pairs.

Table 5 (CIFAR, ResNet-110/164, WRN-16-8) orders the anchors the same way in
every column: GE-θ⁺ < SE < GE-θ < GE-θ⁻ < baseline in error. Its ten pairs are
one family per metric (validation error, test error), judged as all pairs
after an omnibus test: Tukey's HSD on the blocked model (point + seed: the
anchors share seeds 0-2; `search.verdicts`), whose simultaneous 95% intervals are
the ones printed. For each pair: the paper's difference (ResNet-110, CIFAR-10 /
CIFAR-100), the campaign's with its interval, raw and Tukey-adjusted p, and
whether it resolves the paper's direction, the opposite, equality within the
margin, or nothing.
"""
from __future__ import annotations

import argparse

from gespace.grammar import anchor_label
from search.records import CONFIRM, SEARCH, phase_records
from search.sections import interval_text, labeller
from search.statistics import campaign_noise, resolvable_difference, summarise, with_p_front
from search.store import CampaignStore
from search.verdicts import BETTER, WORSE, Experiment, Verdict, all_pairs

# Table 5, ResNet-110: CIFAR-10 / CIFAR-100 test error (%), best first.
PAPER = {"ge-theta-plus": (4.93, 23.36), "se": (5.21, 23.85), "ge-theta": (5.57, 24.29),
         "ge-theta-minus": (6.01, 26.58), "baseline": (6.37, 26.88)}


def _cell(verdict: Verdict) -> str:
    test = verdict.test
    if verdict.interval is None:
        return f"{100 * test.estimate:+.2f}"
    low, high = verdict.interval
    p = f"{test.p:.3f} / {verdict.p_adjusted:.3f}"
    return f"{100 * test.estimate:+.2f} [{100 * low:+.2f}, {100 * high:+.2f}], p {p}"


def _agreement(verdict: Verdict) -> str:
    if verdict.verdict == BETTER:
        return "**yes** (resolved)"
    if verdict.verdict == WORSE:
        return "**no**: resolved the other way"
    if verdict.verdict.startswith("equal"):
        return verdict.verdict
    return f"not resolved ({'same' if verdict.test.estimate < 0 else 'opposite'} sign)"


def main() -> None:
    parser = argparse.ArgumentParser(description="The paper's Table 5 ordering on a campaign's anchors")
    parser.add_argument("campaign")
    parser.add_argument("--equivalence-pp", type=float, default=0.3,
                        help="margin within which a pair is called equal (percentage points; default 0.3)")
    args = parser.parse_args()
    margin = args.equivalence_pp / 100
    store = CampaignStore(args.campaign)
    everything, objectives = store.latest(), store.settings()["objectives"]
    # The confirmed table (the anchors' full-budget runs with it), else the search's.
    records = phase_records(everything, CONFIRM) or phase_records(everything, SEARCH)
    noise = campaign_noise(records)
    summaries = summarise(records, noise)
    with_p_front(summaries, objectives)
    anchors = {s.name: s for s in summaries if s.name in PAPER}
    print("| point | seeds | validation error (%) | test error (%) | test accuracy (%) | p_front | p_best | GMACs "
          "| params (M) |")
    print("|---|---|---|---|---|---|---|---|---|")
    label = labeller(records)
    for summary in sorted(summaries, key=lambda s: s.error.mean):
        low, high = summary.test.interval() or (float("nan"), float("nan"))
        print(f"| {label(summary)} | {len(summary.errors)} | {interval_text(summary.error)} "
              f"| {interval_text(summary.test)} | {100 * (1 - summary.test.mean):.2f} "
              f"[{100 * (1 - high):.2f}, {100 * (1 - low):.2f}] | {summary.p_front:.2f} | {summary.p_best:.2f} "
              f"| {summary.cost.gmacs:.4f} | {summary.cost.params_m:.3f} |")
    print()
    names = [name for name in reversed(PAPER) if name in anchors]  # worst first: each pair is better - worse
    families, notes = {}, []
    for metric, runs in (("validation", {n: anchors[n].errors for n in names}),
                         ("test", {n: anchors[n].tests for n in names})):
        experiment = Experiment(runs)
        families[metric] = {(v.test.point, v.test.reference): v for v in all_pairs(experiment, names, margin)}
        resolved = sum(v.resolved for v in families[metric].values())
        omnibus = experiment.omnibus(names)
        fit = experiment.fit
        notes.append(f"{metric.capitalize()} error: omnibus F test (blocked model) that the {len(names)} anchors "
                     f"share one error, p = {omnibus:.2f}; Tukey HSD resolves {resolved} of "
                     f"{len(families[metric])} pairs; residual SD {100 * fit.sigma:.2f} pp on {fit.df} df.")
    print("| pair: paper's better first | paper: CIFAR-10 / -100 (pp) | here: validation (pp, Tukey 95% CI), "
          "p raw / Tukey | here: test (pp, Tukey 95% CI), p raw / Tukey | seeds "
          "| the paper's direction? validation / test |")
    print("|---|---|---|---|---|---|")
    for k, better in enumerate(PAPER):  # PAPER is ordered best first
        for worse in list(PAPER)[k + 1:]:
            if better not in anchors or worse not in anchors:
                continue
            val, test = (families[m][(better, worse)] for m in ("validation", "test"))
            paper = [f"{a - b:+.2f}" for a, b in zip(PAPER[better], PAPER[worse])]
            print(f"| {anchor_label(better)} − {anchor_label(worse)} | {' / '.join(paper)} | {_cell(val)} "
                  f"| {_cell(test)} | {len(val.test.seeds)} | {_agreement(val)} / {_agreement(test)} |")
    print()
    for note in notes:
        print(note + "\n")
    seeds = min(len(anchors[n].errors) for n in names)
    print(f"Equal means the pair's Tukey interval lies inside ±{args.equivalence_pp:g} pp. With {seeds} common "
          f"seeds a single paired difference of {100 * resolvable_difference(noise, seeds):.2f} pp is resolved "
          "with 80% power (before any adjustment for the ten pairs).")


if __name__ == "__main__":
    main()
