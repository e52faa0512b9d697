#!/usr/bin/env bash
# Set up (idempotent), then run gespace's main job on the demo space.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
gespace space validate spaces/*.yaml
gespace space show spaces/fashion-demo.yaml
gespace space anchors spaces/paper-resnet50.yaml
