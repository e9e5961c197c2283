#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each and fails on any crash.
#
#   fuzz/run.sh SECONDS
#
# Installs cargo-fuzz into fuzz/.tools on first use (git-ignored) and uses the nightly
# toolchain. Each target starts from its committed seeds (seeds/TARGET) plus the corpus it
# grew before (corpus/TARGET), with dicts/TARGET.dict when present. Crashes are written to
# artifacts/TARGET/.
set -euo pipefail

secs=${1:?usage: fuzz/run.sh SECONDS}
here=$(cd "$(dirname "$0")" && pwd)
tools=$here/.tools

if [ ! -x "$tools/bin/cargo-fuzz" ]; then
    echo "fuzz: installing cargo-fuzz into $tools"
    cargo install cargo-fuzz --locked --root "$tools"
fi
export PATH="$tools/bin:$PATH"

cd "$here"
targets=$(cargo +nightly fuzz list)
for target in $targets; do
    echo "fuzz: $target for ${secs}s"
    mkdir -p "corpus/$target"
    dirs=("corpus/$target")
    [ -d "seeds/$target" ] && dirs+=("seeds/$target")
    opts=(-max_total_time="$secs")
    [ -f "dicts/$target.dict" ] && opts+=(-dict="dicts/$target.dict")
    # libFuzzer's progress lines run to thousands; they go to a log, and only its
    # outcome (or, on a crash, its last lines) to the terminal.
    log=$(mktemp)
    if cargo +nightly fuzz run "$target" "${dirs[@]}" -- "${opts[@]}" >"$log" 2>&1; then
        grep -E '^Done [0-9]+ runs' "$log" | sed "s/^/fuzz: $target: /" || true
        rm -f "$log"
    else
        status=$?
        tail -n 80 "$log"
        rm -f "$log"
        echo "fuzz: $target failed (exit $status); crash inputs are in fuzz/artifacts/$target/"
        exit "$status"
    fi
done
echo "fuzz: all targets ran ${secs}s without a crash"
