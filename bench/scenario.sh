#!/usr/bin/env bash
# Scenario files (issue #4): what templates cost, and what a virtual user costs.
#
# 1. CPU per request, templated vs static. Two scenario files with the same one-step journey,
#    POST /api with a JSON body and three headers, closed model, $VUS virtual users, $DURATION s:
#      static     every byte fixed (the engine encodes the request once for the whole run)
#      templated  three substitutions per request: an `x-request-id: {{ uuid() }}` header, and
#                 in the JSON body `{{ users.email | json }}` (a CSV feeder, sequential) and
#                 `{{ rand_int(1, 1000000) }}`
#    plus the same request through the plain `stampede run URL -c $VUS -m POST ...` path for
#    reference. $REPS interleaved repetitions (the order rotates); CPU = user + sys of the
#    generator process (/usr/bin/time), requests = the JSON's summary.requests. Bar:
#    templated / static <= 1.3 in µs CPU per request (medians).
# 2. Memory per virtual user: a 4-step journey (GET, POST with a body, GET, GET; `think = "1s"`
#    after each) at $MEM_LOW and $MEM_HIGH virtual users (closed model, ramped up over 5 s, then
#    held; $MEM_DURATION s in all), nginx worker_connections 20000, ulimit -n 20000.
#    KiB per virtual user = (max RSS(high) - max RSS(low)) / (high - low), medians of $MEM_REPS.
#
# nginx on core 0, stampede --threads 1 on core 1, both through prio.sh (see lib.sh).
# nginx's `location / { return 200 "ok\n"; }` answers every method, POST included (the body
# is read and discarded).
#
#   bash bench/scenario.sh                           # 5 reps x 10 s, then 3 memory reps x 15 s
#   REPS=3 DURATION=5 MEM_REPS=1 bash bench/scenario.sh   # quicker
#   SKIP_MEM=1 bash bench/scenario.sh                # CPU part only; SKIP_CPU=1: memory only
#   PROFILE=1 bash bench/scenario.sh                 # and perf record -g static and templated
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VUS="${VUS:-50}"
MEM_LOW="${MEM_LOW:-1000}"
MEM_HIGH="${MEM_HIGH:-10000}"
MEM_REPS="${MEM_REPS:-3}"
MEM_DURATION="${MEM_DURATION:-15}"

# 10,000 virtual users hold 10,000 connections: descriptors for nginx and the generator.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ -z "${SKIP_MEM:-}" ] && [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((MEM_HIGH + 1000)) ]; then
    echo "scenario.sh: ulimit -n is $(ulimit -n), need >= $((MEM_HIGH + 1000)) (or SKIP_MEM=1)" >&2
    exit 1
fi

NO_OHA=1
bench_init scenario
build_stampede
record_machine
echo "vus=$VUS mem_low=$MEM_LOW mem_high=$MEM_HIGH mem_reps=$MEM_REPS mem_duration_s=$MEM_DURATION" >>"$OUT/meta.txt"
start_nginx 20000
BASE="http://127.0.0.1:$PORT"

# ---- the scenario files ------------------------------------------------------------------
# Same lengths in both files: the static e-mail has the feeder's length, the static id is a
# UUID, the static amount has 6 digits (rand_int gives 1 to 7, about 6 on average).
python3 - "$OUT/users.csv" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("email\n")
    for i in range(1, 1001):
        f.write(f"user{i:05d}@example.test\n")
PY

cat >"$OUT/static.toml" <<EOF
# bench/scenario.sh: the static request (no placeholders; encoded once for the run).
[target]
base_url = "$BASE"

[load]
model = "closed"
vus = $VUS
duration = "${DURATION}s"

[[scenarios]]
name = "api"
  [[scenarios.steps]]
  name = "post"
  method = "POST"
  url = "/api"
  headers = { content-type = "application/json", x-request-id = "0b7e4c8a-3f1d-4e2b-9a6c-5d8f7e1a2b3c", x-client = "bench" }
  body = '{"email": "user00042@example.test", "amount": 482913, "currency": "EUR", "items": [1, 2, 3]}'
EOF

