"""Zero-cost proxies rated as a fidelity, like an epoch (`search.calibration`), and the prefilter.

A proxy scores a point's network at initialisation under a seed (`gespace.proxies`). It is rated
as the calibration rates epoch k: its prediction under one seed (the negated score: higher scores
predict lower errors) against the full-budget validation error under another seed, the rank
correlation averaged over ordered pairs of distinct seeds, with its interval, beside the
seed-vs-seed ceiling. Parameter count and MACs are rated the same way (more capacity predicting
lower error) as the baselines every proxy must beat. A proxy is trusted when its Spearman
interval clears `search.calibration.TRUSTED`, the bar `--grace auto` sets for an epoch.

`--prefilter PROXY:K` (`prefiltered`) trains only the K sampled points the proxy scores best,
and only when the campaign's calibration cohort trusts it; otherwise it says why and trains all.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from gespace.files import read_json
from search.calibration import MIN_POINTS, TRUSTED, Correlation, cross_seed, seed_pairs
from search.records import TrialRecord

BASELINES = ("params_m", "gmacs")  # costs rated as proxies: what every proxy must beat
SCORES = "proxy-scores.json"  # a campaign's calibration cohort's scores, computed once (cohort_scores)
Scores = dict[str, dict[tuple[str, int], float]]  # proxy -> (point id, seed) -> score


@dataclass
class ProxyRating:
    """Each proxy's and baseline's cross-seed correlation with the final error, and the ceiling."""

    proxies: dict[str, Correlation]
    ceiling: Correlation
    points: int
    warnings: list[str] = field(default_factory=list)

    def trusted(self, proxy: str) -> bool:
        rated = self.proxies.get(proxy)
        return rated is not None and rated.spearman_interval[0] >= TRUSTED


def final_runs(records: Sequence[TrialRecord]) -> dict[str, dict[int, TrialRecord]]:
    """Point id -> seed -> its full-budget run, for points with at least two seeds."""
    by_point: dict[str, dict[int, TrialRecord]] = defaultdict(dict)
    for record in records:
        if record.trained_fully and record.seed is not None:
            by_point[record.id][record.seed] = record
    return {pid: runs for pid, runs in by_point.items() if len(runs) >= 2}


def rate_proxies(records: Sequence[TrialRecord], scores: Mapping[str, Mapping[tuple[str, int], float]],
                 resamples: int = 2000) -> ProxyRating | None:
    """Rate every proxy in ``scores`` (proxy -> (point id, seed) -> score) and the cost baselines
    on the records' full-budget runs; None without MIN_POINTS points under two shared seeds."""
    runs = final_runs(records)
    points = list(runs)
    seeds = list(dict.fromkeys(s for pid in points for s in runs[pid]))

    def table(value: Any) -> np.ndarray:
        return np.array([[value(pid, s) if s in runs[pid] else None for s in seeds] for pid in points], dtype=float)

    final = table(lambda pid, s: runs[pid][s].val_error)
    pairs = seed_pairs(final) if len(points) >= MIN_POINTS else []
    if not pairs:
        return None
    rating = ProxyRating({}, cross_seed(final, final, pairs, None, resamples), len(points))
    for name in BASELINES:
        if all(runs[pid][s].objective(name) is not None for pid in points for s in runs[pid]):
            rating.proxies[name] = cross_seed(table(lambda pid, s: -runs[pid][s].objective(name)), final, pairs,
                                              None, resamples)
    for name, by_unit in scores.items():
        predicted = table(lambda pid, s: -by_unit[(pid, s)] if (pid, s) in by_unit else None)
        rating.proxies[name] = cross_seed(predicted, final, pairs, None, resamples)
    costs = [rating.proxies[b].spearman for b in BASELINES if b in rating.proxies]
    best_baseline = max((c for c in costs if np.isfinite(c)), default=None)
    for name in scores:
        rated = rating.proxies[name]
        low, high = rated.spearman_interval
        if not low > 0:
            rating.warnings.append(f"{name}: not clearly above chance (Spearman {rated.spearman:.2f}, 95% interval "
                                   f"{low:.2f} to {high:.2f})")
        elif best_baseline is not None and rated.spearman <= best_baseline:
            rating.warnings.append(f"{name}: ranks no better than a cost does (Spearman {rated.spearman:.2f} vs "
                                   f"{best_baseline:.2f}): use the cost")
    return rating


def score_points(points: Mapping[tuple[str, int], dict], proxies: Sequence[str], data_root: str | None = None,
                 batch: int = 64) -> dict[str, dict[tuple[str, int], float]]:
    """Each proxy's score of each (point id, seed)'s network at initialisation, on one shared batch."""
    from gespace.builder import build_model
    from gespace.proxies import proxy_batch, score

    scores: dict[str, dict[tuple[str, int], float]] = {p: {} for p in proxies}
    if not points:
        return scores
    images, labels = proxy_batch(next(iter(points.values())), data_root, batch)
    for (pid, seed), point in points.items():
        for proxy in proxies:
            scores[proxy][(pid, seed)] = score(build_model(point, seed=seed), images, labels, proxy)
    return scores


def read_scores(path: Path) -> Scores:
    """Scores written by `write_scores` ({} when there are none)."""
    if not path.exists():
        return {}
    return {name: {(item["point"], item["seed"]): item["score"] for item in items}
            for name, items in read_json(path, "proxy scores").items()}


def write_scores(path: Path, scores: Scores) -> None:
    path.write_text(json.dumps({name: [{"point": pid, "seed": seed, "score": value}
                                       for (pid, seed), value in by_unit.items()]
                                for name, by_unit in scores.items()}, indent=1))


def cohort_scores(directory: Path, records: Sequence[TrialRecord], space: Any, data_root: str | None = None
                  ) -> Scores:
    """Every proxy's scores of a campaign's calibration cohort (its runs under two or more seeds),
    kept in ``directory/SCORES``: units scored before are not scored again."""
    from gespace.proxies import PROXIES

    path = directory / SCORES
    scores = read_scores(path)
    cohort = final_runs([r for r in records if r.calibration])
    missing = {(pid, seed): space.canonicalise(run.point) for pid, runs in cohort.items() for seed, run in runs.items()
               if any((pid, seed) not in scores.get(p, {}) for p in PROXIES)}
    if missing:
        for name, by_unit in score_points(missing, list(PROXIES), data_root).items():
            scores.setdefault(name, {}).update(by_unit)
        write_scores(path, scores)
    return scores


def parse_prefilter(text: str) -> tuple[str, int]:
    """'synflow:8' -> ('synflow', 8); ValueError (one line) otherwise."""
    from gespace.proxies import PROXIES

    name, _, count = text.partition(":")
    if name not in PROXIES or not count.isdigit() or int(count) < 1:
        raise ValueError(f"--prefilter {text!r}: PROXY:K with PROXY one of {', '.join(PROXIES)} and K >= 1")
    return name, int(count)


def prefiltered(candidates: Sequence[tuple[str, dict]], scores: Mapping[str, float], count: int) -> list[str]:
    """The ``count`` candidate ids (id, point) with the highest proxy scores, in the candidates' order."""
    best = set(sorted((pid for pid, _ in candidates), key=lambda pid: -scores[pid])[:count])
    return [pid for pid, _ in candidates if pid in best]
