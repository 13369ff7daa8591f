"""bench/netem/netem.sh's helper and report.

  report.py --phases TIMINGS.json TAG   one JSON line: the run's select seconds and OMP passes
  report.py --same A.h5 B.h5            exit 1 unless the two coresets are equal bit for bit
  report.py --table RESULTS.jsonl       markdown on stdout: the links, each collective family's
                                        measured time next to docs/scaling.md's model, and the
                                        before/after comparison of the builds

The model (docs/scaling.md, "Machine assumptions"), for P ranks on 2 nodes of Q = P/2: a tree has
log2(Q) levels inside a node and one between them, L_tree = log2(Q)·L_shm + L_net; bulk data moves
at B_net. Per call of n bytes:
  agreement, pass reduce, small allreduce/bcast   L_tree + log2(P)·n/B
  pass bcast                                      L_tree + log2(P)·n/B
  bcast, larger than 8 KB                         L_tree + 2n/B
  allreduce, larger than 8 KB                     2·L_tree + 2n(P−1)/(P·B)
  gather (linear, to rank 0)                      (P−1)·L_net + n/B
  row exchange (Alltoall, Alltoallv)              (P−1)·L_net + n/B
  allgather                                       L_tree + n(P−1)/(P·B)
L_shm, L_net and B_net are the ping-pong measurements of the same configuration."""
import collections
import json
import math
import sys

SMALL = 8192


def predict(family, calls, total_bytes, ranks, link):
    q = max(ranks // 2, 1)
    l_tree = (math.log2(q) * link["L_shm_us"] + link["L_net_us"]) * 1e-6
    l_net = link["L_net_us"] * 1e-6
    b = link["B_net_GBps"] * 1e9
    n = total_bytes / calls
    if family in ("agreement", "pass reduce", "pass bcast") or (family in ("allreduce", "bcast") and n <= SMALL):
        per_call = l_tree + math.log2(ranks) * n / b
    elif family == "bcast":
        per_call = l_tree + 2 * n / b
    elif family == "allreduce":
        per_call = 2 * l_tree + 2 * n * (ranks - 1) / (ranks * b)
    elif family in ("gather", "row exchange"):
        per_call = (ranks - 1) * l_net + n / b
    elif family == "allgather":
        per_call = l_tree + n * (ranks - 1) / (ranks * b)
    else:
        return None
    return per_call


def phases(path, tag):
    t = json.load(open(path))
    phase = {p["name"]: p for p in t["phases"]}
    passes = phase["select/score"]["calls"] if "select/score" in phase else 0
    print(json.dumps({"run": tag, "select_s": phase["select"]["max_s"], "passes": passes, "ranks": t["ranks"]}))


def same(a_path, b_path):
    import h5py
    import numpy as np
    with h5py.File(a_path) as a, h5py.File(b_path) as b:
        for key in ("index", "weight", "label", "gain", "loss"):
            if not np.array_equal(a["coreset"][key][()], b["coreset"][key][()]):
                sys.exit(f"{key} differs between {a_path} and {b_path}")


def table(path):
    # The best repetition of each number: interference on a shared machine only ever adds.
    links, families, selects = {}, {}, {}
    for line in open(path):
        record = json.loads(line)
        if "link" in record:
            best = links.setdefault(record["run"], record)["link"]
            for key, value in record["link"].items():
                best[key] = max(best[key], value) if key.startswith("B_") else min(best[key], value)
        elif "family" in record:
            best = families.setdefault((record["run"], record["family"]), record)
            for key in ("seconds", "median_s"):
                best[key] = min(best[key], record[key])
        else:
            best = selects.setdefault(record["run"], record)
            best["select_s"] = min(best["select_s"], record["select_s"])
    families = list(families.values())
    print("Each number is the best of the repetitions (bench/netem/netem.sh --repeat).\n")
    print("## Links (ping-pong, one-way latency = half the 8-byte round trip, median of 200)\n")
    print("| configuration | emulation | L_shm (µs) | B_shm (GB/s) | L_net (µs) | B_net (GB/s) |")
    print("|---|---|---:|---:|---:|---:|")
    for config, r in links.items():
        emulation = "none (veth + bridge)" if r["delay_us"] == 0 else (
            "sch_netem" if r["netem"] == "yes" else "delay line (TUN) + tbf")
        link = r["link"]
        print(f"| {config} | {emulation} | {link['L_shm_us']:.1f} | {link['B_shm_GBps']:.2f} | {link['L_net_us']:.1f} "
              f"| {link['B_net_GBps']:.3f} |")
    print("\n## Collective families: measured against the model at the measured L and B\n")
    print("Cost of a call = last rank's departure − last rank's arrival (bench/netem/mpi_profile.c).\n")
    print("| configuration | method | build | family | calls | bytes/call | measured µs/call, median (mean) "
          "| model µs/call | median / model |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|")
    for row in families:
        config, method, build = row["run"].rsplit(" ", 2)
        link = links[config]["link"]
        model = predict(row["family"], row["calls"], row["bytes"], row["ranks"], link)
        mean, median = row["seconds"] / row["calls"] * 1e6, row["median_s"] * 1e6
        predicted = f"{model * 1e6:.1f}" if model else "—"
        ratio = f"{median / (model * 1e6):.2f}" if model else "—"
        print(f"| {config} | {method} | {build} | {row['family']} | {row['calls']} | {row['bytes'] / row['calls']:.0f} "
              f"| {median:.1f} ({mean:.1f}) | {predicted} | {ratio} |")
    counts = collections.Counter()
    for row in families:
        counts[row["run"]] += row["calls"]
    print("\n## Before and after: select time and collectives per run\n")
    print("| configuration | method | build | select (s) | OMP passes | ms per pass | collectives |")
    print("|---|---|---|---:|---:|---:|---:|")
    for run, r in selects.items():
        config, method, build = run.rsplit(" ", 2)
        per_pass = f"{r['select_s'] / r['passes'] * 1e3:.2f}" if r["passes"] else "—"
        print(f"| {config} | {method} | {build} | {r['select_s']:.3f} | {r['passes'] or '—'} | {per_pass} "
              f"| {counts[run]} |")


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    {"--phases": phases, "--same": same, "--table": table}[mode](*args)
