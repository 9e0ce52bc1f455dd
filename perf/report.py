#!/usr/bin/env python3
"""Turns the JSON lines of one perf/run.sh run into the Markdown report (stdout).

Each line is one ringcast-loadgen report whose label is "<scenario>|<server>|<repeat>" (older
raw files have no "|<repeat>"). The reference for every ratio is the "ringcast-uring" row
(io_uring, 1 shard) of the same scenario. With several runs per row (run.sh --repeat K), a row
shows the median [min-max] of deliveries/s and server CPU per delivery, the other columns of the
run with the median server CPU per delivery, and "ringcast x" as the median [min-max] of the
ratios of runs of the same round.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from collections import OrderedDict

REFERENCE = "ringcast-uring"
# Issue targets: (scenario, server, minimum "ringcast x").
TARGETS = [
    ("SockJS-websocket N=1000 W=16 64B", "sockjs-node", 15.0),
    ("xhr-streaming N=1000 W=16 64B", "sockjs-node", 5.0),
]
FIGURE = "deliveries_per_server_cpu_sec"


def load(path):
    runs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                runs.append(json.loads(line))
    for r in runs:
        parts = r.get("label", "?|?").split("|")
        r["_scenario"], r["_server"] = parts[0], parts[1] if len(parts) > 1 else "?"
        r["_rep"] = parts[2] if len(parts) > 2 else "1"
    return runs


class Row:
    """Every run of one server in one scenario."""

    def __init__(self, server, runs):
        self.server = server
        self.runs = runs
        self.ok_runs = [r for r in runs if r.get("ok")]
        self.ok = len(self.ok_runs) == len(runs)
        self.by_rep = {r["_rep"]: r for r in self.ok_runs}
        ranked = sorted(self.ok_runs, key=lambda r: r.get(FIGURE) or r.get("server_rss_per_conn_bytes") or 0)
        # The lower middle for an even count: always an actual run.
        self.median_run = ranked[(len(ranked) - 1) // 2] if ranked else runs[0]

    def get(self, key):
        return self.median_run.get(key)

    def median(self, key):
        values = [r.get(key) for r in self.ok_runs if r.get(key) is not None]
        return statistics.median(values) if values else self.median_run.get(key)

    def span(self, key):
        values = [r.get(key) for r in self.ok_runs if r.get(key) is not None]
        return (min(values), max(values)) if len(values) > 1 else None

    def total(self, key):
        return sum(r.get(key) or 0 for r in self.runs)

    def error(self):
        bad = [r for r in self.runs if not r.get("ok")]
        if not bad:
            return None
        return f"{len(bad)} of {len(self.runs)} runs: {bad[0].get('error') or '?'}"


def by_scenario(runs):
    """OrderedDict scenario -> list of Row, servers in first-seen order."""
    groups = OrderedDict()
    for r in runs:
        groups.setdefault(r["_scenario"], OrderedDict()).setdefault(r["_server"], []).append(r)
    return OrderedDict((s, [Row(name, rs) for name, rs in servers.items()]) for s, servers in groups.items())


def paired_ratios(ref, row, key=FIGURE, invert=False):
    """ref/row per round (same repeat index), both runs ok; row/ref when invert."""
    out = []
    for rep, a_run in (ref.by_rep.items() if ref else []):
        b_run = row.by_rep.get(rep)
        a, b = a_run.get(key), b_run.get(key) if b_run else None
        if a and b:
            out.append(b / a if invert else a / b)
    return out


def ratio_cell(ref, row, key=FIGURE, invert=False, digits=2):
    if row is ref:
        return "ref"
    xs = paired_ratios(ref, row, key, invert)
    if not xs:
        return "–"
    cell = f"{statistics.median(xs):.{digits}f}×"
    if len(xs) > 1:
        cell += f" [{min(xs):.{digits}f}–{max(xs):.{digits}f}]"
    return cell


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


def compact(v):
    if v is None:
        return "?"
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.2f}{suffix}"
    return f"{v:.0f}"


def with_span(row, key, digits, short=False):
    """The median over the row's ok runs, and [min–max] when there are several."""
    cell = fmt(row.median(key), digits)
    sp = row.span(key)
    if sp:
        lo, hi = (compact(sp[0]), compact(sp[1])) if short else (fmt(sp[0], digits), fmt(sp[1], digits))
        cell += f" [{lo}–{hi}]"
    return cell


def status(row):
    err = row.error()
    return "" if err is None else " **FAILED**: " + err.replace("|", "/")


