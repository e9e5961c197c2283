#!/usr/bin/env python3
"""Parsing and summaries for the benchmark scripts (called from lib.sh and the *.sh scripts).

  benchlib.py row --tsv F --tool T --label L --rep N --parser P --stdout F --time F ...
      parse one generator run, append one row to the TSV, print it
  benchlib.py summary {closed|open|memory|replay} TSV [--json OUT]
      print medians, ratios and the bar verdicts; optionally write them as JSON

The TSV has one row per generator run. cpu_s is user + system CPU of the generator process as
measured by /usr/bin/time (the same method for every tool); max_rss_kib is its %M.
"""

import argparse
import json
import os
import re
import statistics
import sys

COLUMNS = [
    "tool", "label", "rep", "requests", "errors", "elapsed_s", "wall_s", "user_s", "sys_s",
    "cpu_s", "max_rss_kib", "rps", "req_per_cpu_s", "cpu_us_per_req", "nginx_cpu_s",
    "loadavg", "rc", "note",
]


def parse_wrk(text):
    m = re.search(r"(\d+) requests in ([\d.]+)(ms|us|s|m|h)", text)
    if not m:
        raise ValueError("no 'N requests in T' line in wrk output")
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}[m.group(3)]
    requests, elapsed = int(m.group(1)), float(m.group(2)) * scale
    errors = 0
    notes = []
    m2 = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m2:
        errors += int(m2.group(1))
    m3 = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m3:
        c, r, w, t = (int(x) for x in m3.groups())
        errors += c + r + w + t
        notes.append(f"sockerr c{c}/r{r}/w{w}/t{t}")
    return requests, errors, elapsed, ";".join(notes)


def parse_stampede(path):
    with open(path) as f:
        doc = json.load(f)
    s, g = doc["summary"], doc["generator"]
    notes = [f"json_cpu_s={g['cpu_s']}", f"achieved={s['achieved_rate']}"]
    if s.get("target_rate"):
        notes.append(f"target={s['target_rate']}")
        notes.append(f"late={s.get('late_sends', 0)}")
        notes.append(f"dropped={s.get('dropped', 0)}")
    notes.append(f"conns={s.get('connections_opened')}")
    if g.get("peak_rss_bytes"):
        notes.append(f"json_rss_kib={g['peak_rss_bytes'] // 1024}")
    for w in g.get("warnings") or []:
        notes.append("warn=" + (w if isinstance(w, str) else json.dumps(w, separators=(",", ":"))))
    return s["requests"], s["errors"] + s["timeouts"], s["elapsed_s"], ";".join(notes)


def parse_oha(path):
    with open(path) as f:
        doc = json.load(f)
    codes = doc.get("statusCodeDistribution") or {}
    errs = doc.get("errorDistribution") or {}
    ok = sum(v for k, v in codes.items() if 200 <= int(k) < 400)
    bad_status = sum(v for k, v in codes.items() if not 200 <= int(k) < 400)
    # With -z, requests in flight at the deadline are aborted and listed as an error class;
    # they are neither completed requests nor failures of the target.
    aborted = errs.pop("aborted due to deadline", 0)
    err_count = sum(errs.values())
    requests = ok + bad_status + err_count
    elapsed = float(doc["summary"]["total"])
    notes = [f"oha_rps={round(doc['summary'].get('requestsPerSec', 0), 1)}", f"aborted_at_deadline={aborted}"]
    if errs:
        notes.append("errs=" + ",".join(f"{k}:{v}" for k, v in errs.items())[:200])
    return requests, bad_status + err_count, elapsed, ";".join(notes)


