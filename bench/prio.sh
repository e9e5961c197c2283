#!/usr/bin/env bash
# prio.sh NICE CMD...: run CMD at a raised priority, in place (exec; the pid is CMD's).
#
# A plain `nice` is not enough here: the kernel groups processes by session
# (kernel.sched_autogroup_enabled=1) and shares a core fairly between sessions, whatever
# their nice values, so other people's compile jobs would still take half of our core. So
# CMD gets a session of its own (setsid), that session's autogroup gets the nice value, and
# CMD itself runs under `nice`. Needs root for negative values; without it, runs CMD as is.
set -euo pipefail
level="$1"
shift
if [ "$level" = 0 ] || [ "$(id -u)" -ne 0 ]; then
    exec "$@"
fi
if [ -z "${PRIO_NEW_SESSION:-}" ]; then
    # setsid only forks when we lead a process group, which the benchmark's children do not;
    # --wait keeps the exit status (and /usr/bin/time's accounting) right if it ever does.
    export PRIO_NEW_SESSION=1
    exec setsid --wait "$0" "$level" "$@"
fi
unset PRIO_NEW_SESSION
echo "$level" >/proc/self/autogroup 2>/dev/null || true
exec nice -n "$level" "$@"
