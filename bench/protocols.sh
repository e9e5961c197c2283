#!/usr/bin/env bash
# HTTPS and HTTP/2 throughput per generator CPU-second: stampede vs h2load (and oha, if
# bench/.tools/bin/oha exists) against the same nginx, pinned: nginx on core 0, the
# generator on core 1, one generator thread each. Issue 3's bar: stampede >= 1.0x the
# better of h2load and oha, in each mode.
#
#   mode h1: HTTPS keep-alive, HTTP/1.1, $CONNS connections (default 50)
#   mode h2: HTTP/2 over TLS (ALPN h2), 10 connections x 10 concurrent streams
#
# nginx serves `200 "ok\n"` on one `listen ... ssl http2` port with a self-signed ECDSA
# P-256 certificate made at start (stampede and oha trust it with --cacert; h2load does
# not verify certificates). Repetitions are interleaved, the tool order rotating each time;
# the summary gives medians over repetitions and the ratios of medians.
#
#   bash bench/protocols.sh                     # 3 reps x 5 s per tool and mode
#   DURATION=10 REPS=5 bash bench/protocols.sh
#
# Knobs: DURATION (s, default 5), REPS (default 3), CONNS (h1 connections, default 50), and
# lib.sh's PORT, OUT, NICE, SKIP_BUILD, STAMPEDE, NO_OHA. Needs h2load (apt-get install
# nghttp2-client) and openssl besides what lib.sh checks.
set -euo pipefail
DURATION="${DURATION:-5}"
REPS="${REPS:-3}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONNS="${CONNS:-50}"

bench_init protocols
for tool in h2load openssl; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install nghttp2-client openssl)"
done
build_stampede
record_machine
echo "h2load=$(h2load --version 2>&1 | head -1)" >>"$OUT/meta.txt"

# start_tls_nginx: like lib.sh's start_nginx, with TLS and HTTP/2 on the port. Sets
# NGINX_PID and NGINX_DIR, so lib.sh's cleanup trap stops it.
start_tls_nginx() {
    if [ -z "$PORT" ]; then PORT="$(free_port)"; fi
    URL="https://127.0.0.1:$PORT/"
    if [ -n "$(listener_pids)" ]; then
        die "port $PORT is already in use by pid(s) $(listener_pids | tr '\n' ' '): pick another PORT"
    fi
    NGINX_DIR="$(mktemp -d /tmp/stampede-bench-nginx.XXXXXX)"
    mkdir -p "$NGINX_DIR/tmp"
    CERT="$OUT/cert.pem"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$NGINX_DIR/key.pem" -out "$CERT" -days 2 -subj /CN=localhost \
        -addext basicConstraints=critical,CA:FALSE \
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>"$OUT/openssl.log" \
        || die "openssl req failed: $(cat "$OUT/openssl.log")"
    cat >"$NGINX_DIR/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $NGINX_DIR/nginx.pid;
error_log stderr crit;
worker_rlimit_nofile 8292;
events {
    worker_connections 4096;
}
http {
    access_log off;
    # Also the HTTP/2 per-connection request limit since nginx 1.19.7 (default 1000).
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    ssl_certificate $CERT;
    ssl_certificate_key $NGINX_DIR/key.pem;
    client_body_temp_path $NGINX_DIR/tmp/body;
    proxy_temp_path $NGINX_DIR/tmp/proxy;
    fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
    uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
    scgi_temp_path $NGINX_DIR/tmp/scgi;
    server {
        listen 127.0.0.1:$PORT ssl http2 backlog=4096;
        location / {
            return 200 "ok\n";
        }
    }
}
EOF
    "$BENCH_DIR/prio.sh" "$NICE" taskset -c "$NGINX_CORE" nginx -e stderr -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" \
        >"$NGINX_DIR/stdout.log" 2>"$NGINX_DIR/stderr.log" &
    NGINX_PID=$!
    local i p ok
    for i in $(seq 1 50); do
        if ! kill -0 "$NGINX_PID" 2>/dev/null; then
            cat "$NGINX_DIR/stderr.log" >&2
            NGINX_PID=""
            die "nginx exited at start (port $PORT taken?)"
        fi
        ok=""
        for p in $(listener_pids); do
            if [ "$p" = "$NGINX_PID" ] || [ "$(ps -o ppid= -p "$p" | tr -d ' ')" = "$NGINX_PID" ]; then
                ok=1
            else
                die "port $PORT is served by pid $p, not by our nginx"
            fi
        done
        if [ -n "$ok" ] && [ -n "$(pgrep -P "$NGINX_PID")" ]; then
            log "nginx pid $NGINX_PID (worker $(pgrep -P "$NGINX_PID" | paste -sd,)) on $URL (TLS, h2 and http/1.1), core $NGINX_CORE"
            return 0
        fi
        sleep 0.1
    done
    die "nginx did not listen on $PORT within 5 s"
}

# The parser and the summary (Python, written into $OUT so that the script stays one file).
PARSE="$OUT/protocols_parse.py"
cat >"$PARSE" <<'PY'
import json, re, statistics, sys