def cmd_row(a):
    with open(a.time) as f:
        # /usr/bin/time may prefix "Command exited with non-zero status N"; the numbers come last.
        line = [l for l in f.read().splitlines() if l.strip()][-1]
    user_s, sys_s, max_rss_kib, wall_s = line.split()
    user_s, sys_s, wall_s, max_rss_kib = float(user_s), float(sys_s), float(wall_s), int(max_rss_kib)
    cpu_s = user_s + sys_s
    try:
        if a.parser == "wrk":
            with open(a.stdout) as f:
                requests, errors, elapsed, note = parse_wrk(f.read())
        elif a.parser.startswith("stampede:"):
            requests, errors, elapsed, note = parse_stampede(a.parser.split(":", 1)[1])
        elif a.parser.startswith("oha:"):
            requests, errors, elapsed, note = parse_oha(a.parser.split(":", 1)[1])
        else:
            raise ValueError(f"unknown parser {a.parser}")
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        requests, errors, elapsed, note = 0, 0, wall_s, f"PARSE-FAILED: {e}"
    row = {
        "tool": a.tool, "label": a.label, "rep": a.rep, "requests": requests, "errors": errors,
        "elapsed_s": round(elapsed, 3), "wall_s": wall_s, "user_s": user_s, "sys_s": sys_s,
        "cpu_s": round(cpu_s, 3), "max_rss_kib": max_rss_kib,
        "rps": round(requests / elapsed, 1) if elapsed > 0 else 0,
        "req_per_cpu_s": round(requests / cpu_s, 1) if cpu_s > 0 else 0,
        "cpu_us_per_req": round(cpu_s / requests * 1e6, 3) if requests > 0 else 0,
        "nginx_cpu_s": round(a.nginx_ticks / a.clk_tck, 2),
        "loadavg": a.load, "rc": a.rc, "note": note,
    }
    new = not os.path.exists(a.tsv) or os.path.getsize(a.tsv) == 0
    with open(a.tsv, "a") as f:
        if new:
            f.write("\t".join(COLUMNS) + "\n")
        f.write("\t".join(str(row[c]) for c in COLUMNS) + "\n")
    print(
        f"    -> {a.label}: {requests} req ({errors} err) in {elapsed:.2f}s = {row['rps']:.0f} req/s;"
        f" cpu {cpu_s:.2f}s (u {user_s:.2f} s {sys_s:.2f}) = {row['req_per_cpu_s']:.0f} req/cpu-s,"
        f" {row['cpu_us_per_req']:.2f} us/req; maxrss {max_rss_kib} KiB;"
        f" nginx cpu {row['nginx_cpu_s']}s; load {a.load}",
        file=sys.stderr,
    )


def load(tsv):
    rows = []
    with open(tsv) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            vals = line.rstrip("\n").split("\t")
            r = dict(zip(header, vals))
            for k in ("requests", "errors", "rep", "max_rss_kib", "rc"):
                r[k] = int(r[k])
            for k in ("elapsed_s", "wall_s", "user_s", "sys_s", "cpu_s", "rps", "req_per_cpu_s",
                      "cpu_us_per_req", "nginx_cpu_s"):
                r[k] = float(r[k])
            rows.append(r)
    return rows


def med(xs):
    return statistics.median(xs) if xs else None


def by_label(rows):
    out = {}
    for r in rows:
        if r["requests"] > 0:
            out.setdefault(r["label"], []).append(r)
    return out


def paired_ratio(groups, num, den, key):
    """Median over repetitions of (num/den) within the same repetition."""
    a = {r["rep"]: r[key] for r in groups.get(num, [])}
    b = {r["rep"]: r[key] for r in groups.get(den, [])}
    ratios = [a[k] / b[k] for k in a if k in b and b[k]]
    return med(ratios), ratios


def medians(g, labels, cols):
    """Per label that ran: the median of each column."""
    return {lab: {c[1]: med([r[c[1]] for r in g[lab]]) for c in cols} for lab in labels if lab in g}


def ratio(g, res, num, den, key, what):
    """Ratio of the medians of `key`, num / den, recorded in res["ratios"] with the median of
    the per-repetition ratios; returns it (None when either did not run) and its text line."""
    m = res["medians"]
    if num not in m or den not in m:
        return None, f"{num} / {den}: n/a"
    r = m[num][key] / m[den][key]
    pr, prs = paired_ratio(g, num, den, key)
    res["ratios"][f"{num}/{den}"] = {"ratio_of_medians": r, "median_paired": pr, "paired": prs}
    return r, (f"{what}, {num} / {den}: {r:.3f} (median of per-rep ratios {fmt(pr, 3)}; per rep: "
               + ", ".join(f"{x:.3f}" for x in prs) + ")")


def fmt(x, nd=2):
    return "n/a" if x is None else f"{x:,.{nd}f}"


