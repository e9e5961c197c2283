#!/usr/bin/env bash
# Install what the benchmarks need: nginx (target), wrk (peer), GNU time (CPU and max RSS of
# the generator), perf/strace (profiling), and oha (second peer, built from crates.io into
# bench/.tools). Safe to rerun: each step is skipped when its tool is already there.
#
#   bash bench/setup.sh            # everything
#   SKIP_OHA=1 bash bench/setup.sh # skip the (several-minute) oha build
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS="$BENCH_DIR/.tools"

need_apt=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
[ -x /usr/bin/time ] || need_apt+=(time)
command -v perf >/dev/null 2>&1 || need_apt+=(linux-perf)
command -v strace >/dev/null 2>&1 || need_apt+=(strace)
command -v heaptrack >/dev/null 2>&1 || need_apt+=(heaptrack)
command -v taskset >/dev/null 2>&1 || need_apt+=(util-linux)

if [ "${#need_apt[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: need root to install: ${need_apt[*]}" >&2
        exit 1
    fi
    echo "setup: apt-get install ${need_apt[*]}"
    apt-get update -qq
    # Install one by one so that a package missing on this release does not block the rest.
    for p in "${need_apt[@]}"; do
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null \
            || echo "setup: WARNING: could not install $p" >&2
    done
fi
# The Debian nginx package may start a system service on install (on :80). The benchmarks run
# their own nginx on a private config and a high port, so it does not get in the way and is
# left alone (we only ever stop processes we started ourselves).

if [ -n "${SKIP_OHA:-}" ]; then
    echo "setup: SKIP_OHA set, not building oha"
elif [ -x "$TOOLS/bin/oha" ]; then
    echo "setup: oha already installed: $("$TOOLS/bin/oha" --version)"
else
    echo "setup: cargo install oha --locked --root $TOOLS (takes several minutes)"
    if ! cargo install oha --locked --root "$TOOLS"; then
        echo "setup: WARNING: oha failed to build; the benchmarks will skip oha" >&2
    fi
fi

echo "setup: versions"
echo "  nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //')"
echo "  wrk:   $(wrk --version 2>&1 | head -1 || true)"
if [ -x "$TOOLS/bin/oha" ]; then echo "  oha:   $("$TOOLS/bin/oha" --version)"; else echo "  oha:   (not installed)"; fi
echo "  perf:  $(perf --version 2>/dev/null || echo '(not installed)')"
