#!/usr/bin/env bash
# Where does the generator's CPU go? For each tool (closed model, 50 connections, and stampede
# in the open model at RATE) this
#   1. counts syscalls by kind with `perf stat` on syscall tracepoints (exact, low overhead,
#      unlike strace) and divides by the requests completed: syscalls per request;
#   2. records a CPU profile of stampede with `perf record -g` (software cpu-clock: this VM has
#      no hardware cycle counter) and sums it by category (kernel TCP, tokio, parsing, ...);
#   3. with heaptrack installed, lists the heap allocations stampede makes per connection
#      (10,000 connections).
# Same layout as the other scripts: nginx on core 0, generator on core 1, one thread.
#
#   bash bench/profile.sh                    # 5 s per run
#   PROFILE_DURATION=10 bash bench/profile.sh
set -euo pipefail
DURATION="${PROFILE_DURATION:-${DURATION:-5}}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RATE="${RATE:-20000}"
CONNS="${CONNS:-50}"
command -v perf >/dev/null 2>&1 || { echo "profile.sh: perf not found (apt-get install linux-perf)" >&2; exit 1; }

bench_init profile
build_stampede
record_machine
start_nginx 4096

SYSCALLS=(read write readv writev recvfrom sendto recvmsg sendmsg epoll_wait epoll_pwait
    epoll_pwait2 epoll_ctl futex sched_yield timerfd_settime clock_nanosleep getrusage mmap
    munmap brk madvise socket connect close setsockopt getsockopt io_uring_enter)
EVENTS="raw_syscalls:sys_enter,task-clock,context-switches"
for s in "${SYSCALLS[@]}"; do
    if grep -qx "syscalls:sys_enter_$s" /sys/kernel/tracing/available_events 2>/dev/null \
        || grep -qx "syscalls:sys_enter_$s" /sys/kernel/debug/tracing/available_events 2>/dev/null; then
        EVENTS+=",syscalls:sys_enter_$s"
    fi
done

# count LABEL PARSER -- CMD...: run CMD on core 1 under perf stat; keep CSV counts + output.
count() {
    local label="$1" parser="$2" raw="$OUT/raw/$1"
    shift 3
    log "perf stat: $label: $*"
    perf stat -x, -e "$EVENTS" -o "$raw.perfstat" -- "$BENCH_DIR/prio.sh" "$NICE" taskset -c "$GEN_CORE" "$@" \
        >"$raw.stdout" 2>"$raw.stderr" || true
    python3 "$BENCH_DIR/profile_report.py" count --label "$label" --parser "$parser" \
        --perfstat "$raw.perfstat" --stdout "$raw.stdout" >>"$OUT/syscalls.jsonl"
    sleep 1
}

count wrk wrk -- wrk -t1 -c"$CONNS" -d"${DURATION}s" "$URL"
count stampede-closed "stampede:$OUT/raw/stampede-closed.json" -- \
    "$STAMPEDE" run "$URL" -c "$CONNS" -d "${DURATION}s" --threads 1 -q --out "$OUT/raw/stampede-closed.json"
count stampede-open "stampede:$OUT/raw/stampede-open.json" -- \
    "$STAMPEDE" run "$URL" --rate "$RATE" -d "${DURATION}s" --threads 1 -q --out "$OUT/raw/stampede-open.json"
if [ -n "$OHA" ]; then
    count oha "oha:$OUT/raw/oha.stdout" -- \
        "$OHA" -z "${DURATION}s" -c "$CONNS" --no-tui --worker-threads 1 --output-format json "$URL"
    count oha-open "oha:$OUT/raw/oha-open.stdout" -- \
        "$OHA" -z "${DURATION}s" -q "$RATE" --latency-correction -c "$CONNS" --no-tui \
        --worker-threads 1 --output-format json "$URL"
fi

# CPU profiles of stampede (closed and open). Frame pointers may be missing in release
# builds, so use DWARF unwinding (bigger files, still fine for a few seconds).
for mode in closed open; do
    if [ "$mode" = closed ]; then load=(-c "$CONNS"); else load=(--rate "$RATE"); fi
    log "perf record: stampede-$mode"
    perf record -F 999 -g --call-graph dwarf,16384 -o "$OUT/raw/perf-$mode.data" -- \
        "$BENCH_DIR/prio.sh" "$NICE" taskset -c "$GEN_CORE" "$STAMPEDE" run "$URL" "${load[@]}" -d "${DURATION}s" --threads 1 -q \
        --out "$OUT/raw/perf-$mode.json" >"$OUT/raw/perf-$mode.stdout" 2>"$OUT/raw/perf-$mode.stderr" || true
    perf report -i "$OUT/raw/perf-$mode.data" --no-children --sort dso,symbol --stdio \
        -g none 2>/dev/null | grep -v '^$' >"$OUT/perf-$mode-self.txt" || true
    perf report -i "$OUT/raw/perf-$mode.data" --children --sort symbol --stdio \
        --percent-limit 3 -g none 2>/dev/null | grep -v '^$' >"$OUT/perf-$mode-children.txt" || true
    sleep 1
done

# Heap per connection: stampede holding 10,000 idle-ish keep-alive connections under
# heaptrack (if installed); allocation sizes that occur once per connection.
if command -v heaptrack >/dev/null 2>&1 && command -v heaptrack_print >/dev/null 2>&1; then
    stop_nginx
    ulimit -n 20000 2>/dev/null || true
    start_nginx 20000
    log "heaptrack: stampede -c 10000"
    (cd "$OUT/raw" && taskset -c "$GEN_CORE" heaptrack -o "$OUT/raw/heap-10000" \
        "$STAMPEDE" run "$URL" -c 10000 -d 3s --threads 1 -q --out "$OUT/raw/heap-10000.json" \
        >"$OUT/raw/heap-10000.log" 2>&1) || true
    heaptrack_print -f "$OUT"/raw/heap-10000.*zst --print-histogram "$OUT/raw/heap-10000.hist" \
        >"$OUT/heap-10000.txt" 2>/dev/null || true
fi

echo
python3 "$BENCH_DIR/profile_report.py" table "$OUT/syscalls.jsonl" | tee "$OUT/summary.txt"
if [ -s "$OUT/raw/heap-10000.hist" ]; then
    echo | tee -a "$OUT/summary.txt"
    python3 "$BENCH_DIR/profile_report.py" allocs "$OUT/raw/heap-10000.hist" --connections 10000 \
        | tee -a "$OUT/summary.txt"
    grep -E '^peak heap' "$OUT/heap-10000.txt" | tee -a "$OUT/summary.txt" || true
fi
for mode in closed open; do
    us="$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); g=d["generator"]; print(g["cpu_s"]/max(d["summary"]["requests"],1)*1e6)' "$OUT/raw/perf-$mode.json" 2>/dev/null || echo 0)"
    {
        echo
        echo "stampede $mode: where the CPU goes (perf record, cpu-clock; us/req from this run's own CPU, perf overhead included)"
        python3 "$BENCH_DIR/profile_report.py" perfcat "$OUT/perf-$mode-self.txt" --us-per-req "$us"
        echo "stampede $mode: top self-time symbols"
        grep -E '^ +[0-9]' "$OUT/perf-$mode-self.txt" | awk 'NR <= 20' | sed -E 's/ +- +- *$//'
    } | tee -a "$OUT/summary.txt"
done
echo "raw results: $OUT"
