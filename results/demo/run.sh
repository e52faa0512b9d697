#!/usr/bin/env bash
# Regenerate results/demo: run the README's main job (scripts/main.sh) into a
# fresh campaign directory, then copy its records and report here (without the
# checkpoints and Ray's own files). Prints the wall time.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=results/demo
RUNS=$(mktemp -d)
start=$(date +%s)
bash scripts/main.sh --storage "$RUNS" --no-progress 2>&1 | tee "$OUT/output.txt"
echo "wall time: $(( $(date +%s) - start )) s" | tee -a "$OUT/output.txt"
find "$OUT" -maxdepth 1 -type f ! -name README.md ! -name run.sh ! -name output.txt -delete
find "$RUNS/demo" -maxdepth 1 -type f ! -name driver.lock ! -name ray.log -exec cp {} "$OUT/" \;
rm -rf "$RUNS"
