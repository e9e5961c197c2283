#!/usr/bin/env bash
# Open model: a fixed arrival rate (default 20,000 req/s) for DURATION s against nginx (core 0),
# one generator thread (core 1). Interleaved repetitions of
#   stampede-open    stampede --rate RATE --threads 1
#   oha-open         oha -q RATE --latency-correction (if built; 50 connections, oha's default)
#   stampede-open-slack  the same with --timer-slack $SLACK (default 1ms: sends due within it leave together)
#   stampede-closed  stampede -c 50 --threads 1 (the closed-model reference)
# wrk is not applicable: it has no fixed-rate mode (that is wrk2, not packaged here).
# The measure is generator CPU microseconds per request (user + sys of the process / requests).
#
#   bash bench/open.sh
#   RATE=10000 DURATION=5 REPS=3 bash bench/open.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RATE="${RATE:-20000}"
CONNS="${CONNS:-50}"
SLACK="${SLACK:-1ms}"   # the slack variant's --timer-slack

bench_init open
build_stampede
record_machine
echo "rate=$RATE" >>"$OUT/meta.txt"
start_nginx 4096

TSV="$OUT/runs.tsv"
runs=(stampede-open stampede-open-slack stampede-closed)
if [ -n "$OHA" ]; then runs+=(oha-open); fi

run_one() {
    local label="$1" rep="$2" raw="$OUT/raw/$1-rep$2"
    case "$label" in
    stampede-open)
        run_gen "$TSV" stampede "$label" "$rep" "stampede:$raw.json" -- \
            "$STAMPEDE" run "$URL" --rate "$RATE" -d "${DURATION}s" --threads 1 -q --out "$raw.json" ;;
    stampede-open-slack)
        run_gen "$TSV" stampede "$label" "$rep" "stampede:$raw.json" -- \
            "$STAMPEDE" run "$URL" --rate "$RATE" -d "${DURATION}s" --threads 1 --timer-slack "$SLACK" -q --out "$raw.json" ;;
    stampede-closed)
        run_gen "$TSV" stampede "$label" "$rep" "stampede:$raw.json" -- \
            "$STAMPEDE" run "$URL" -c "$CONNS" -d "${DURATION}s" --threads 1 -q --out "$raw.json" ;;
    oha-open)
        run_gen "$TSV" oha "$label" "$rep" "oha:$raw.stdout" -- \
            "$OHA" -z "${DURATION}s" -q "$RATE" --latency-correction -c "$CONNS" --no-tui --worker-threads 1 \
            --output-format json "$URL" ;;
    esac
}

interleave run_one "${runs[@]}"

echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/meta.txt"
echo
python3 "$BENCH_DIR/benchlib.py" summary open "$TSV" --json "$OUT/summary.json" | tee "$OUT/summary.txt"
if [ -z "$OHA" ]; then echo "(oha-open not run: oha not installed in bench/.tools, or NO_OHA set)" | tee -a "$OUT/summary.txt"; fi
echo "raw results: $OUT"
