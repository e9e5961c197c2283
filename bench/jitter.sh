#!/usr/bin/env bash
# Late sends at low load: are they stampede's, or the machine's? Interleaved repetitions of
#   stampede   stampede run URL --rate RATE --threads 1 (nginx `return 200` on core 0)
#   probe      a Python loop on the same core that keeps the same schedule and does no
#              work: it sleeps until each slot is due and counts slots it reaches more
#              than 1 ms late (stampede's own late-send threshold)
# The probe's late share is what the machine's scheduling alone costs (a VM's vCPU stalls,
# timer wake-ups); stampede's share above it is stampede's. Prints both, per repetition
# and as medians, and their ratio.
#
#   bash bench/jitter.sh
#   RATE=10000 DURATION=6 REPS=5 bash bench/jitter.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RATE="${RATE:-2000}"

bench_init jitter
build_stampede
record_machine
echo "rate=$RATE" >>"$OUT/meta.txt"
start_nginx 4096

PROBE="$OUT/probe.py"
cat >"$PROBE" <<'PY'
import json, sys, time
rate, duration, out = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
step, n = 1.0 / rate, int(rate * duration)
late, lags, i = 0, [], 0
t0 = time.monotonic()
while i < n:
    d = t0 + i * step - time.monotonic()
    if d > 0:
        time.sleep(d)
    now = time.monotonic()
    # Every slot due by now is "sent" now, as a dispatcher catching up would.
    while i < n and t0 + i * step <= now:
        lag = now - (t0 + i * step)
        lags.append(lag)
        late += lag > 0.001
        i += 1
lags.sort()
json.dump({"slots": n, "late": late, "lag_p99_ms": lags[int(n * 0.99)] * 1e3,
           "lag_max_ms": lags[-1] * 1e3}, open(out, "w"))
PY

run_one() {
    local label="$1" rep="$2" raw="$OUT/raw/$1-rep$2"
    log "rep $rep: $label"
    case "$label" in
    stampede)
        "$BENCH_DIR/prio.sh" "$NICE" taskset -c "$GEN_CORE" \
            "$STAMPEDE" run "$URL" --rate "$RATE" -d "${DURATION}s" --threads 1 -q \
            --out "$raw.json" >"$raw.stdout" 2>"$raw.stderr" || true ;;
    probe)
        "$BENCH_DIR/prio.sh" "$NICE" taskset -c "$GEN_CORE" \
            python3 "$PROBE" "$RATE" "$DURATION" "$raw.json" ;;
    esac
    sleep 1
}

interleave run_one stampede probe

python3 - "$OUT" "$RATE" <<'PY'
import glob, json, statistics, sys
out, rate = sys.argv[1], sys.argv[2]
def shares(label):
    got = []
    for p in sorted(glob.glob(f"{out}/raw/{label}-rep*.json")):
        j = json.load(open(p))
        if label == "stampede":
            s = j["summary"]
            got.append((s["late_sends"] / max(s["requests"], 1), s["late_sends"]))
        else:
            got.append((j["late"] / j["slots"], j["late"]))
    return got
st, pr = shares("stampede"), shares("probe")
print(f"\nsends more than 1 ms late at {rate}/s, one core (per repetition: share, count)")
for name, v in (("stampede", st), ("probe", pr)):
    print(f"{name:10} median {statistics.median(x for x, _ in v) * 100:6.2f}%   "
          + "  ".join(f"{x * 100:.2f}% ({n})" for x, n in v))
m = statistics.median(x for x, _ in pr)
if m > 0:
    print(f"stampede / probe (medians): {statistics.median(x for x, _ in st) / m:.2f}")
cpu = [json.load(open(p))["generator"]["cpu_s"] / json.load(open(p))["summary"]["elapsed_s"]
       for p in sorted(glob.glob(f"{out}/raw/stampede-rep*.json"))]
print("stampede CPU, share of its core (all threads): "
      + "  ".join(f"{c * 100:.0f}%" for c in cpu))
print(f"raw results: {out}")
PY
