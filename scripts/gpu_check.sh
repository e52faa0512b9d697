#!/usr/bin/env bash
# The one command for the device machine (after scripts/gpu_prepare.sh here, with .gpu-carry
# carried): the GPU check on the image's own python3, gespace from this checkout (not
# installed: only PYTHONPATH), results in $OUT/gpu. Extra arguments go to bench/gpu_check.py
# (e.g. --sections tests,resnet50 to rerun some).
set -euo pipefail
cd "$(dirname "$0")/.."

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
export GESPACE_CACHE=/tmp/gespace-cache   # decompressed Fashion-MNIST goes here, not into the checkout
out="${OUT:-$PWD/runs}/gpu"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
exec python3 bench/gpu_check.py --out "$out" --data-root .gpu-carry/fashion-mnist "$@"