def table(labels, groups, cols):
    head = f"{'run':<20}{'n':>3}" + "".join(f"{c[0]:>16}" for c in cols)
    lines = [head, "-" * len(head)]
    for lab in labels:
        rs = groups.get(lab)
        if not rs:
            lines.append(f"{lab:<20}{0:>3}" + "".join(f"{'skipped':>16}" for _ in cols))
            continue
        cells = "".join(f"{fmt(med([r[c[1]] for r in rs]), c[2]):>16}" for c in cols)
        lines.append(f"{lab:<20}{len(rs):>3}{cells}")
    return "\n".join(lines)


def verdict(ok):
    return "n/a (missing data)" if ok is None else ("MET" if ok else "NOT MET")


def summary_closed(rows):
    g = by_label(rows)
    labels = ["wrk", "stampede", "oha"]
    cols = [("req/s", "rps", 0), ("cpu s", "cpu_s", 2), ("req/cpu-s", "req_per_cpu_s", 0),
            ("us cpu/req", "cpu_us_per_req", 2), ("max rss KiB", "max_rss_kib", 0),
            ("errors", "errors", 0), ("nginx cpu s", "nginx_cpu_s", 2)]
    res = {"medians": medians(g, labels, cols), "ratios": {}}
    text = ["closed model, 50 keep-alive connections (medians over repetitions)", table(labels, g, cols), ""]
    for peer in ("wrk", "oha"):
        r, line = ratio(g, res, "stampede", peer, "req_per_cpu_s", "req per generator CPU-second")
        text.append(line if r is not None else f"stampede / {peer}: n/a ({peer} not run)")
    w = res["ratios"].get("stampede/wrk")
    ok = None if w is None else w["ratio_of_medians"] >= 1.0
    res["bar"] = {"closed: stampede >= 1.0x wrk req per CPU-s": verdict(ok)}
    text.append("")
    text.append(f"BAR closed model (stampede >= 1.0x wrk in req per generator CPU-s): {verdict(ok)}")
    return res, "\n".join(text)


def summary_open(rows):
    g = by_label(rows)
    labels = ["stampede-open", "stampede-open-slack", "oha-open", "stampede-closed", "wrk-open"]
    cols = [("req/s", "rps", 0), ("cpu s", "cpu_s", 2), ("us cpu/req", "cpu_us_per_req", 2),
            ("req/cpu-s", "req_per_cpu_s", 0), ("max rss KiB", "max_rss_kib", 0),
            ("errors", "errors", 0), ("nginx cpu s", "nginx_cpu_s", 2)]
    res = {"medians": medians(g, labels, cols), "ratios": {}}
    text = ["open model at a fixed rate vs closed reference (medians over repetitions)",
            table(labels[:4], g, cols),
            "wrk-open: not applicable (wrk has no fixed-rate mode; wrk2 would be the peer)", ""]
    oks = []
    pairs = (("stampede-open", "oha-open", 1.0), ("stampede-open", "stampede-closed", 1.5),
             ("stampede-open-slack", "oha-open", 1.0), ("stampede-open-slack", "stampede-closed", 1.5))
    for num, den, limit in pairs:
        r, line = ratio(g, res, num, den, "cpu_us_per_req", "CPU per request")
        text.append(line)
        oks.append(None if r is None else (r < limit if limit == 1.0 else r <= limit))
    res["bar"] = {"open: CPU/req below oha's": verdict(oks[0]),
                  "open: CPU/req <= 1.5x stampede closed": verdict(oks[1])}
    text.append("")
    text.append(f"BAR open model, CPU/req below oha's (same run): {verdict(oks[0])}")
    text.append(f"BAR open model, CPU/req <= 1.5x stampede's closed-model CPU/req: {verdict(oks[1])}")
    text.append(f"  with the slack variant's --timer-slack: below oha's {verdict(oks[2])}, "
                f"<= 1.5x closed {verdict(oks[3])}")
    return res, "\n".join(text)


