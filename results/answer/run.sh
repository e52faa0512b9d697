#!/usr/bin/env bash
# Regenerates everything in results/answer/ (see its README.md): a two-CPU-hour
# campaign over spaces/fashion-answer.yaml (the demo space with the real
# result's 5-epoch recipe on the whole training split), its report, the paper's
# Table 5 ordering, EDFs of the sampled designs, and the Sec. 4 analyses of the
# anchors' checkpoints over 3 seeds. The campaign directory (checkpoints,
# curves) goes to runs/answer/answer (not committed); a second run resumes it
# (finished trials are kept) and only redoes the analyses.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
OUT=results/answer
RUNS=runs/answer
CAMPAIGN=$RUNS/answer

# 1. The campaign: the five anchors under 3 seeds to the full budget (they are
#    also the calibration cohort: do rankings after epoch k predict the final
#    ones?), 9 sampled points under multi-objective successive halving (error
#    and GMACs, rungs at epochs 1 and 3 of 5), then the 2 points most likely on
#    the front under 3 fresh seeds. Two one-thread trials at a time.
gespace search spaces/fashion-answer.yaml --name answer --storage "$RUNS" --resume \
  --num-samples 14 --searcher random --scheduler mosha --grace 1 --calibrate 5 \
  --anchor-seeds 3 --confirm 2 --confirm-seeds 3 --max-concurrent 2 --cpus-per-trial 1 --seed 0 \
  --no-progress > /dev/null

# 2. The report (Pareto tables with intervals, p_front, comparisons, calibration,
#    hypervolume, figures) and the campaign's records, learning curves included.
gespace report "$CAMPAIGN" --out "$OUT" > "$OUT/report.txt"
cp "$CAMPAIGN"/{trials.jsonl,campaign.json,spec.yaml,environment.json,confirmation.json,reference.json} "$OUT/"

# 3. Table 5's ordering of the anchors, pair by pair.
python results/answer/table5.py "$CAMPAIGN" > "$OUT/table5.md"

# 4. EDFs of the sampled designs at the first rung (every one got there),
#    cost-normalised, by gather operator and by placement.
gespace analyze edf "$CAMPAIGN" --epoch 1 --sampled --normalise-cost --by ge.gather.op \
  --out "$OUT/edf-gather" > /dev/null
gespace analyze edf "$CAMPAIGN" --epoch 1 --sampled --normalise-cost --by ge.placement.stages \
  --out "$OUT/edf-placement" > /dev/null

# 5. Sec. 4 on the anchors' full-budget checkpoints, seed by seed: class
#    selectivity of GE-θ vs the baseline in the last stage (Fig. 3) and
#    gate-ranked pruning of its last block (Fig. 5), on the 3,000 held-out
#    validation images (the analyses select nothing); then over the seeds.
checkpoint() {  # CAMPAIGN ANCHOR SEED -> that run's checkpoint
  python3 - "$@" <<'EOF'
import json, sys
campaign, name, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
for line in open(f"{campaign}/trials.jsonl"):
    r = json.loads(line)
    if r.get("name") == name and r["seed"] == seed and r["status"] == "ok":
        print(f"{campaign}/trials/{r['id']}/s{seed}/checkpoint.pt")
        break
EOF
}
for seed in 0 1 2; do
  GE=$(checkpoint "$CAMPAIGN" ge-theta "$seed")
  BASE=$(checkpoint "$CAMPAIGN" baseline "$seed")
  gespace analyze selectivity "$GE" --baseline "$BASE" --split val --out "$OUT/analyses/s$seed" > /dev/null
  gespace analyze prune "$GE" --block stage4.2 --order both --baseline "$BASE" --split val \
    --out "$OUT/analyses/s$seed" > /dev/null
done
python results/answer/aggregate_analyses.py "$OUT/analyses" "$OUT" > "$OUT/analyses.md"
echo "results/answer: done"
