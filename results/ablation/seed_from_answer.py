"""Start results/ablation's campaign with the runs results/answer already made of its points.

results/answer trained the paper's anchors, GE-θ among them, under seeds 0, 1 and 2 to the full
budget, on the same spec (spaces/fashion-answer.yaml, byte for byte) and recipe. Four of the
ablation's points around GE-θ are those anchors (GE-θ itself, the baseline = no GE, GE-θ⁻ = pool
gather, GE-θ⁺ = SE subnet), so their 12 runs are the same (point, seed) units: they are copied in
once, and the campaign trains only the rest. Run by run.sh; does nothing when the campaign exists.

    python results/ablation/seed_from_answer.py CAMPAIGN_DIR
"""
from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

from gespace.grammar import load_space
from search.campaign import ablation_points
from search.records import OK, SEARCH
from search.settings import CampaignSettings
from search.store import CampaignStore

ROOT = Path(__file__).resolve().parents[2]
SPEC = "spaces/fashion-answer.yaml"


def main(directory: str) -> None:
    store = CampaignStore(directory)
    if store.exists():
        return
    answer = CampaignStore(ROOT / "results" / "answer")
    if (answer.directory / "spec.yaml").read_text() != (ROOT / SPEC).read_text():
        sys.exit(f"{SPEC} differs from results/answer/spec.yaml: its runs are not this ablation's")
    settings = CampaignSettings(spec=SPEC, name=store.directory.name, storage=str(store.directory.parent),
                                num_samples=1, searcher="ablation", scheduler="none", seeds=3,
                                around="ge-theta", max_concurrent=2, cpus_per_trial=1.0)
    wanted = {load_space(SPEC).point_id(point) for _, point in ablation_points(load_space(SPEC), settings)}
    reused = [r for r in answer.latest() if r.id in wanted and r.phase == SEARCH and r.status == OK
              and r.seed in (0, 1, 2) and r.epochs_done == r.budget]
    store.create(SPEC, asdict(settings))
    for record in reused:
        store.append(record)
    print(f"{directory}: {len(reused)} runs of results/answer reused")


if __name__ == "__main__":
    main(sys.argv[1])
