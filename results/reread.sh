#!/usr/bin/env bash
# Re-read committed campaigns with the current statistics, without training:
# each one's report (report.txt, pareto.md, the CSVs, the figures) and, where
# the directory has them, its Table 5 and its Sec. 4 analyses over seeds. The records (trials.jsonl and the
# campaign's files) are read from a scratch copy and never rewritten.
#
#   bash results/reread.sh results/answer results/demo
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh > /dev/null
export PATH="$PWD/.venv/bin:$PATH"
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
for OUT in "$@"; do
  CAMPAIGN="$SCRATCH/$(basename "$OUT")"
  mkdir -p "$CAMPAIGN"
  for name in trials.jsonl campaign.json spec.yaml environment.json reference.json confirmation.json; do
    if [ -f "$OUT/$name" ]; then cp "$OUT/$name" "$CAMPAIGN/"; fi
  done
  gespace report "$CAMPAIGN" --out "$OUT" > "$OUT/report.txt"
  if [ -f "$OUT/table5.py" ]; then python "$OUT/table5.py" "$CAMPAIGN" > "$OUT/table5.md"; fi
  if [ -f "$OUT/aggregate_analyses.py" ]; then
    python "$OUT/aggregate_analyses.py" "$OUT/analyses" "$OUT" > "$OUT/analyses.md"
  fi
  echo "re-read $OUT"
done
