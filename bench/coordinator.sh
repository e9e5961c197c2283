#!/usr/bin/env bash
# The live coordinator alone at scale (issue 13, "Scale on paper"): `stampede coordinator`
# on core 0, fed by simulated workers on core 1 (crates/experiment/examples/
# coordinator_load.rs: each worker says hello, then posts one second of deltas per second,
# over one keep-alive connection per worker as `run --report-to` does, histograms of a
# worker at RATE req/s,
# every worker at the same instant). Per worker count: bytes per worker per second, the
# coordinator's CPU (user + sys from /proc/PID/stat) per worker-second, the workers one
# coordinator core keeps up with (1 / that), and how long after each second its burst of
# posts was answered (a coordinator that keeps up answers every burst within the second).
#
#   bash bench/coordinator.sh                          # 100 500 1000 2000 workers, 20 s each
#   WORKERS="100 1000" SECONDS_PER_RUN=10 bash bench/coordinator.sh
#   GROUP_ROWS=0 bash bench/coordinator.sh             # workers without group rows
# (not GROUPS: bash keeps that name for the user's group ids and ignores assignments)
set -euo pipefail
ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORKERS="${WORKERS:-100 500 1000 2000}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-20}"
RATE="${RATE:-100000}"
GROUP_ROWS="${GROUP_ROWS:-1}"
TARGET="${CARGO_TARGET_DIR:-$ROOT_DIR/target}"
OUT="${OUT:-$ROOT_DIR/bench/out/coordinator-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$OUT"
if [ -z "${SKIP_BUILD:-}" ]; then
    (cd "$ROOT_DIR" && cargo build --release -q -p stampede -p stampede-experiment --example coordinator_load)
fi
STAMPEDE="${STAMPEDE:-$TARGET/release/stampede}"
LOAD="$TARGET/release/examples/coordinator_load"
COORD_PID=""
trap '[ -n "$COORD_PID" ] && kill "$COORD_PID" 2>/dev/null; true' EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
hz=$(getconf CLK_TCK)

printf '%8s %14s %16s %18s %16s %14s\n' workers "bytes/worker/s" "coord CPU s" "CPU µs/worker-s" "workers/core" "worst burst ms" | tee "$OUT/summary.txt"
for n in $WORKERS; do
    port=$(free_port)
    taskset -c 0 "$STAMPEDE" coordinator --listen "127.0.0.1:$port" --workers "$n" \
        --wait 120s --lost-after 60s -q --no-dashboard >"$OUT/coordinator-$n.out" 2>&1 &
    COORD_PID=$!
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    before=$(cpu_ticks "$COORD_PID")
    taskset -c 1 "$LOAD" "127.0.0.1:$port" "$n" "$SECONDS_PER_RUN" "$RATE" "$GROUP_ROWS" >"$OUT/load-$n.out" 2>&1
    after=$(cpu_ticks "$COORD_PID")
    kill "$COORD_PID" 2>/dev/null || true
    wait "$COORD_PID" 2>/dev/null || true
    COORD_PID=""
    python3 - "$n" "$SECONDS_PER_RUN" "$before" "$after" "$hz" "$OUT/load-$n.out" <<'PY' | tee -a "$OUT/summary.txt"
import re, sys
n, secs, before, after, hz, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
text = open(path).read()
summary = re.search(r"posts (\d+)\s+failed (\d+)\s+bytes/worker/s (\d+)", text)
bursts = [float(m) for m in re.findall(r"done (-?\d+) ms after", text)]
cpu = (after - before) / hz
per = cpu / (n * secs) * 1e6
print(f"{n:8d} {int(summary.group(3)):14d} {cpu:16.2f} {per:18.1f} {1e6 / per if per else float('inf'):16.0f} {max(bursts):14.0f}"
      + ("" if summary.group(2) == "0" else f"  ({summary.group(2)} posts FAILED)"))
PY
done
echo "raw outputs: $OUT" >&2
