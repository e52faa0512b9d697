#!/usr/bin/env bash
# Set up (idempotent), then gespace's main job: a small search campaign on
# Fashion-MNIST over spaces/fashion-demo.yaml, ending in a Pareto table whose
# every error has its 95% interval. The paper's five anchors train first, under
# 2 seeds to the full budget: they measure the noise and are the calibration
# cohort (do rankings after epoch 1 predict final ones?); then 4 sampled points
# under multi-objective successive halving (error and GMACs, synchronous, rung
# at epoch 1); then a raced confirmation: the (up to) 2 points most likely on
# the front and the anchors train a fresh seed a round until each is settled on
# or off the front (1 pp indifference margin, at most 30 race runs). Budget: 3
# epochs on 5% of the training split. A second run resumes the campaign (finished trials are kept)
# and reprints the report. Extra arguments go to `gespace search`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
gespace space validate spaces/fashion-demo.yaml
exec gespace search spaces/fashion-demo.yaml --name demo --storage runs --resume \
  --num-samples 9 --searcher random --scheduler mosha --calibrate 5 --anchor-seeds 2 \
  --confirm 2 --race --race-rounds 5 --race-budget 30 --race-delta 1 --epochs 3 --subset 0.05 \
  --max-concurrent 2 --cpus-per-trial 1 --seed 0 "$@"