def header(args, runs, groups):
    kind = "quick subset" if args.quick == "1" else "full matrix"
    per_row = max((len(row.runs) for rows in groups.values() for row in rows), default=1)
    repeats = (
        "one run per row"
        if per_row == 1
        else f"up to {per_row} runs per row (rounds interleave the servers; deliveries/s and µs/delivery "
        "are the median [min–max] over the runs, ringcast × the median [min–max] of the per-round "
        "ratios, the other columns come from the run with the median µs/delivery)"
    )
    lines = [
        f"# ringcast performance: {args.commit}",
        "",
        f"- Run: {kind}, {len(runs)} runs in {args.elapsed} s, {repeats}, a fresh server process per run.",
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
    ]
    if any(s.startswith(("SockJS-", "xhr-")) for s in groups):
        lines.append(
            "- *SockJS-websocket* scenarios: every client (publisher included) on the SockJS websocket "
            "transport (`sockjs-rooms`). *xhr-streaming* scenarios: subscribers hold SockJS xhr_streaming "
            "sessions (re-POSTed whenever the server ends a response at response_limit) and subscribe "
            "through xhr_send; the publisher is a raw-WebSocket `rooms` client of the same service "
            "(`/rooms/websocket`), so the figures measure delivery to xhr_streaming subscribers."
        )
    return lines + [""]


def targets_table(groups):
    lines = []
    for scenario, server, minimum in TARGETS:
        rows = groups.get(scenario)
        if not rows:
            continue
        ref = next((r for r in rows if r.server == REFERENCE), None)
        row = next((r for r in rows if r.server == server), None)
        xs = paired_ratios(ref, row) if ref and row else []
        if xs:
            median = statistics.median(xs)
            verdict = "met" if median >= minimum else "**not met**"
            measured = ratio_cell(ref, row)
        else:
            verdict, measured = "no data", "–"
        lines.append(f"| {scenario} | {server} | ≥ {minimum:g}× | {measured} | {verdict} |")
    if not lines:
        return []
    head = [
        f"## Issue targets: {REFERENCE} deliveries per server CPU-second ÷ the peer's",
        "",
        "| scenario | peer | target | measured | |",
        "|---|---|---:|---:|---|",
    ]
    return head + lines + [""]


def summary_table(groups):
    load = [(s, rows) for s, rows in groups.items() if not s.startswith("idle")]
    servers = []
    for _, rows in load:
        for r in rows:
            if r.server != REFERENCE and r.server not in servers:
                servers.append(r.server)
    if not load or not servers:
        return []
    lines = [
        f"## Summary: {REFERENCE} deliveries per server CPU-second ÷ each server's",
        "",
        "| scenario | " + " | ".join(servers) + " |",
        "|---|" + "---:|" * len(servers),
    ]
    for scenario, rows in load:
        ref = next((r for r in rows if r.server == REFERENCE), None)
        cells = []
        for name in servers:
            row = next((r for r in rows if r.server == name), None)
            cells.append(ratio_cell(ref, row) if row else "–")
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return lines + [""]


def load_table(scenario, rows):
    ref = next((r for r in rows if r.server == REFERENCE), None)
    lines = [
        f"## {scenario}",
        "",
        "| server | runs | deliveries/s | server µs/delivery | server cores | p50 µs | p99 µs | lost "
        "| saturated | CPU pressure | TCP retrans | ringcast × |",
        "|---|---:|---:|---:|---:|---:|---:|---:|:---:|---:|---:|---:|",
    ]
    for r in rows:
        lat = r.get("latency_us") or {}
        saturated = sum(1 for run in r.ok_runs if run.get("loadgen_saturated"))
        sat = "" if not saturated else ("yes" if len(r.runs) == 1 else f"{saturated}/{len(r.runs)}")
        lines.append(
            f"| {r.server}{status(r)} | {len(r.runs)} | {with_span(r, 'deliveries_per_sec', 0, short=True)} | "
            f"{with_span(r, 'server_cpu_us_per_delivery', 3)} | {fmt(r.get('server_cpu_util'), 2)} | "
            f"{fmt(lat.get('p50'))} | {fmt(lat.get('p99'))} | {r.total('lost')} | {sat} | "
            f"{pct(r.get('cpu_pressure_pct'))} | {fmt(r.get('tcp_retrans_segs'))} | {ratio_cell(ref, r)} |"
        )
    return lines + [""]


def idle_table(scenario, rows):
    ref = next((r for r in rows if r.server == REFERENCE), None)
    lines = [
        f"## {scenario}: server memory per idle WebSocket connection",
        "",
        "Connected and subscribed, then idle; VmRSS of a fresh server before connecting and after.",
        "",
        "| server | connections | RSS before MiB | RSS after MiB | KiB/connection | × ringcast |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        per = r.get("server_rss_per_conn_bytes")
        xs = ratio_cell(ref, r, "server_rss_per_conn_bytes", invert=True, digits=1)
        before, after = r.get("server_rss_before_kib"), r.get("server_rss_after_kib")
        lines.append(
            f"| {r.server}{status(r)} | {fmt(r.get('connections'))} | "
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
    runs = load(args.raw)
    groups = by_scenario(runs)
    out = header(args, runs, groups) + targets_table(groups) + summary_table(groups)
    for scenario, rows in groups.items():
        out += idle_table(scenario, rows) if scenario.startswith("idle") else load_table(scenario, rows)
    failed = [r for r in runs if not r.get("ok")]
    if failed:
        out.append(f"{len(failed)} run(s) failed; see the rows marked FAILED and the raw JSON lines.")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