COLS = ["tool", "mode", "rep", "requests", "errors", "elapsed_s", "cpu_s", "user_s", "sys_s",
        "rps", "req_per_cpu_s", "max_rss_kib", "nginx_cpu_s", "rc", "note"]

def h2load(text):
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", text)
    f = re.search(r"finished in ([\d.]+)(ms|s)", text)
    p = re.search(r"Application protocol: (\S+)", text)
    if not m or not f:
        raise ValueError("no 'requests:' or 'finished in' line in h2load output")
    elapsed = float(f.group(1)) * (0.001 if f.group(2) == "ms" else 1.0)
    done, ok = int(m.group(3)), int(m.group(4))
    return done, done - ok, elapsed, f"proto={p.group(1) if p else '?'}"

def stampede(path):
    d = json.load(open(path))
    s = d["summary"]
    note = f"protocols={json.dumps(s.get('protocols'), separators=(',', ':'))};json_cpu_s={d['generator']['cpu_s']}"
    return s["requests"], s["errors"] + s["timeouts"], s["elapsed_s"], note

def oha(path):
    d = json.load(open(path))
    codes = d.get("statusCodeDistribution") or {}
    errs = dict(d.get("errorDistribution") or {})
    aborted = errs.pop("aborted due to deadline", 0)
    ok = sum(v for k, v in codes.items() if 200 <= int(k) < 400)
    bad = sum(v for k, v in codes.items() if not 200 <= int(k) < 400) + sum(errs.values())
    return ok + bad, bad, float(d["summary"]["total"]), f"aborted_at_deadline={aborted}"

def row(a):
    tsv, tool, mode, rep, parser, src, timef, rc, ticks, tck = a
    user, sys_, rss, wall = [l for l in open(timef).read().splitlines() if l.strip()][-1].split()
    user, sys_, rss = float(user), float(sys_), int(rss)
    cpu = user + sys_
    try:
        if parser == "h2load":
            req, err, el, note = h2load(open(src).read())
        elif parser == "stampede":
            req, err, el, note = stampede(src)
        else:
            req, err, el, note = oha(src)
    except Exception as e:  # a failed run is a row with 0 requests, left out of medians
        req, err, el, note = 0, 0, float(wall), f"PARSE-FAILED: {e}"
    r = dict(tool=tool, mode=mode, rep=rep, requests=req, errors=err, elapsed_s=round(el, 3),
             cpu_s=round(cpu, 3), user_s=user, sys_s=sys_, rps=round(req / el, 1) if el else 0,
             req_per_cpu_s=round(req / cpu, 1) if cpu else 0, max_rss_kib=rss,
             nginx_cpu_s=round(int(ticks) / int(tck), 2), rc=rc, note=note)
    import os
    new = not os.path.exists(tsv) or os.path.getsize(tsv) == 0
    with open(tsv, "a") as f:
        if new:
            f.write("\t".join(COLS) + "\n")
        f.write("\t".join(str(r[c]) for c in COLS) + "\n")
    print(f"    -> {tool} {mode}: {req} req ({err} err) in {el:.2f}s = {r['rps']:.0f} req/s; "
          f"cpu {cpu:.2f}s = {r['req_per_cpu_s']:.0f} req/cpu-s; maxrss {rss} KiB; "
          f"nginx cpu {r['nginx_cpu_s']}s; {note}", file=sys.stderr)

def summary(tsv, out_json):
    rows = [dict(zip(COLS, l.rstrip("\n").split("\t"))) for l in open(tsv).readlines()[1:]]
    for r in rows:
        for k in ("requests", "errors", "rep", "max_rss_kib"):
            r[k] = int(r[k])
        for k in ("elapsed_s", "cpu_s", "rps", "req_per_cpu_s", "nginx_cpu_s"):
            r[k] = float(r[k])
    med = lambda xs: statistics.median(xs) if xs else None
    res = {}
    lines = []
    titles = {"h1": "HTTPS keep-alive, HTTP/1.1", "h2": "HTTP/2 over TLS, 10 connections x 10 streams"}
    for mode in ("h1", "h2"):
        lines.append(f"{titles[mode]} (medians over repetitions)")
        lines.append(f"{'tool':<10}{'n':>3}{'req/s':>12}{'cpu s':>9}{'req/cpu-s':>12}{'max rss KiB':>13}{'errors':>8}{'nginx cpu s':>13}")
        med_rpc = {}
        per_rep = {}
        for tool in ("stampede", "h2load", "oha"):
            rs = [r for r in rows if r["tool"] == tool and r["mode"] == mode and r["requests"] > 0]
            if not rs:
                lines.append(f"{tool:<10}{0:>3}{'skipped':>12}")
                continue
            m = {k: med([r[k] for r in rs]) for k in ("rps", "cpu_s", "req_per_cpu_s", "max_rss_kib", "errors", "nginx_cpu_s")}
            med_rpc[tool] = m["req_per_cpu_s"]
            per_rep[tool] = {r["rep"]: r["req_per_cpu_s"] for r in rs}
            res.setdefault(mode, {})[tool] = m
            lines.append(f"{tool:<10}{len(rs):>3}{m['rps']:>12,.0f}{m['cpu_s']:>9.2f}{m['req_per_cpu_s']:>12,.0f}"
                         f"{m['max_rss_kib']:>13,.0f}{m['errors']:>8,.0f}{m['nginx_cpu_s']:>13.2f}")
        peers = {t: v for t, v in med_rpc.items() if t != "stampede"}
        if "stampede" in med_rpc and peers:
            best = max(peers, key=peers.get)
            ratio = med_rpc["stampede"] / peers[best]
            for t, v in sorted(peers.items()):
                paired = [per_rep["stampede"][k] / per_rep[t][k] for k in per_rep["stampede"] if k in per_rep[t]]
                lines.append(f"req per generator CPU-second, stampede / {t}: {med_rpc['stampede'] / v:.3f}"
                             f" (per rep: {', '.join(f'{x:.3f}' for x in paired)})")
            verdict = "MET" if ratio >= 1.0 else "NOT MET"
            res.setdefault(mode, {})["bar"] = {"best_peer": best, "ratio": ratio, "verdict": verdict}
            lines.append(f"BAR {mode}: stampede >= 1.0x the better peer ({best}) in req per generator CPU-s: "
                         f"{ratio:.3f} -> {verdict}")
        else:
            lines.append(f"BAR {mode}: n/a (missing data)")
        lines.append("")
    print("\n".join(lines))
    json.dump(res, open(out_json, "w"), indent=2)

