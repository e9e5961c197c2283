#!/usr/bin/env bash
# Idle WebSocket fleet: how many concurrent, mostly idle WebSocket connections one stampede
# process holds against the built-in target, and stampede's resident memory per connection.
# Issue 3's bars: >= 15,000 idle connections (this machine allows 20,000 open files per
# process) and <= 8 KiB of user-space RSS per idle connection.
#
#   stampede target --listen 127.0.0.1:PORT          (its own process, core 0)
#   stampede run ws://127.0.0.1:PORT/ws --clients N --every $EVERY -d ${DURATION}s --threads 1
#                                                    (core 1), N = $BASE and N = $CLIENTS
#
# While a run goes on, its VmRSS and its open sockets are read from /proc every second.
# The plateau is the window from $EVERY + 2 s to the end, when every client has connected
# (a fleet client connects when its first message is due, and the first messages are spread
# evenly over one --every interval, so with --every 10m the fleet would take 10 minutes to
# connect; hence a 20 s interval: each client sends one small message every 20 s and is
# idle in between). RSS per connection = (median plateau RSS at $CLIENTS - the same at
# $BASE) / (sockets held at $CLIENTS - sockets held at $BASE), per repetition; the summary
# gives the median over repetitions. The generator's peak RSS from its JSON result gives a
# second estimate.
#
#   bash bench/idle_ws.sh                         # 3 reps x 2 runs x 30 s, about 3.5 minutes
#   CLIENTS=15000 BASE=500 EVERY=20s DURATION=30 REPS=3 bash bench/idle_ws.sh
#
# Knobs: CLIENTS, BASE, EVERY, DURATION (s), REPS, and lib.sh's PORT, OUT, NICE,
# SKIP_BUILD, STAMPEDE. Needs `ulimit -n 20000` to be allowed (both processes need one file
# per connection).
set -euo pipefail
DURATION="${DURATION:-30}"
REPS="${REPS:-3}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLIENTS="${CLIENTS:-15000}"
BASE="${BASE:-500}"
EVERY="${EVERY:-20s}"
TARGET_PID=""
RUN_PID=""

ulimit -n 20000 || die "cannot raise the open-files limit to 20000 (hard limit $(ulimit -Hn))"

bench_init idle_ws
idle_cleanup() {
    # Only the processes this script started, by pid.
    if [ -n "$RUN_PID" ]; then kill -TERM "$RUN_PID" 2>/dev/null || true; wait "$RUN_PID" 2>/dev/null || true; fi
    if [ -n "$TARGET_PID" ]; then
        kill -TERM "$TARGET_PID" 2>/dev/null || true
        wait "$TARGET_PID" 2>/dev/null || true
        log "target pid $TARGET_PID stopped"
    fi
    bench_cleanup
}
trap idle_cleanup EXIT
build_stampede
record_machine
{
    echo "clients=$CLIENTS base=$BASE every=$EVERY"
    echo "ip_local_port_range=$(tr '\t' ' ' </proc/sys/net/ipv4/ip_local_port_range)"
} >>"$OUT/meta.txt"

# The built-in target, pinned to core 0, in its own process.
if [ -z "$PORT" ]; then PORT="$(free_port)"; fi
[ -z "$(listener_pids)" ] || die "port $PORT is already in use"
"$BENCH_DIR/prio.sh" "$NICE" taskset -c "$NGINX_CORE" "$STAMPEDE" target --listen "127.0.0.1:$PORT" \
    >"$OUT/target.log" 2>&1 &
TARGET_PID=$!
for _ in $(seq 1 50); do
    [ "$(listener_pids)" = "$TARGET_PID" ] && break
    kill -0 "$TARGET_PID" 2>/dev/null || die "the target exited: $(cat "$OUT/target.log")"
    sleep 0.1
done
[ "$(listener_pids)" = "$TARGET_PID" ] || die "the target did not listen on $PORT"
URL="ws://127.0.0.1:$PORT/ws"
log "target pid $TARGET_PID on $URL, core $NGINX_CORE"

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
sockets() { find "/proc/$1/fd" -lname 'socket:*' 2>/dev/null | wc -l; }

SAMPLES="$OUT/samples.tsv"
echo -e "n\trep\tt_ms\trss_kib\tsockets\ttarget_rss_kib\ttarget_sockets" >"$SAMPLES"

# one_run N REP: a fleet of N clients, sampled every second.
one_run() {
    local n="$1" rep="$2" raw="$OUT/raw/ws-$1-rep$2" t0 t
    log "rep $rep: $n clients: $STAMPEDE run $URL --clients $n --every $EVERY -d ${DURATION}s --threads 1"
    "$BENCH_DIR/prio.sh" "$NICE" taskset -c "$GEN_CORE" "$STAMPEDE" run "$URL" --clients "$n" \
        --every "$EVERY" -d "${DURATION}s" --threads 1 -q --out "$raw.json" \
        >"$raw.stdout" 2>"$raw.stderr" &
    RUN_PID=$!
    t0=$(date +%s%N)
    while kill -0 "$RUN_PID" 2>/dev/null; do
        [ "$(cat "/proc/$RUN_PID/comm" 2>/dev/null)" = stampede ] || { sleep 0.05; continue; }
        t=$((($(date +%s%N) - t0) / 1000000))
        echo -e "$n\t$rep\t$t\t$(rss_kib "$RUN_PID")\t$(sockets "$RUN_PID")\t$(rss_kib "$TARGET_PID")\t$(sockets "$TARGET_PID")" >>"$SAMPLES"
        sleep 1
    done
    local rc=0
    wait "$RUN_PID" || rc=$?
    RUN_PID=""
    [ "$rc" -eq 0 ] || log "WARNING: the $n-client run exited $rc; see $raw.stderr"
    python3 - "$raw.json" <<'PY' >&2
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    print(f"    -> no result: {e}"); sys.exit()
s, g = d["summary"], d["generator"]
print(f"    -> {d['config']['connections']} clients: {s['requests']} messages, {s['errors']} errors "
      f"{d['errors_by_class']}, {s['timeouts']} timeouts, {s['connections_opened']} connections, "
      f"peak RSS {g['peak_rss_bytes'] / 1024:,.0f} KiB, cpu {g['cpu_s']} s")
PY
    sleep 2
}

