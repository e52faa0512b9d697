#!/usr/bin/env bash
# Regenerates everything in results/replication/ (see its README.md), on a machine
# set up by scripts/setup.sh. Campaign directories (checkpoints, Ray's files) go to
# runs/replication/ (not committed); reports, tables and figures come here.
set -euo pipefail
cd "$(dirname "$0")/../.."
source .venv/bin/activate 2>/dev/null || true
OUT=results/replication
RUNS=runs/replication
SPACE=spaces/fashion-demo.yaml
COMMON=(--storage "$RUNS" --resume --scheduler none --max-concurrent 2 --cpus-per-trial 1 --no-progress)

# 1. The five anchors (baseline, SE, GE-θ⁻, GE-θ, GE-θ⁺) under one budget, three seeds:
#    --num-samples 5 trains exactly the anchors (they always come first).
for seed in 0 1 2; do
  gespace search "$SPACE" --name "anchors-s$seed" --num-samples 5 --epochs 2 --subset 0.15 \
    --seed "$seed" "${COMMON[@]}"
done
gespace report "$RUNS/anchors-s0" --replicas "$RUNS/anchors-s1" "$RUNS/anchors-s2" --out "$OUT"

# 2. Sec. 4 analyses of seed 0's GE-θ against its baseline.
checkpoint() {  # checkpoint of the anchor named $2 in campaign $1
  python3 -c 'import json, sys
for line in open(sys.argv[1] + "/trials.jsonl"):
    r = json.loads(line)
    if r.get("name") == sys.argv[2] and r["status"] == "ok":
        print(sys.argv[1] + "/trials/" + r["id"] + "/checkpoint.pt")' "$1" "$2"
}
GE=$(checkpoint "$RUNS/anchors-s0" ge-theta)
BASE=$(checkpoint "$RUNS/anchors-s0" baseline)
gespace analyze selectivity "$GE" --baseline "$BASE" --stage 4 --out "$OUT"
gespace analyze prune "$GE" --block stage4.2 --order both --baseline "$BASE" --out "$OUT"

# 3. A random campaign over the whole demo space, every point under one budget
#    (no early stopping, so errors are comparable), and its EDFs by gather op.
gespace search "$SPACE" --name edf --num-samples 20 --searcher random --epochs 1 --subset 0.15 \
  --seed 0 "${COMMON[@]}"
gespace analyze edf "$RUNS/edf" --by ge.gather.op --out "$OUT"
gespace analyze edf "$RUNS/edf" --by ge.gather.op --normalise-cost --out "$OUT/edf-cost-normalised"
