#!/usr/bin/env bash
# Replay: what reading a recording costs. An nginx access log of LINES requests (GET
# /items/N?page=M, GET /users/N, POST /orders, GET /health; no HEAD: wrk waits for the body
# of a HEAD response) is replayed at a fixed rate (default 20,000 req/s; `--rate` ignores
# the recorded times, `--loop` starts the file again) against nginx (core 0), one generator
# thread (core 1). Interleaved repetitions of
#   stampede-replay  stampede replay access.log --rate RATE --loop --threads 1
#   stampede-open    stampede run URL --rate RATE --threads 1 (one URL: the reference)
#   wrk-paths        wrk -t1 -c50 with a Lua script that cycles through the log's paths
#                    (closed model: wrk has no fixed rate; the peer that replays a path list)
# The measure is generator CPU microseconds per request (user + sys of the process / requests).
#
#   bash bench/replay.sh
#   RATE=10000 DURATION=5 REPS=3 LINES=50000 bash bench/replay.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RATE="${RATE:-20000}"
CONNS="${CONNS:-50}"
LINES="${LINES:-100000}"

bench_init replay
build_stampede
record_machine
echo "rate=$RATE lines=$LINES" >>"$OUT/meta.txt"
start_nginx 4096

# The recording: nginx's combined format, one second of timestamps per 1,000 lines (ignored
# under --rate), and the same paths for wrk's script.
LOG="$OUT/access.log"
PATHS_LUA="$OUT/paths.lua"
python3 - "$LOG" "$PATHS_LUA" "$LINES" <<'PY'
import sys, datetime
log, lua, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = datetime.datetime(2026, 11, 30, 4, 0, 0, tzinfo=datetime.timezone.utc)
requests = []
for i in range(n):
    k = i % 10
    if k < 6:
        req = ("GET", f"/items/{i % 5000}?page={i % 7}")
    elif k < 8:
        req = ("GET", f"/users/{(i * 7919) % 100000}")
    elif k < 9:
        req = ("POST", "/orders")
    else:
        req = ("GET", "/health")
    requests.append(req)
with open(log, "w") as f:
    for i, (method, path) in enumerate(requests):
        t = (t0 + datetime.timedelta(milliseconds=i)).strftime("%d/%b/%Y:%H:%M:%S +0000")
        f.write(f'10.0.0.{i % 250 + 1} - - [{t}] "{method} {path} HTTP/1.1" 200 612 "-" "bench/1.0"\n')
with open(lua, "w") as f:
    f.write("local reqs = {\n")
    for method, path in requests:
        f.write(f'  {{"{method}", "{path}"}},\n')
    f.write("}\nlocal i = 0\n")
    f.write("request = function()\n  i = i % #reqs + 1\n"
            "  return wrk.format(reqs[i][1], reqs[i][2])\nend\n")
PY

TSV="$OUT/runs.tsv"
runs=(stampede-replay stampede-open wrk-paths)

run_one() {
    local label="$1" rep="$2" raw="$OUT/raw/$1-rep$2"
    case "$label" in
    stampede-replay)
        run_gen "$TSV" stampede "$label" "$rep" "stampede:$raw.json" -- \
            "$STAMPEDE" replay "$LOG" --base-url "$URL" --rate "$RATE" --loop -d "${DURATION}s" \
            --threads 1 -q --out "$raw.json" ;;
    stampede-open)
        run_gen "$TSV" stampede "$label" "$rep" "stampede:$raw.json" -- \
            "$STAMPEDE" run "$URL" --rate "$RATE" -d "${DURATION}s" --threads 1 -q --out "$raw.json" ;;
    wrk-paths)
        run_gen "$TSV" wrk "$label" "$rep" wrk -- \
            wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$PATHS_LUA" "$URL" ;;
    esac
}

interleave run_one "${runs[@]}"

echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/meta.txt"
echo
python3 "$BENCH_DIR/benchlib.py" summary replay "$TSV" --json "$OUT/summary.json" | tee "$OUT/summary.txt"
echo "raw results: $OUT"