def summary_memory(rows, low=1000, high=10000):
    g = by_label(rows)
    tools = ["wrk", "stampede", "oha"]
    res = {"low": low, "high": high, "medians": {}, "kib_per_conn": {}}
    text = [f"RSS per extra keep-alive connection, {low} vs {high} connections"
            " (medians of max RSS over repetitions)",
            f"{'tool':<10}{'rss low KiB':>14}{'rss high KiB':>14}{'KiB/conn':>12}"
            f"{'req/s low':>12}{'req/s high':>12}{'err low':>9}{'err high':>9}",
            "-" * 92]
    for t in tools:
        a, b = g.get(f"{t}-{low}"), g.get(f"{t}-{high}")
        if not a or not b:
            text.append(f"{t:<10}{'skipped':>14}")
            continue
        r1, r10 = med([r["max_rss_kib"] for r in a]), med([r["max_rss_kib"] for r in b])
        per = (r10 - r1) / (high - low)
        res["medians"][t] = {"rss_low_kib": r1, "rss_high_kib": r10,
                             "rps_low": med([r["rps"] for r in a]), "rps_high": med([r["rps"] for r in b]),
                             "errors_low": med([r["errors"] for r in a]),
                             "errors_high": med([r["errors"] for r in b])}
        res["kib_per_conn"][t] = per
        mm = res["medians"][t]
        text.append(f"{t:<10}{r1:>14,.0f}{r10:>14,.0f}{per:>12.3f}{mm['rps_low']:>12,.0f}"
                    f"{mm['rps_high']:>12,.0f}{mm['errors_low']:>9,.0f}{mm['errors_high']:>9,.0f}")
    k = res["kib_per_conn"]
    text.append("")
    ok = None
    if "stampede" in k and "wrk" in k:
        ok = k["stampede"] <= k["wrk"]
        ratio = k["stampede"] / k["wrk"] if k["wrk"] else float("inf")
        res["ratio_stampede_wrk"] = ratio
        text.append(f"KiB per extra connection, stampede / wrk: {ratio:.3f}")
    if "stampede" in k and "oha" in k and k["oha"]:
        res["ratio_stampede_oha"] = k["stampede"] / k["oha"]
        text.append(f"KiB per extra connection, stampede / oha: {res['ratio_stampede_oha']:.3f}")
    res["bar"] = {"memory: RSS/extra conn <= wrk's": verdict(ok)}
    text.append(f"BAR RSS per extra connection <= wrk's: {verdict(ok)}")
    return res, "\n".join(text)


def summary_replay(rows):
    g = by_label(rows)
    labels = ["stampede-replay", "stampede-open", "wrk-paths"]
    cols = [("req/s", "rps", 0), ("cpu s", "cpu_s", 2), ("us cpu/req", "cpu_us_per_req", 2),
            ("req/cpu-s", "req_per_cpu_s", 0), ("max rss KiB", "max_rss_kib", 0),
            ("errors", "errors", 0), ("nginx cpu s", "nginx_cpu_s", 2)]
    res = {"medians": medians(g, labels, cols), "ratios": {}}
    text = ["replaying an access log at a fixed rate vs one URL at that rate and wrk cycling the "
            "same paths (medians over repetitions)", table(labels, g, cols), ""]
    for num, den in (("stampede-replay", "stampede-open"), ("stampede-replay", "wrk-paths")):
        text.append(ratio(g, res, num, den, "cpu_us_per_req", "CPU per request")[1])
    return res, "\n".join(text)


def cmd_summary(a):
    rows = load(a.tsv)
    if a.kind == "memory":
        res, text = summary_memory(rows, a.low, a.high)
    else:
        res, text = {"closed": summary_closed, "open": summary_open,
                     "replay": summary_replay}[a.kind](rows)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("row")
    for k in ("tsv", "tool", "label", "parser", "stdout", "time", "load"):
        r.add_argument(f"--{k}", required=True)
    r.add_argument("--rep", type=int, required=True)
    r.add_argument("--rc", type=int, required=True)
    r.add_argument("--nginx-ticks", type=int, required=True)
    r.add_argument("--clk-tck", type=int, required=True)
    s = sub.add_parser("summary")
    s.add_argument("kind", choices=["closed", "open", "memory", "replay"])
    s.add_argument("tsv")
    s.add_argument("--json")
    s.add_argument("--low", type=int, default=1000)
    s.add_argument("--high", type=int, default=10000)
    a = p.parse_args()
    {"row": cmd_row, "summary": cmd_summary}[a.cmd](a)


if __name__ == "__main__":
    main()