cat >"$OUT/templated.toml" <<EOF
# bench/scenario.sh: the same request with 3 substitutions (a header, two in the JSON body).
[target]
base_url = "$BASE"

[load]
model = "closed"
vus = $VUS
duration = "${DURATION}s"

[feeders.users]
file = "users.csv"
mode = "sequential"

[[scenarios]]
name = "api"
  [[scenarios.steps]]
  name = "post"
  method = "POST"
  url = "/api"
  headers = { content-type = "application/json", x-request-id = "{{ uuid() }}", x-client = "bench" }
  body = '{"email": "{{ users.email | json }}", "amount": {{ rand_int(1, 1000000) }}, "currency": "EUR", "items": [1, 2, 3]}'
EOF

STATIC_BODY='{"email": "user00042@example.test", "amount": 482913, "currency": "EUR", "items": [1, 2, 3]}'

# The 4-step journey for the memory part; N virtual users (closed model).
journey_file() {
    local n="$1" f="$OUT/journey-$1.toml"
    cat >"$f" <<EOF
# bench/scenario.sh: a 4-step journey, $n virtual users ramped up over 5 s, then held.
[target]
base_url = "$BASE"
headers = { accept = "application/json" }

[load]
model = "closed"
start = 0
stages = [{ duration = "5s", target = $n }, { duration = "$((MEM_DURATION - 5))s", target = $n }]

[[scenarios]]
name = "journey"
  [[scenarios.steps]]
  name = "home"
  url = "/home?u={{ vu() }}"
  [[scenarios.steps]]
  think = "1s"
  [[scenarios.steps]]
  name = "order"
  method = "POST"
  url = "/api/orders"
  headers = { content-type = "application/json", x-request-id = "{{ uuid() }}" }
  body = '{"user": {{ vu() }}, "item": {{ rand_int(1, 500) }}, "qty": 1}'
  checks = { status = 200 }
  [[scenarios.steps]]
  think = "1s"
  [[scenarios.steps]]
  name = "status"
  url = "/api/orders/{{ iteration() }}"
  [[scenarios.steps]]
  think = "1s"
  [[scenarios.steps]]
  name = "feed"
  url = "/feed?page={{ rand_int(1, 50) }}"
  [[scenarios.steps]]
  think = "1s"
EOF
    echo "$f"
}

TSV="$OUT/runs.tsv"

run_cpu() {
    local what="$1" rep="$2" raw="$OUT/raw/$1-rep$2"
    case "$what" in
    static | templated)
        run_gen "$TSV" stampede "$what" "$rep" "stampede:$raw.json" -- \
            "$STAMPEDE" run "$OUT/$what.toml" --threads 1 -q --out "$raw.json" ;;
    plain)
        run_gen "$TSV" stampede plain "$rep" "stampede:$raw.json" -- \
            "$STAMPEDE" run "$BASE/api" -c "$VUS" -d "${DURATION}s" --threads 1 -q --out "$raw.json" \
            -m POST -H 'content-type: application/json' \
            -H 'x-request-id: 0b7e4c8a-3f1d-4e2b-9a6c-5d8f7e1a2b3c' -H 'x-client: bench' \
            --body "$STATIC_BODY" ;;
    esac
}

