#!/usr/bin/env bash
# Set up (idempotent), then gespace's main job: a small search campaign on
# Fashion-MNIST over spaces/fashion-demo.yaml (the paper's anchors first, then
# sampled points; ASHA; 3 epochs on an 8% training subset), ending in the
# Pareto table. A second run resumes the campaign (finished trials are kept)
# and reprints the report. Extra arguments go to `gespace search`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
gespace space validate spaces/fashion-demo.yaml
exec gespace search spaces/fashion-demo.yaml --name demo --storage runs --resume \
  --num-samples 10 --searcher random --scheduler asha --epochs 3 --subset 0.08 \
  --max-concurrent 2 --cpus-per-trial 1 --seed 0 "$@"
