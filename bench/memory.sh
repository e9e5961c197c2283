#!/usr/bin/env bash
# Memory per connection: each generator holds LOW (1,000) and then HIGH (10,000) keep-alive
# connections in the closed model for DURATION s against nginx (worker_connections 20000);
# RSS per extra connection = (maxRSS(HIGH) - maxRSS(LOW)) / (HIGH - LOW), in KiB, from
# /usr/bin/time's %M. Medians over MEM_REPS (default 3) interleaved repetitions.
#
#   bash bench/memory.sh
#   MEM_REPS=1 DURATION=5 bash bench/memory.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LOW="${LOW:-1000}"
HIGH="${HIGH:-10000}"
REPS="${MEM_REPS:-3}"

# 10,000 connections need > 10,000 descriptors in both nginx and the generator.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((HIGH + 1000)) ]; then
    echo "memory.sh: ulimit -n is $(ulimit -n), need >= $((HIGH + 1000)) (run as root or raise the hard limit)" >&2
    exit 1
fi

bench_init memory
build_stampede
record_machine
echo "low=$LOW high=$HIGH" >>"$OUT/meta.txt"
start_nginx 20000

TSV="$OUT/runs.tsv"
tools=(wrk stampede)
if [ -n "$OHA" ]; then tools+=(oha); fi

run_one() {
    local tool="$1" conns="$2" rep="$3" label="$1-$2" raw="$OUT/raw/$1-$2-rep$3"
    case "$tool" in
    wrk)
        run_gen "$TSV" wrk "$label" "$rep" wrk -- \
            wrk -t1 -c"$conns" -d"${DURATION}s" "$URL" ;;
    stampede)
        run_gen "$TSV" stampede "$label" "$rep" "stampede:$raw.json" -- \
            "$STAMPEDE" run "$URL" -c "$conns" -d "${DURATION}s" --threads 1 -q --out "$raw.json" ;;
    oha)
        run_gen "$TSV" oha "$label" "$rep" "oha:$raw.stdout" -- \
            "$OHA" -z "${DURATION}s" -c "$conns" --no-tui --worker-threads 1 --output-format json "$URL" ;;
    esac
}

for rep in $(seq 1 "$REPS"); do
    n=${#tools[@]}
    for i in $(seq 0 $((n - 1))); do
        tool="${tools[$(((i + rep - 1) % n))]}"
        run_one "$tool" "$LOW" "$rep"
        run_one "$tool" "$HIGH" "$rep"
    done
done

echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/meta.txt"
echo
python3 "$BENCH_DIR/benchlib.py" summary memory "$TSV" --low "$LOW" --high "$HIGH" --json "$OUT/summary.json" | tee "$OUT/summary.txt"
if [ -z "$OHA" ]; then echo "(oha not run: not installed in bench/.tools, or NO_OHA set)" | tee -a "$OUT/summary.txt"; fi
echo "raw results: $OUT"
