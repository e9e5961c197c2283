#!/usr/bin/env bash
# The fault proxy without toxics against HAProxy in TCP mode: the same stampede load (CONNS
# keep-alive connections downloading a SIZE_MB file from nginx) through each proxy in turn,
# interleaved repetitions. nginx runs on core 0; each proxy runs with one thread on core
# PROXY_CORE (default 1, beside the generator: both proxies get the same neighbour).
# Measured per run: bytes forwarded (what stampede received), the proxy's own CPU seconds
# (user + sys from /proc/PID/stat), throughput; summary: CPU-seconds per GB forwarded and
# throughput per proxy CPU-second, median over repetitions, and the ratio stampede / HAProxy.
#
#   bash bench/proxy.sh                               # 5 reps x 10 s per proxy
#   DURATION=2 REPS=1 SKIP_BUILD=1 bash bench/proxy.sh   # smoke check
#
# Needs haproxy (`apt-get install haproxy`) besides bench/setup.sh's tools.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONNS="${CONNS:-8}"
SIZE_MB="${SIZE_MB:-10}"
PROXY_CORE="${PROXY_CORE:-1}"
PROXY_PID=""
DATA_DIR=""

bench_init proxy
command -v haproxy >/dev/null 2>&1 || die "haproxy not found: apt-get install haproxy"
cleanup_proxy() {
    stop_proxy
    [ -n "$DATA_DIR" ] && rm -rf "$DATA_DIR"
    bench_cleanup
}
trap cleanup_proxy EXIT
build_stampede
record_machine
echo "haproxy=$(haproxy -v 2>&1 | head -1)" >>"$OUT/meta.txt"
echo "conns=$CONNS size_mb=$SIZE_MB proxy_core=$PROXY_CORE" >>"$OUT/meta.txt"

DATA_DIR="$(mktemp -d /tmp/stampede-bench-proxy.XXXXXX)"
head -c "$((SIZE_MB * 1000 * 1000))" /dev/zero >"$DATA_DIR/big.bin"
chmod 755 "$DATA_DIR"; chmod 644 "$DATA_DIR/big.bin"   # nginx workers run as another user
NGINX_LOCATIONS="location = /big.bin { root $DATA_DIR; }"
start_nginx 4096

PROXY_PORT="$(free_port "$PORT")"   # the proxies' port, beside nginx's

start_proxy() {
    local which="$1" log="$OUT/raw/$1-proxy.log"
    case "$which" in
    haproxy)
        cat >"$OUT/haproxy.cfg" <<CFG
global
    nbthread 1
    maxconn 4000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend bench
    bind 127.0.0.1:$PROXY_PORT
    default_backend nginx
backend nginx
    server nginx 127.0.0.1:$PORT
CFG
        "$BENCH_DIR/prio.sh" "$NICE" taskset -c "$PROXY_CORE" haproxy -db -f "$OUT/haproxy.cfg" >"$log" 2>&1 &
        ;;
    stampede)
        "$BENCH_DIR/prio.sh" "$NICE" taskset -c "$PROXY_CORE" "$STAMPEDE" proxy --threads 1 \
            --listen "127.0.0.1:$PROXY_PORT" --upstream "127.0.0.1:$PORT" >"$log" 2>&1 &
        ;;
    esac
    PROXY_PID=$!
    local i
    for i in $(seq 1 50); do
        if PORT="$PROXY_PORT" listener_pids | grep -qx "$PROXY_PID"; then
            return 0
        fi
        kill -0 "$PROXY_PID" 2>/dev/null || { cat "$log" >&2; die "$which exited at start"; }
        sleep 0.1
    done
    die "$which did not listen on $PROXY_PORT within 5 s"
}

stop_proxy() {
    if [ -n "$PROXY_PID" ]; then
        kill -TERM "$PROXY_PID" 2>/dev/null || true
        wait "$PROXY_PID" 2>/dev/null || true
        PROXY_PID=""
    fi
}

# proxy_cpu_ticks: user+sys clock ticks of the proxy process (all its threads).
proxy_cpu_ticks() {
    sed 's/.*) //' "/proc/$PROXY_PID/stat" | awk '{print $12 + $13}'
}

TSV="$OUT/runs.tsv"
printf 'proxy\trep\tbytes\telapsed_s\tproxy_cpu_s\terrors\n' >"$TSV"
run_through() {
    local which="$1" rep="$2" raw="$OUT/raw/$1-rep$2.json" before after
    start_proxy "$which"
    before="$(proxy_cpu_ticks)"
    log "rep $rep: $which"
    taskset -c "$GEN_CORE" "$STAMPEDE" run "http://127.0.0.1:$PROXY_PORT/big.bin" -c "$CONNS" \
        -d "${DURATION}s" --threads 1 --timeout 60s -q --out "$raw" >/dev/null 2>"$OUT/raw/$which-rep$rep.stderr" || true
    after="$(proxy_cpu_ticks)"
    stop_proxy
    python3 - "$raw" "$which" "$rep" "$((after - before))" "$(getconf CLK_TCK)" >>"$TSV" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
s = doc["summary"]
print(f"{sys.argv[2]}\t{sys.argv[3]}\t{s['bytes_received']}\t{s['elapsed_s']:.3f}\t{int(sys.argv[4]) / int(sys.argv[5]):.3f}\t{s['errors'] + s['timeouts']}")
PY
    sleep 1
}

for rep in $(seq 1 "$REPS"); do
    if [ $((rep % 2)) -eq 1 ]; then order=(haproxy stampede); else order=(stampede haproxy); fi
    for which in "${order[@]}"; do run_through "$which" "$rep"; done
done

echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/meta.txt"
python3 - "$TSV" <<'PY' | tee "$OUT/summary.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
res = {}
print(f"{'proxy':<9} {'rep':>3} {'GB':>7} {'MB/s':>8} {'CPU s':>7} {'CPU s/GB':>9} {'MB/s per CPU s':>15} errors")
for r in rows:
    gb = int(r["bytes"]) / 1e9
    cpu = float(r["proxy_cpu_s"])
    mbps = int(r["bytes"]) / 1e6 / float(r["elapsed_s"])
    per_gb = cpu / gb if gb > 0 else float("nan")
    eff = (int(r["bytes"]) / 1e6) / cpu if cpu > 0 else float("nan")
    print(f"{r['proxy']:<9} {r['rep']:>3} {gb:7.2f} {mbps:8.1f} {cpu:7.2f} {per_gb:9.3f} {eff:15.1f} {r['errors']}")
    res.setdefault(r["proxy"], []).append((mbps, per_gb, eff, int(r["errors"])))
print()
med = {}
for p, v in sorted(res.items()):
    med[p] = tuple(statistics.median(x[i] for x in v) for i in range(3))
    errs = sum(x[3] for x in v)
    print(f"{p:<9} median: {med[p][0]:.1f} MB/s, {med[p][1]:.3f} CPU-s per GB, {med[p][2]:.1f} MB per CPU-s ({errs} errors+timeouts)")
if "haproxy" in med and "stampede" in med and med["haproxy"][2] > 0:
    print(f"ratio stampede/haproxy: throughput {med['stampede'][0] / med['haproxy'][0]:.2f}x, "
          f"MB per CPU-second {med['stampede'][2] / med['haproxy'][2]:.2f}x (goal >= 0.8x)")
PY
echo "raw results: $OUT"