if [ -z "${SKIP_CPU:-}" ]; then
    kinds=(static templated plain)
    for rep in $(seq 1 "$REPS"); do
        n=${#kinds[@]}
        for i in $(seq 0 $((n - 1))); do
            run_cpu "${kinds[$(((i + rep - 1) % n))]}" "$rep"
        done
    done
fi

if [ -z "${SKIP_MEM:-}" ]; then
    low_file="$(journey_file "$MEM_LOW")"
    high_file="$(journey_file "$MEM_HIGH")"
    for rep in $(seq 1 "$MEM_REPS"); do
        for n in "$MEM_LOW" "$MEM_HIGH"; do
            f="$low_file"
            if [ "$n" = "$MEM_HIGH" ]; then f="$high_file"; fi
            raw="$OUT/raw/journey-$n-rep$rep"
            run_gen "$TSV" stampede "journey-$n" "$rep" "stampede:$raw.json" -- \
                "$STAMPEDE" run "$f" --threads 1 -q --out "$raw.json"
        done
    done
fi

if [ -n "${PROFILE:-}" ]; then
    command -v perf >/dev/null || die "perf not found (apt-get install linux-perf)"
    for what in static templated; do
        log "perf record -g: $what"
        "$BENCH_DIR/prio.sh" "$NICE" taskset -c "$GEN_CORE" \
            perf record -g -o "$OUT/perf-$what.data" -- \
            "$STAMPEDE" run "$OUT/$what.toml" --threads 1 -q --out "$OUT/raw/perf-$what.json" \
            >"$OUT/raw/perf-$what.stdout" 2>"$OUT/raw/perf-$what.stderr" || true
        perf report -i "$OUT/perf-$what.data" --no-children --percent-limit 0.5 --stdio -g none \
            >"$OUT/perf-$what.txt" 2>/dev/null || true
        log "perf report: $OUT/perf-$what.txt"
    done
fi

echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/meta.txt"
echo
[ -f "$TSV" ] || { echo "raw results: $OUT"; exit 0; }
python3 - "$TSV" "$MEM_LOW" "$MEM_HIGH" "$OUT/summary.json" "$BENCH_DIR" <<'PY' | tee "$OUT/summary.txt"
import json, sys
tsv, low, high, out, bench_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
sys.path.insert(0, bench_dir)
import benchlib as b

rows = b.load(tsv)
g = b.by_label(rows)
res = {"medians": {}, "ratios": {}}
cols = [("req/s", "rps", 0), ("cpu s", "cpu_s", 2), ("us cpu/req", "cpu_us_per_req", 2),
        ("user us/req", "user_us", 2), ("sys us/req", "sys_us", 2),
        ("max rss KiB", "max_rss_kib", 0), ("errors", "errors", 0), ("nginx cpu s", "nginx_cpu_s", 2)]
for r in rows:
    r["user_us"] = r["user_s"] / r["requests"] * 1e6 if r["requests"] else 0
    r["sys_us"] = r["sys_s"] / r["requests"] * 1e6 if r["requests"] else 0
labels = [l for l in ("static", "templated", "plain") if l in g]
if labels:
    print("CPU per request: one POST /api step, closed model (medians over repetitions)")
    print(b.table(labels, g, cols))
    for lab in labels:
        res["medians"][lab] = {c[1]: b.med([r[c[1]] for r in g[lab]]) for c in cols}
    m = res["medians"]
    if "static" in m and "templated" in m:
        r = m["templated"]["cpu_us_per_req"] / m["static"]["cpu_us_per_req"]
        pr, prs = b.paired_ratio(g, "templated", "static", "cpu_us_per_req")
        res["ratios"]["templated/static"] = {"ratio_of_medians": r, "median_paired": pr, "paired": prs}
        print(f"\nµs CPU per request, templated / static: {r:.3f} (median of paired ratios {pr:.3f}; "
              f"per rep {', '.join(f'{x:.3f}' for x in prs)})")
        print(f"bar templated/static <= 1.3: {b.verdict(r <= 1.3)}")
    if "static" in m and "plain" in m:
        r = m["static"]["cpu_us_per_req"] / m["plain"]["cpu_us_per_req"]
        res["ratios"]["static/plain"] = r
        print(f"µs CPU per request, static scenario / plain `stampede run URL`: {r:.3f}")
ml, mh = f"journey-{low}", f"journey-{high}"
if ml in g and mh in g:
    print(f"\nMemory: 4-step journey, {low} vs {high} virtual users (medians)")
    print(b.table([ml, mh], g, cols))
    rl = b.med([r["max_rss_kib"] for r in g[ml]])
    rh = b.med([r["max_rss_kib"] for r in g[mh]])
    per = (rh - rl) / (high - low)
    res["memory"] = {"rss_low_kib": rl, "rss_high_kib": rh, "kib_per_vu": per}
    print(f"\nKiB per virtual user = ({rh} - {rl}) / ({high} - {low}) = {per:.3f}")
with open(out, "w") as f:
    json.dump(res, f, indent=2)
PY
echo "raw results: $OUT"
