#!/usr/bin/env python3
"""Tables of whole jobs against their floors, from `gradcore select --timings` files.

    python3 bench/e2e/report.py [--brief] RUN.json …

One table per run: every phase's slowest-rank seconds, its floor (the time its counted bytes and
flops need at the ceilings the rank measured, docs/design.md §7.1), what sets the floor, and the
share of the floor reached, then the run around the phases where the file has it (rank 0's start-up,
measuring the ceilings, writing the coreset, the seconds since main's entry) and the command's wall
clock where RUN.log beside RUN.json has a `wall_s:` line (bench/e2e/run.sh writes one); then one
summary row per run (total = the top-level phases). With --brief only one table, a row a run and a
column for every phase and sub-phase (the A/B of `scripts/gpu.sh ab`).
"""
import json
import os
import sys


def fmt(x, digits=3):
    return "—" if x is None else f"{x:.{digits}f}"


def brief(paths):
    runs = [(path.rsplit("/", 1)[-1].removesuffix(".json"), json.load(open(path))["phases"]) for path in paths]
    names = []
    for _, phases in runs:
        names += [p["name"] for p in phases if p["depth"] <= 1 and p["name"] not in names]
    print("| run | " + " | ".join(names) + " | total s |")
    print("|---|" + "---:|" * (len(names) + 1))
    for run, phases in runs:
        seconds = {p["name"]: p["max_s"] for p in phases}
        total = sum(p["max_s"] for p in phases if p["depth"] == 0)
        print(f"| {run} | " + " | ".join(fmt(seconds.get(n)) for n in names) + f" | {total:.3f} |")


def wall_clock(path):
    """The command's wall clock from RUN.log's `wall_s:` line, else None."""
    log = path.removesuffix(".json") + ".log"
    if not os.path.exists(log):
        return None
    lines = [line.split(":", 1)[1] for line in open(log) if line.startswith("wall_s:")]
    return float(lines[-1]) if lines else None


def main(paths):
    summary = []
    for path in paths:
        t = json.load(open(path))
        phases = t["phases"]
        top = [p for p in phases if p["depth"] == 0]
        total = sum(p["max_s"] for p in top)
        floor = sum(p["floor_s"] or 0.0 for p in top)
        name = path.rsplit("/", 1)[-1].removesuffix(".json")
        c = t.get("ceilings", {})
        print(f"### {name}: {t['method']} ({t['embedding']} + {t['selector']}), N = {t['N']:,}, D = {t['D']}, "
              f"k = {t['k']:,}, {t['ranks']} rank(s) on {t['devices']}")
        print(f"ceilings: memory {c.get('memory_GBps')} GB/s, link {c.get('link_GBps')} GB/s, "
              f"host {c.get('host_GBps')} GB/s, GEMM {c.get('gemm_GFLOPps')} GFLOP/s, "
              f"host FP64 GEMM {c.get('host_fp64_GFLOPps')} GFLOP/s\n")
        print("| phase | seconds | floor s | bound | of floor |")
        print("|---|---:|---:|---|---:|")
        for p in phases:
            indent = "&nbsp;&nbsp;" * p["depth"]
            share = None if p["of_floor"] is None else 100 * p["of_floor"]
            print(f"| {indent}{p['name'].rsplit('/', 1)[-1]} | {fmt(p['max_s'])} | {fmt(p['floor_s'], 4)} | "
                  f"{p['bound']} | {fmt(share, 0)}{'%' if share is not None else ''} |")
        print(f"| **total** | **{total:.2f}** | {floor:.3f} | | {100 * floor / total:.0f}% |\n")
        wall = wall_clock(path)
        if "elapsed_s" in t or wall is not None:
            print(f"around the phases: start-up (MPI_Init) {fmt(t.get('startup_s'))} s, ceilings measured "
                  f"{fmt(t.get('ceilings_s'))} s, coreset written {fmt(t.get('write_s'))} s; main's entry to the "
                  f"timings {fmt(t.get('elapsed_s'))} s; the command's wall clock {fmt(wall, 2)} s\n")
        summary.append((name, t, total, floor, {p["name"]: p["max_s"] for p in top}, wall))
    print("| run | D | k | read | setup | embed | select | quality | total s | floor s | start-up | ceilings | "
          "write | in gradcore s | wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, t, total, floor, top, wall in summary:
        cells = " | ".join(fmt(top.get(k), 2) for k in ("read", "setup", "embed", "select", "quality"))
        around = " | ".join(fmt(t.get(k), 2) for k in ("startup_s", "ceilings_s", "write_s", "elapsed_s"))
        print(f"| {name} | {t['D']} | {t['k']:,} | {cells} | {total:.2f} | {floor:.3f} | {around} | {fmt(wall, 2)} |")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--brief"]:
        brief(sys.argv[2:])
    else:
        main(sys.argv[1:])
