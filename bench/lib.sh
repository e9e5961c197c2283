# Shared helpers for the benchmark scripts. Source it; do not run it.
#
# Environment knobs (all optional):
#   DURATION=10     seconds per generator run
#   REPS=5          interleaved repetitions (closed.sh, open.sh); memory.sh uses MEM_REPS=3
#   PORT=...        nginx port on 127.0.0.1 (default: the first free port from 28080 up)
#   OUT=...         output directory (default bench/out/<script>-<timestamp>)
#   SKIP_BUILD=1    do not run `cargo build --release -p stampede` first
#   STAMPEDE=path   use this stampede binary instead of building target/release/stampede
#   NO_OHA=1        leave oha out even when it is installed
#   NGINX_LOCATIONS extra nginx directives inside the server block (proxy.sh serves a file)
#   NICE=-20        priority of nginx and the generators (needs root; NICE=0 to disable).
#                   Others compile on this machine; see prio.sh: each of our processes runs
#                   in a session of its own whose autogroup gets this nice value, so that it
#                   gets nearly all of its core against nice-0 compile jobs.
#
# Layout: nginx is pinned to core 0 and every generator to core 1 (the machine has 2 cores).
# Generators run under `/usr/bin/time -f "%U %S %M %e"`: user CPU s, system CPU s, max RSS KiB,
# wall s of the generator process alone.

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT_DIR="$(cd "$BENCH_DIR/.." && pwd)"
DURATION="${DURATION:-10}"
REPS="${REPS:-5}"
PORT="${PORT:-}"
URL=""
NGINX_CORE=0
GEN_CORE=1
NICE="${NICE:--20}"
if [ "$NICE" -lt 0 ] && [ "$(id -u)" -ne 0 ]; then NICE=0; fi

NGINX_PID=""
NGINX_DIR=""

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# bench_init NAME: make the output directory and install the cleanup trap.
bench_init() {
    local name="$1"
    OUT="${OUT:-$BENCH_DIR/out/$name-$(date +%Y%m%d-%H%M%S)}"
    mkdir -p "$OUT/raw"
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
    for tool in wrk nginx taskset python3; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool not found: run bench/setup.sh first"
    done
    [ -x /usr/bin/time ] || die "/usr/bin/time not found: run bench/setup.sh first"
    OHA="$BENCH_DIR/.tools/bin/oha"
    if [ -n "${NO_OHA:-}" ]; then
        log "NO_OHA set: oha left out"
        OHA=""
    elif [ ! -x "$OHA" ]; then
        log "oha not installed ($OHA missing; run bench/setup.sh): oha runs are SKIPPED"
        OHA=""
    fi
    log "output: $OUT"
}

bench_cleanup() {
    stop_nginx
}

# build_stampede: rebuild (the code may have changed) and copy the binary into $OUT, so that a
# concurrent `cargo build` by someone else cannot swap the binary in the middle of the run.
build_stampede() {
    if [ -n "${STAMPEDE:-}" ]; then
        log "using STAMPEDE=$STAMPEDE"
    else
        if [ -z "${SKIP_BUILD:-}" ]; then
            log "cargo build --release -p stampede"
            (cd "$ROOT_DIR" && cargo build --release -p stampede) >"$OUT/build.log" 2>&1 \
                || { tail -30 "$OUT/build.log" >&2; die "stampede build failed (see $OUT/build.log)"; }
        fi
        [ -x "$ROOT_DIR/target/release/stampede" ] || die "no target/release/stampede"
        cp "$ROOT_DIR/target/release/stampede" "$OUT/stampede"
        STAMPEDE="$OUT/stampede"
    fi
    {
        echo "stampede_binary=$STAMPEDE"
        echo "stampede_version=$("$STAMPEDE" --version 2>&1)"
        echo "git_head=$(git -C "$ROOT_DIR" rev-parse HEAD 2>/dev/null || echo unknown)"
        echo "git_dirty_files=$(git -C "$ROOT_DIR" status --porcelain 2>/dev/null | grep -v '^?? bench/' | wc -l)"
    } >>"$OUT/meta.txt"
}