for rep in $(seq 1 "$REPS"); do
    if [ $((rep % 2)) -eq 1 ]; then order=("$BASE" "$CLIENTS"); else order=("$CLIENTS" "$BASE"); fi
    for n in "${order[@]}"; do one_run "$n" "$rep"; done
done
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/meta.txt"

echo
python3 - "$SAMPLES" "$OUT" "$CLIENTS" "$BASE" "$EVERY" "$DURATION" "$REPS" <<'PY' | tee "$OUT/summary.txt"
import json, re, statistics, sys

samples, out, hi, lo, every, duration, reps = sys.argv[1:8]
hi, lo, duration, reps = int(hi), int(lo), float(duration), int(reps)
m = re.fullmatch(r"([\d.]+)(ms|s|m)", every)
every_s = float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[m.group(2)]
rows = [l.rstrip("\n").split("\t") for l in open(samples).readlines()[1:]]
rows = [dict(n=int(r[0]), rep=int(r[1]), t=int(r[2]) / 1000, rss=int(r[3]), sock=int(r[4]),
             trss=int(r[5]), tsock=int(r[6])) for r in rows]
med = statistics.median

def plateau(n, rep):
    w = [r for r in rows if r["n"] == n and r["rep"] == rep and every_s + 2 <= r["t"] <= duration - 1]
    if not w:
        return None
    return dict(rss=med([r["rss"] for r in w]), sock=min(r["sock"] for r in w),
                max_sock=max(r["sock"] for r in w), trss=med([r["trss"] for r in w]),
                tsock=min(r["tsock"] for r in w), samples=len(w))

def result(n, rep):
    try:
        return json.load(open(f"{out}/raw/ws-{n}-rep{rep}.json"))
    except Exception:
        return None

per_conn, per_conn_json, held, errors, lines = [], [], [], [], []
lines.append(f"idle WebSocket fleet vs the built-in target: {lo} and {hi} clients, --every {every}, "
             f"-d {duration:g}s, 1 generator thread; plateau = samples from {every_s + 2:g} s to "
             f"{duration - 1:g} s")
lines.append(f"{'rep':>3}{'clients':>9}{'sockets held':>14}{'RSS KiB':>11}{'peak RSS KiB':>14}"
             f"{'messages':>10}{'errors':>8}{'target RSS KiB':>16}{'target sockets':>16}")
for rep in range(1, reps + 1):
    p = {n: plateau(n, rep) for n in (lo, hi)}
    j = {n: result(n, rep) for n in (lo, hi)}
    for n in (lo, hi):
        if p[n] is None or j[n] is None:
            lines.append(f"{rep:>3}{n:>9}  (no data)")
            continue
        s = j[n]["summary"]
        lines.append(f"{rep:>3}{n:>9}{p[n]['sock']:>14,}{p[n]['rss']:>11,.0f}"
                     f"{j[n]['generator']['peak_rss_bytes'] / 1024:>14,.0f}{s['requests']:>10,}"
                     f"{s['errors'] + s['timeouts']:>8,}{p[n]['trss']:>16,.0f}{p[n]['tsock']:>16,}")
    if all(p[n] and j[n] for n in (lo, hi)) and p[hi]["sock"] > p[lo]["sock"]:
        per_conn.append((p[hi]["rss"] - p[lo]["rss"]) / (p[hi]["sock"] - p[lo]["sock"]))
        per_conn_json.append((j[hi]["generator"]["peak_rss_bytes"] - j[lo]["generator"]["peak_rss_bytes"])
                             / 1024 / (hi - lo))
        held.append(p[hi]["sock"])
        errors.append(j[hi]["summary"]["errors"] + j[hi]["summary"]["timeouts"])
lines.append("")
res = {}
if per_conn:
    k, kj = med(per_conn), med(per_conn_json)
    h = med(held)
    res = dict(kib_per_conn=k, kib_per_conn_peak_json=kj, held=h, errors=errors,
               per_rep_kib_per_conn=per_conn)
    lines.append(f"RSS per idle connection (plateau VmRSS): {k:.2f} KiB (per rep: "
                 + ", ".join(f"{x:.2f}" for x in per_conn) + ")")
    lines.append(f"RSS per idle connection (JSON peak_rss_bytes): {kj:.2f} KiB (per rep: "
                 + ", ".join(f"{x:.2f}" for x in per_conn_json) + ")")
    ok_held = min(held) >= 15000 and max(errors) == 0
    ok_mem = k <= 8.0
    res["bar_held"] = "MET" if ok_held else "NOT MET"
    res["bar_rss"] = "MET" if ok_mem else "NOT MET"
    lines.append(f"BAR >= 15,000 concurrent idle connections held by one process (no errors): "
                 f"min over reps {min(held):,} sockets, errors {errors} -> {res['bar_held']}")
    lines.append(f"BAR <= 8 KiB user-space RSS per idle connection: {k:.2f} KiB -> {res['bar_rss']}")
else:
    lines.append("BARS: n/a (missing data)")
print("\n".join(lines))
json.dump(res, open(f"{out}/summary.json", "w"), indent=2)
PY
echo "raw results: $OUT"
