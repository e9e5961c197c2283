#!/usr/bin/env python3
"""Syscalls per request from `perf stat -x,` output (used by profile.sh).

  profile_report.py count --label L --parser P --perfstat F --stdout F   -> one JSON line
  profile_report.py table FILE.jsonl                                       -> table
  profile_report.py perfcat REPORT.txt [--us-per-req X]                    -> CPU by category
      REPORT.txt: `perf report --no-children --sort dso,symbol --stdio -g none` output
  profile_report.py allocs HISTOGRAM --connections N                       -> per-connection heap
      HISTOGRAM: `heaptrack_print --print-histogram` output (size, count)
"""

import argparse
import collections
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def read_perfstat(path):
    counts = {}
    with open(path) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\n").split(",")
            if len(parts) < 3:
                continue
            value, _unit, event = parts[0], parts[1], parts[2]
            try:
                counts[event] = float(value)
            except ValueError:
                counts[event] = None  # <not counted> / <not supported>
    return counts


def cmd_count(a):
    if a.parser == "wrk":
        with open(a.stdout) as f:
            requests, errors, elapsed, _ = benchlib.parse_wrk(f.read())
    elif a.parser.startswith("stampede:"):
        requests, errors, elapsed, _ = benchlib.parse_stampede(a.parser.split(":", 1)[1])
    else:
        requests, errors, elapsed, _ = benchlib.parse_oha(a.parser.split(":", 1)[1])
    c = read_perfstat(a.perfstat)
    per = {}
    for ev, v in c.items():
        if ev.startswith("syscalls:sys_enter_") and v:
            per[ev.removeprefix("syscalls:sys_enter_")] = v / requests if requests else None
    total = c.get("raw_syscalls:sys_enter") or 0
    doc = {
        "label": a.label, "requests": requests, "errors": errors, "elapsed_s": elapsed,
        "cpu_s": (c.get("task-clock") or 0) / 1000.0,
        "cpu_us_per_req": (c.get("task-clock") or 0) * 1000.0 / requests if requests else None,
        "syscalls_per_req": total / requests if requests else None,
        "ctx_switches_per_req": (c.get("context-switches") or 0) / requests if requests else None,
        "by_syscall_per_req": dict(sorted(per.items(), key=lambda kv: -(kv[1] or 0))),
    }
    print(json.dumps(doc))


def cmd_table(a):
    docs = [json.loads(l) for l in open(a.file) if l.strip()]
    print("syscalls per request (perf stat on syscall tracepoints; closed = 50 connections)")
    head = f"{'run':<18}{'req/s':>10}{'us cpu/req':>12}{'syscalls/req':>14}{'ctxsw/req':>11}  top syscalls per request"
    print(head)
    print("-" * (len(head) + 40))
    for d in docs:
        top = ", ".join(f"{k} {v:.3f}" for k, v in list(d["by_syscall_per_req"].items())[:6] if v and v >= 0.001)
        rps = d["requests"] / d["elapsed_s"] if d["elapsed_s"] else 0
        print(f"{d['label']:<18}{rps:>10,.0f}{d['cpu_us_per_req'] or 0:>12.2f}"
              f"{d['syscalls_per_req'] or 0:>14.3f}{d['ctx_switches_per_req'] or 0:>11.4f}  {top}")


def category(dso, sym):
    if dso == "[kernel.kallsyms]":
        if re.search(r"sched|task_switch|enqueue|dequeue|try_to_wake|wake_up|idle|update_curr|"
                     r"pick_next|hrtimer|timerfd|tick_", sym):
            return "kernel: scheduler, timers, sleep/wakeup"
        if re.search(r"epoll|^ep_|fdget|fput", sym):
            return "kernel: epoll, fd lookup"
        if re.search(r"syscall|^entry_", sym):
            return "kernel: syscall entry/exit"
        if "spin_unlock" in sym:
            return "kernel: spin_unlock_irq* (softirq/irq work is accounted here)"
        return "kernel: TCP/IP loopback, socket copies, skb alloc"
    if dso == "[vdso]" or "Timespec" in sym:
        return "user: clock_gettime (vdso)"
    if dso.startswith("libc"):
        return "user: libc (syscall wrappers, malloc)"
    if "tokio" in sym:
        return "user: tokio runtime (tasks, wakers, I/O driver, timer wheel)"
    if "httparse" in sym or "http1" in sym:
        return "user: HTTP/1 parse and framing"
    if "hdrhistogram" in sym or "metrics" in sym:
        return "user: histograms, counters"
    if dso == "stampede":
        return "user: stampede other (request loop, dispatcher, ...)"
    return f"other: {dso}"


def cmd_perfcat(a):
    cat = collections.Counter()
    for line in open(a.report):
        m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[.\]\s+(\S+)", line)
        if m:
            cat[category(m.group(2), m.group(3))] += float(m.group(1))
    for c, p in cat.most_common():
        extra = f"  ~{p / 100 * a.us_per_req:.2f} us/req" if a.us_per_req else ""
        print(f"  {p:5.1f}%{extra}  {c}")


def cmd_allocs(a):
    """Allocation sizes that occur about once per connection (heaptrack --print-histogram)."""
    rows = []
    for line in open(a.histogram):
        parts = line.split()
        if len(parts) == 2:
            rows.append((int(parts[0]), int(parts[1])))
    per = [(size, n) for size, n in rows if n >= 0.9 * a.connections]
    total = sum(size * round(n / a.connections) for size, n in per)
    print(f"allocations made at least ~once per connection ({a.connections} connections):")
    for size, n in sorted(per, key=lambda x: -x[0] * x[1]):
        print(f"  {size:>7} B x {n:>7}  (~{n / a.connections:.1f} per connection)")
    print(f"  total ~{total} B = {total / 1024:.2f} KiB per connection (before malloc overhead)")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("count")
    for k in ("label", "parser", "perfstat", "stdout"):
        c.add_argument(f"--{k}", required=True)
    t = sub.add_parser("table")
    t.add_argument("file")
    pc = sub.add_parser("perfcat")
    pc.add_argument("report")
    pc.add_argument("--us-per-req", type=float)
    al = sub.add_parser("allocs")
    al.add_argument("histogram")
    al.add_argument("--connections", type=int, required=True)
    a = p.parse_args()
    {"count": cmd_count, "table": cmd_table, "perfcat": cmd_perfcat, "allocs": cmd_allocs}[a.cmd](a)


if __name__ == "__main__":
    main()
