#!/usr/bin/env bash
# Run the whole suite: setup check, closed model, open model, memory. Raw outputs and
# summaries go to bench/out/run-<timestamp>/{closed,open,memory}/, and a combined summary to
# bench/out/run-<timestamp>/summary.txt.
#
#   bash bench/run-all.sh                   # full suite, about 15 minutes with oha
#   DURATION=5 REPS=3 MEM_REPS=1 bash bench/run-all.sh
#   RUN_SETUP=1 bash bench/run-all.sh       # run bench/setup.sh first (installs, builds oha)
#   PROFILE=1 bash bench/run-all.sh         # also run bench/profile.sh (syscalls, perf)
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT_DIR="$(cd "$BENCH_DIR/.." && pwd)"
RUN_DIR="$BENCH_DIR/out/run-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RUN_DIR"

if [ -n "${RUN_SETUP:-}" ]; then
    bash "$BENCH_DIR/setup.sh" 2>&1 | tee "$RUN_DIR/setup.log"
fi
missing=()
for t in nginx wrk taskset python3 ss; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
[ -x /usr/bin/time ] || missing+=(/usr/bin/time)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "run-all: missing ${missing[*]}: run bench/setup.sh (as root)" >&2
    exit 1
fi
if [ ! -x "$BENCH_DIR/.tools/bin/oha" ]; then
    echo "run-all: oha not installed in bench/.tools: oha comparisons will be SKIPPED" >&2
fi

# Build once here; every script then uses this same copy of the binary (STAMPEDE).
echo "run-all: cargo build --release -p stampede"
(cd "$ROOT_DIR" && cargo build --release -p stampede) >"$RUN_DIR/build.log" 2>&1 \
    || { tail -30 "$RUN_DIR/build.log" >&2; echo "run-all: build failed" >&2; exit 1; }
cp "$ROOT_DIR/target/release/stampede" "$RUN_DIR/stampede"
export STAMPEDE="$RUN_DIR/stampede"

scripts=(closed open memory)
if [ -n "${PROFILE:-}" ]; then scripts+=(profile); fi
for s in "${scripts[@]}"; do
    echo "run-all: === $s ==="
    OUT="$RUN_DIR/$s" bash "$BENCH_DIR/$s.sh" 2>&1 | tee "$RUN_DIR/$s.log"
done

{
    echo "stampede benchmark suite, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "git $(git -C "$ROOT_DIR" rev-parse --short HEAD 2>/dev/null || echo '?')," \
        "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    for s in "${scripts[@]}"; do
        echo
        cat "$RUN_DIR/$s/summary.txt"
    done
} >"$RUN_DIR/summary.txt"
echo
echo "================ SUMMARY ================"
cat "$RUN_DIR/summary.txt"
echo
grep -h '^BAR' "$RUN_DIR"/*/summary.txt
echo "raw outputs: $RUN_DIR"
