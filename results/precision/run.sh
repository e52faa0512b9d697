#!/usr/bin/env bash
# Issue #14: does bf16 cost accuracy? The five demo anchors (spaces/fashion-demo.yaml) at a
# short budget (1 epoch on a 15% training subset), 3 seeds each, in fp32 and in bf16 autocast;
# the same seed gives both precisions the same initial weights and batches. The two precisions
# of a seed train at once, one thread each (so load from other processes hits both alike).
# Runs go to runs/precision/ (not committed; a rerun skips finished ones); table.md comes here,
# over every seed found there. More seeds: SEEDS="3 4 5" bash results/precision/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$PATH"
OUT=results/precision
RUNS=runs/precision
finished() {  # a run directory whose result.json says ok
  python -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))["status"] != "ok")' \
    "$1/result.json" 2>/dev/null
}
for seed in ${SEEDS:-0 1 2}; do
  for anchor in baseline se ge-theta-minus ge-theta ge-theta-plus; do
    for precision in fp32 bf16; do
      dir="$RUNS/$anchor/$precision/seed$seed"
      finished "$dir" || gespace train spaces/fashion-demo.yaml --point "anchor:$anchor" \
        --epochs 1 --set train.subset=0.15 --set "train.precision=$precision" --seed "$seed" \
        --threads 1 --no-progress --out "$dir" > /dev/null &
    done
    wait
  done
done
python "$OUT/aggregate.py" "$RUNS" | tee "$OUT/table.md"
