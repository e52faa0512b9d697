#!/usr/bin/env bash
# results/ablation: every one-knob change of GE-θ on Fashion-MNIST at results/answer's recipe
# (spaces/fashion-answer.yaml: ResNet-20 width 16, 5 epochs, the whole training split):
# placement (none, stage 4, stages 3-4), gather operator (pool), extent (2, 4, 8: the
# interpolation switches on at its default, nearest), gate (hard sigmoid), excite subnet (SE,
# reduction 4); the interpolation itself is inactive at GE-θ's global extent. Every point under
# seeds 0, 1, 2 to the full budget; the four that are results/answer's anchors reuse its runs
# (seed_from_answer.py). Resumable: a killed run goes on where it stopped, no unit trained twice.
# Afterwards the records, the report (its ablation table) and the knob effects go to
# results/ablation/.
#
#   bash results/ablation/run.sh                 # run (or resume), then report
#   ABLATION_REPORT_ONLY=1 bash results/ablation/run.sh   # report what has been trained so far
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/setup.sh > /dev/null
export PATH="$PWD/.venv/bin:$PATH"
RUNS=runs/ablation
CAMPAIGN=$RUNS/ablation
OUT=results/ablation
python results/ablation/seed_from_answer.py "$CAMPAIGN"
if [ -z "${ABLATION_REPORT_ONLY:-}" ]; then
  gespace search spaces/fashion-answer.yaml --name ablation --storage "$RUNS" --resume \
    --searcher ablation --around ge-theta --seeds 3 --max-concurrent 2 --cpus-per-trial 1 --no-progress > /dev/null
fi
cp "$CAMPAIGN"/{trials.jsonl,campaign.json,spec.yaml,environment.json} "$OUT/"
gespace report "$OUT" --out "$OUT" > "$OUT/report.txt"
for metric in val test; do
  mkdir -p "$OUT/effects-$metric" "$OUT/answer-effects-$metric"
  gespace analyze effects "$OUT" --metric $metric --out "$OUT/effects-$metric" > "$OUT/effects-$metric/effects.txt"
  gespace analyze effects results/answer --metric $metric --out "$OUT/answer-effects-$metric" \
    > "$OUT/answer-effects-$metric/effects.txt"
done
