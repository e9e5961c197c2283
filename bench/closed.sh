#!/usr/bin/env bash
# Closed model: 50 keep-alive connections sending GET / back to back against nginx (core 0),
# one generator thread (core 1). Interleaved repetitions of wrk -t1, stampede --threads 1 and
# oha --worker-threads 1 (if built; oha defaults to one tokio worker per core);
# the measure is requests per generator CPU-second (user + sys of the generator process).
#
#   bash bench/closed.sh                    # 5 reps x 10 s per tool
#   DURATION=5 REPS=3 bash bench/closed.sh  # quicker
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONNS="${CONNS:-50}"

bench_init closed
build_stampede
record_machine
start_nginx 4096

TSV="$OUT/runs.tsv"
tools=(wrk stampede)
if [ -n "$OHA" ]; then tools+=(oha); fi

run_tool() {
    local tool="$1" rep="$2" raw="$OUT/raw/$1-rep$2"
    case "$tool" in
    wrk)
        run_gen "$TSV" wrk wrk "$rep" wrk -- \
            wrk -t1 -c"$CONNS" -d"${DURATION}s" "$URL" ;;
    stampede)
        run_gen "$TSV" stampede stampede "$rep" "stampede:$raw.json" -- \
            "$STAMPEDE" run "$URL" -c "$CONNS" -d "${DURATION}s" --threads 1 -q --out "$raw.json" ;;
    oha)
        run_gen "$TSV" oha oha "$rep" "oha:$raw.stdout" -- \
            "$OHA" -z "${DURATION}s" -c "$CONNS" --no-tui --worker-threads 1 --output-format json "$URL" ;;
    esac
}

interleave run_tool "${tools[@]}"

echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/meta.txt"
echo
python3 "$BENCH_DIR/benchlib.py" summary closed "$TSV" --json "$OUT/summary.json" | tee "$OUT/summary.txt"
if [ -z "$OHA" ]; then echo "(oha not run: not installed in bench/.tools, or NO_OHA set)" | tee -a "$OUT/summary.txt"; fi
echo "raw results: $OUT"