# record_machine: date, CPU, versions, into $OUT/meta.txt.
record_machine() {
    {
        echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "nproc=$(nproc)"
        echo "cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
        echo "kernel=$(uname -r)"
        echo "nginx=$(nginx -v 2>&1 | sed 's/^nginx version: //')"
        echo "wrk=$(wrk --version 2>&1 | head -1 | awk '{print $2}')"
        if [ -n "$OHA" ]; then echo "oha=$("$OHA" --version)"; else echo "oha=absent"; fi
        echo "duration_s=$DURATION"
        echo "reps=$REPS"
        echo "ulimit_n=$(ulimit -n)"
        echo "nice=$NICE (process and its session autogroup, see prio.sh)"
        echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
    } >>"$OUT/meta.txt"
}

# free_port [AFTER]: the first port from 28080 up (or above AFTER) that nothing on 127.0.0.1
# is bound to. (Others on this machine run their own nginx on common ports; never benchmark a
# server we did not start.)
free_port() {
    python3 - "${1:-28079}" <<'PY'
import socket, sys
first = int(sys.argv[1]) + 1
for port in range(first, first + 320):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    raise SystemExit(f"no free port in {first}..{first + 319}")
PY
}

# listener_pids: pids of the processes listening on 127.0.0.1:$PORT.
listener_pids() {
    ss -ltnpH "sport = :$PORT" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u
}

# start_nginx [WORKER_CONNECTIONS]: nginx on 127.0.0.1:$PORT, one worker, pinned to core 0,
# private config and temp dir. Sets NGINX_PID (the master we started; killed by the trap).
start_nginx() {
    local wconn="${1:-1024}"
    if [ -z "$PORT" ]; then PORT="$(free_port)"; fi
    URL="http://127.0.0.1:$PORT/"
    if [ -n "$(listener_pids)" ]; then
        die "port $PORT is already in use by pid(s) $(listener_pids | tr '\n' ' '): pick another PORT"
    fi
    NGINX_DIR="$(mktemp -d /tmp/stampede-bench-nginx.XXXXXX)"
    mkdir -p "$NGINX_DIR/tmp"
    cat >"$NGINX_DIR/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $NGINX_DIR/nginx.pid;
error_log stderr crit;
worker_rlimit_nofile $((wconn * 2 + 100));
events {
    worker_connections $wconn;
}
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path $NGINX_DIR/tmp/body;
    proxy_temp_path $NGINX_DIR/tmp/proxy;
    fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
    uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
    scgi_temp_path $NGINX_DIR/tmp/scgi;
    server {
        listen 127.0.0.1:$PORT backlog=4096;
        location / {
            return 200 "ok\n";
        }
        ${NGINX_LOCATIONS:-}
    }
}
EOF
    # prio.sh, setsid, nice and taskset all exec, so $! is the nginx master itself (checked
    # against nginx's pid file below).
    "$BENCH_DIR/prio.sh" "$NICE" taskset -c "$NGINX_CORE" nginx -e stderr -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" \
        >"$NGINX_DIR/stdout.log" 2>"$NGINX_DIR/stderr.log" &
    NGINX_PID=$!
    local i
    for i in $(seq 1 50); do
        if ! kill -0 "$NGINX_PID" 2>/dev/null; then
            cat "$NGINX_DIR/stderr.log" >&2
            NGINX_PID=""
            die "nginx exited at start (port $PORT taken?)"
        fi
        # Ready when the listener on $PORT is our master or its worker, nobody else's.
        local p ok=""
        for p in $(listener_pids); do
            if [ "$p" = "$NGINX_PID" ] || [ "$(ps -o ppid= -p "$p" | tr -d ' ')" = "$NGINX_PID" ]; then
                ok=1
            else
                die "port $PORT is served by pid $p, not by our nginx"
            fi
        done
        if [ -n "$ok" ] && [ -n "$(pgrep -P "$NGINX_PID")" ]; then
            if [ "$(cat "$NGINX_DIR/nginx.pid" 2>/dev/null)" != "$NGINX_PID" ]; then
                die "nginx pid file says $(cat "$NGINX_DIR/nginx.pid" 2>/dev/null), expected $NGINX_PID"
            fi
            log "nginx pid $NGINX_PID (worker $(pgrep -P "$NGINX_PID" | paste -sd,)) on $URL, worker_connections $wconn, core $NGINX_CORE"
            return 0
        fi
        sleep 0.1
    done
    die "nginx did not listen on $PORT within 5 s"
}

