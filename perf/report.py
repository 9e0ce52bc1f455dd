#!/usr/bin/env python3
"""Turns the JSON lines of one perf/run.sh run into the Markdown report (stdout).

Each line is one ringcast-loadgen report whose label is "<scenario>|<server>". The reference for
every ratio is the "ringcast-uring" row (io_uring, 1 shard) of the same scenario.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
from collections import OrderedDict

REFERENCE = "ringcast-uring"


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    for r in rows:
        scenario, _, server = r.get("label", "?|?").partition("|")
        r["_scenario"], r["_server"] = scenario, server
    return rows


def by_scenario(rows):
    groups = OrderedDict()
    for r in rows:
        groups.setdefault(r["_scenario"], []).append(r)
    return groups


def version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def fmt(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def pct(v):
    return "–" if v is None else f"{v:.0f}%"


def ratio(ref, row, key, invert=False):
    """ref/row for 'higher is better' keys; row/ref when invert (e.g. bytes per connection)."""
    if not ref or not ref.get("ok") or not row.get("ok"):
        return None
    a, b = ref.get(key), row.get(key)
    if not a or not b:
        return None
    return b / a if invert else a / b


def status(r):
    if r.get("ok"):
        return ""
    return " **FAILED**: " + str(r.get("error") or "?").replace("|", "/")


def header(args, rows):
    kind = "quick subset" if args.quick == "1" else "full matrix"
    lines = [
        f"# ringcast performance: {args.commit}",
        "",
        f"- Run: {kind}, {len(rows)} runs in {args.elapsed} s, one fresh server process per row.",
        f"- Machine: {cpu_model()}, {os.cpu_count()} cores, Linux {platform.release()} (shared and noisy: "
        "compare rows of one table, not tables of different runs).",
        f"- Software: {version([args.ringcast, '--version'])}; node {version(['node', '--version'])}; "
        f"bun {version([args.bun, '--version'])}; sockjs 0.3.24 + websocket-multiplex 0.1.0; ws 8.",
        "- Method: server pinned to core 0 (ringcast-uring-2shards: cores 0 and 1, so it shares core 1 "
        "with the load generator), ringcast-loadgen pinned to core 1; warm-up, then the measured "
        "window; the publisher keeps W broadcasts in flight to N subscribers. See perf/README.md.",
        "- Columns: deliveries/s over the window; server CPU (utime+stime, all threads) per delivery; "
        "server cores = CPU time / wall time; latency from the payload's send timestamp to receipt; "
        "*saturated* = the load generator used > 90% of its core (numbers are a lower bound); "
        "*CPU pressure* = share of the window in which some task on the machine waited for a CPU "
        "(Linux PSI; high = other work competed, expect lower deliveries/s and latency outliers); "
        "*TCP retrans* = machine-wide retransmitted segments in the window (a loopback drop stalls a "
        "stream for 200 ms or more); "
        f"**ringcast ×** = {REFERENCE}'s deliveries per server CPU-second divided by this row's "
        "(> 1: ringcast needs less CPU per delivery).",
        "",
    ]
    return lines


def summary_table(groups):
    load = [(s, rs) for s, rs in groups.items() if not s.startswith("idle")]
    servers = []
    for _, rs in load:
        for r in rs:
            if r["_server"] != REFERENCE and r["_server"] not in servers:
                servers.append(r["_server"])
    if not load or not servers:
        return []
    lines = [
        f"## Summary: {REFERENCE} deliveries per server CPU-second ÷ each server's",
        "",
        "| scenario | " + " | ".join(servers) + " |",
        "|---|" + "---:|" * len(servers),
    ]
    for scenario, rs in load:
        ref = next((r for r in rs if r["_server"] == REFERENCE), None)
        cells = []
        for name in servers:
            row = next((r for r in rs if r["_server"] == name), None)
            x = ratio(ref, row, "deliveries_per_server_cpu_sec") if row else None
            cells.append("–" if x is None else f"{x:.2f}×")
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return lines + [""]


def load_table(scenario, rs):
    ref = next((r for r in rs if r["_server"] == REFERENCE), None)
    lines = [
        f"## {scenario}",
        "",
        "| server | deliveries/s | server µs/delivery | server cores | p50 µs | p99 µs | lost "
        "| saturated | CPU pressure | TCP retrans | ringcast × |",
        "|---|---:|---:|---:|---:|---:|---:|:---:|---:|---:|---:|",
    ]
    for r in rs:
        lat = r.get("latency_us") or {}
        x = ratio(ref, r, "deliveries_per_server_cpu_sec")
        xs = "ref" if r is ref else ("–" if x is None else f"{x:.2f}×")
        sat = "yes" if r.get("loadgen_saturated") else ""
        lines.append(
            f"| {r['_server']}{status(r)} | {fmt(r.get('deliveries_per_sec'))} | "
            f"{fmt(r.get('server_cpu_us_per_delivery'), 3)} | {fmt(r.get('server_cpu_util'), 2)} | "
            f"{fmt(lat.get('p50'))} | {fmt(lat.get('p99'))} | {r.get('lost', '–')} | {sat} | "
            f"{pct(r.get('cpu_pressure_pct'))} | {fmt(r.get('tcp_retrans_segs'))} | {xs} |"
        )
    return lines + [""]


def idle_table(scenario, rs):
    ref = next((r for r in rs if r["_server"] == REFERENCE), None)
    lines = [
        f"## {scenario}: server memory per idle WebSocket connection",
        "",
        "Connected and subscribed, then idle; VmRSS of a fresh server before connecting and after.",
        "",
        "| server | connections | RSS before MiB | RSS after MiB | KiB/connection | × ringcast |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rs:
        per = r.get("server_rss_per_conn_bytes")
        x = ratio(ref, r, "server_rss_per_conn_bytes", invert=True)
        xs = "ref" if r is ref else ("–" if x is None else f"{x:.1f}×")
        before, after = r.get("server_rss_before_kib"), r.get("server_rss_after_kib")
        lines.append(
            f"| {r['_server']}{status(r)} | {fmt(r.get('connections'))} | "
            f"{fmt(before / 1024 if before else None, 1)} | {fmt(after / 1024 if after else None, 1)} | "
            f"{fmt(per / 1024 if per is not None else None, 2)} | {xs} |"
        )
    return lines + [""]


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--raw", required=True)
    p.add_argument("--commit", default="?")
    p.add_argument("--ringcast", default="ringcast")
    p.add_argument("--bun", default="bun")
    p.add_argument("--quick", default="0")
    p.add_argument("--elapsed", default="?")
    args = p.parse_args()
    rows = load(args.raw)
    groups = by_scenario(rows)
    out = header(args, rows) + summary_table(groups)
    for scenario, rs in groups.items():
        out += idle_table(scenario, rs) if scenario.startswith("idle") else load_table(scenario, rs)
    failed = [r for r in rows if not r.get("ok")]
    if failed:
        out.append(f"{len(failed)} run(s) failed; see the rows marked FAILED and the raw JSON lines.")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
