#!/usr/bin/env bash
# Issue #4's real result: the demo GE-theta-minus anchor on Fashion-MNIST,
# >= 93% test accuracy in <= 20 minutes on a quiet 2-core CPU.
# Writes runs/real/vf05-cl/ (checkpoint, result.json); output.txt here is its log.
set -euo pipefail
cd "$(dirname "$0")/../.."
/usr/bin/time -v gespace train spaces/fashion-demo.yaml --point anchor:ge-theta-minus --epochs 5 \
  --set train.batch_size=128 --set train.lr=0.1 --set train.label_smoothing=0.1 \
  --set train.pad=0 --set train.flip=false --set train.val_fraction=0.05 \
  --seed 0 --no-progress --out runs/real/vf05-cl