stop_nginx() {
    if [ -n "$NGINX_PID" ]; then
        # SIGTERM to the master we started: it stops its own worker and exits.
        kill -TERM "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
        log "nginx pid $NGINX_PID stopped"
        NGINX_PID=""
    fi
    if [ -n "$NGINX_DIR" ] && [ -d "$NGINX_DIR" ]; then
        rm -rf "$NGINX_DIR"
        NGINX_DIR=""
    fi
}

# nginx_cpu_ticks: user+sys clock ticks of the nginx worker(s) we started (reads /proc only).
nginx_cpu_ticks() {
    local total=0 w
    for w in $(pgrep -P "$NGINX_PID" 2>/dev/null || true); do
        # Fields 14 and 15 of /proc/PID/stat (after the ")" of the command name).
        total=$((total + $(sed 's/.*) //' "/proc/$w/stat" | awk '{print $12 + $13}')))
    done
    echo "$total"
}

# run_gen TSV TOOL LABEL REP PARSER -- CMD...: run one generator on core $GEN_CORE under
# /usr/bin/time, parse its output, append one row to TSV.
#   PARSER: wrk | stampede:JSONFILE | oha:JSONFILE   (how to get requests and errors)
run_gen() {
    local tsv="$1" tool="$2" label="$3" rep="$4" parser="$5"
    shift 6
    local base="$OUT/raw/$label-rep$rep"
    local load_before nginx_before nginx_after rc=0
    load_before="$(cut -d' ' -f1 /proc/loadavg)"
    nginx_before="$(nginx_cpu_ticks)"
    log "rep $rep: $label: $*"
    /usr/bin/time -f "%U %S %M %e" -o "$base.time" \
        "$BENCH_DIR/prio.sh" "$NICE" taskset -c "$GEN_CORE" "$@" >"$base.stdout" 2>"$base.stderr" || rc=$?
    nginx_after="$(nginx_cpu_ticks)"
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
        # stampede exits 1 when thresholds fail (none are set here); anything else is a failure.
        log "WARNING: $label rep $rep exited $rc; see $base.stderr"
        tail -5 "$base.stderr" >&2 || true
    fi
    python3 "$BENCH_DIR/benchlib.py" row --tsv "$tsv" \
        --tool "$tool" --label "$label" --rep "$rep" --parser "$parser" \
        --stdout "$base.stdout" --time "$base.time" --rc "$rc" \
        --nginx-ticks "$((nginx_after - nginx_before))" --clk-tck "$(getconf CLK_TCK)" \
        --load "$load_before"
    sleep 1
}

# interleave FUNCTION LABEL...: calls `FUNCTION LABEL REP` for every label in each of $REPS
# repetitions, rotating the order each repetition so that no label always runs first (or
# right after another's TIME_WAIT sockets, or during the same phase of someone's compile).
interleave() {
    local fn="$1" rep i n
    shift
    n=$#
    local labels=("$@")
    for rep in $(seq 1 "$REPS"); do
        for i in $(seq 0 $((n - 1))); do
            "$fn" "${labels[$(((i + rep - 1) % n))]}" "$rep"
        done
    done
}
