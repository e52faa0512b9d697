#!/usr/bin/env bash
# Races results/answer's confirmation onward (search/racing.py): the five anchors
# and the confirmed point, one fresh seed a round (2000, 2001, ...) for every
# point in play, judged on test error with a 0.3 pp indifference margin, at most
# 30 rounds, a look after each from the third. It starts from the committed
# records (the campaign's own directory, runs/answer/answer, is not committed): they are
# copied into runs/answer-race/answer once, and every later run resumes there,
# so a killed or time-limited race goes on where it stopped (no run is trained
# twice). Afterwards the records (the committed ones plus the race's) and the
# re-read report go to results/answer/race/.
#
#   bash results/answer/race.sh            # run (or resume) the race, then report
#   RACE_REPORT_ONLY=1 bash results/answer/race.sh   # report what has been raced so far
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/setup.sh > /dev/null
export PATH="$PWD/.venv/bin:$PATH"
RUNS=runs/answer-race
CAMPAIGN=$RUNS/answer
OUT=results/answer/race
if [ ! -f "$CAMPAIGN/trials.jsonl" ]; then
  mkdir -p "$CAMPAIGN"
  cp results/answer/{trials.jsonl,campaign.json,spec.yaml,environment.json,confirmation.json,reference.json} "$CAMPAIGN/"
fi
if [ -z "${RACE_REPORT_ONLY:-}" ]; then
  gespace search spaces/fashion-answer.yaml --name answer --storage "$RUNS" --resume \
    --race --race-delta 0.3 --race-rounds 30 --max-concurrent 2 --cpus-per-trial 1 --no-progress > /dev/null
fi
mkdir -p "$OUT"
cp "$CAMPAIGN"/{trials.jsonl,campaign.json,spec.yaml,environment.json,confirmation.json,reference.json} "$OUT/"
gespace report "$OUT" --out "$OUT" > "$OUT/report.txt"