if sys.argv[1] == "row":
    row(sys.argv[2:])
else:
    summary(sys.argv[2], sys.argv[3])
PY

start_tls_nginx
TSV="$OUT/runs.tsv"

# gen TOOL MODE REP PARSER SOURCE -- CMD...: one generator run on core $GEN_CORE under
# /usr/bin/time (user, sys, max RSS, wall of the generator process alone).
gen() {
    local tool="$1" mode="$2" rep="$3" parser="$4" src="$5"
    shift 6
    local base="$OUT/raw/$tool-$mode-rep$rep" rc=0 before after
    before="$(nginx_cpu_ticks)"
    log "rep $rep: $tool $mode: $*"
    /usr/bin/time -f "%U %S %M %e" -o "$base.time" \
        "$BENCH_DIR/prio.sh" "$NICE" taskset -c "$GEN_CORE" "$@" >"$base.stdout" 2>"$base.stderr" || rc=$?
    after="$(nginx_cpu_ticks)"
    if [ "$rc" -ne 0 ]; then
        log "WARNING: $tool $mode rep $rep exited $rc; see $base.stderr"
        tail -5 "$base.stderr" >&2 || true
    fi
    [ "$src" = stdout ] && src="$base.stdout"
    python3 "$PARSE" row "$TSV" "$tool" "$mode" "$rep" "$parser" "$src" "$base.time" "$rc" \
        "$((after - before))" "$(getconf CLK_TCK)"
    sleep 1
}

run_tool() {
    local tool="$1" mode="$2" rep="$3" raw="$OUT/raw/$1-$2-rep$3"
    case "$tool-$mode" in
    stampede-h1)
        gen stampede h1 "$rep" stampede "$raw.json" -- "$STAMPEDE" run "$URL" -c "$CONNS" \
            -d "${DURATION}s" --threads 1 --cacert "$CERT" -q --out "$raw.json" ;;
    stampede-h2)
        gen stampede h2 "$rep" stampede "$raw.json" -- "$STAMPEDE" run "$URL" --http2 --streams 10 \
            -c 10 -d "${DURATION}s" --threads 1 --cacert "$CERT" -q --out "$raw.json" ;;
    h2load-h1)
        gen h2load h1 "$rep" h2load stdout -- h2load --h1 -c "$CONNS" -t 1 -D "$DURATION" "$URL" ;;
    h2load-h2)
        gen h2load h2 "$rep" h2load stdout -- h2load -c 10 -m 10 -t 1 -D "$DURATION" "$URL" ;;
    oha-h1)
        gen oha h1 "$rep" oha stdout -- "$OHA" -z "${DURATION}s" -c "$CONNS" --no-tui \
            --worker-threads 1 --output-format json --cacert "$CERT" "$URL" ;;
    oha-h2)
        gen oha h2 "$rep" oha stdout -- "$OHA" -z "${DURATION}s" -c 10 -p 10 --http2 --no-tui \
            --worker-threads 1 --output-format json --cacert "$CERT" "$URL" ;;
    esac
}

tools=(stampede h2load)
if [ -n "$OHA" ]; then tools+=(oha); fi
for rep in $(seq 1 "$REPS"); do
    for mode in h1 h2; do
        n=${#tools[@]}
        for i in $(seq 0 $((n - 1))); do
            run_tool "${tools[$(((i + rep - 1) % n))]}" "$mode" "$rep"
        done
    done
done

echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/meta.txt"
echo
python3 "$PARSE" summary "$TSV" "$OUT/summary.json" | tee "$OUT/summary.txt"
if [ -z "$OHA" ]; then echo "(oha not run: not installed in bench/.tools, or NO_OHA set)" | tee -a "$OUT/summary.txt"; fi
echo "raw results: $OUT"
