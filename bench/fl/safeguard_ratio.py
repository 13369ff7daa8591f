"""Facility location at 8 partitions against single-machine greedy on the CPU, with GreeDi's
safeguard as it runs now (docs/design.md §4.1): the objective F(S) of the 8-partition coreset over
F(S) of one partition holding every row, for the default oversampling α = 2 (no partition can stand
alone, so the merged set stands), and for α = 8 (every partition can), where the merged set and the
8 partitions' own sets are compared on the default sample of --safeguard-sample rows and, for
reference, on every row (--safeguard-sample 0). Each 8-partition run is repeated at -np 4: the
coreset must be identical. One class (--per-class off), features of the synthetic mixture, k = 200.
The single block must fit the CPU's dense greedy (at most 32,768 rows). Times are the select phase
and its merge step (the safeguard runs there), max over ranks.
Usage: python safeguard_ratio.py GRADCORE_BIN OUT.txt [N]"""
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

binary, out = sys.argv[1], sys.argv[2]
N = int(sys.argv[3]) if len(sys.argv) > 3 else 24576
K, PARTS = 200, 8
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
data = f"synthetic:n={N},d=32,classes=10,seed=3"


def select(tmp, name, np_, *extra):
    cs, timings = f"{tmp}/{name}-{np_}.h5", f"{tmp}/{name}-{np_}.json"
    subprocess.run(["mpirun", "-q", "-np", str(np_), "--bind-to", "none", binary, "select", "--data", data,
                    "--embedding", "features", "--per-class", "off", "--k", str(K), "--out", cs, "--timings",
                    timings, "--quiet", *extra], check=True, env=env)
    with h5py.File(cs) as f:
        index, weight, F = f["coreset/index"][()], f["coreset/weight"][()], float(f.attrs["objective"])
    phases = {p["name"]: p["max_s"] for p in json.load(open(timings))["phases"]}
    return index, weight, F, phases["select"], phases["select/merge"]


lines = [f"# bench/fl/safeguard_ratio.py: N = {N}, D = 32, k = {K}, one class, {PARTS} partitions of "
         f"{N // PARTS} vs one of {N}; {os.cpu_count()} cores, {platform.machine()}, {time.strftime('%Y-%m-%d')}"]
with tempfile.TemporaryDirectory() as tmp:
    _, _, f_one, t_one, _ = select(tmp, "one", 1, "--partition-size", str(N))
    lines.append(f"1 partition (single-machine greedy)          F = {f_one:.10g}  select {t_one:6.2f} s")
    runs = {"alpha 2 (default): merged set, no comparison": ["--oversample", "2"],
            "alpha 8, safeguard on the sample (default)": ["--oversample", "8"],
            "alpha 8, safeguard on every row": ["--oversample", "8", "--safeguard-sample", "0"]}
    chosen = {}
    for label, extra in runs.items():
        args = ["--partition-size", str(N // PARTS), *extra]
        index, weight, F, t_select, t_merge = select(tmp, label[:7].replace(" ", ""), 1, *args)
        index4, weight4, _, _, _ = select(tmp, label[:7].replace(" ", ""), 4, *args)
        same = np.array_equal(index, index4) and np.array_equal(weight, weight4)
        chosen[label] = index
        lines.append(f"{PARTS} partitions, {label:45s} F = {F:.10g}  ratio {F / f_one:.6f}  select {t_select:6.2f} s "
                     f"(merge {t_merge:.3f} s)  -np 4 identical: {'yes' if same else 'NO'}")
    sampled, every = chosen["alpha 8, safeguard on the sample (default)"], chosen["alpha 8, safeguard on every row"]
    lines.append(f"alpha 8: the sample keeps {'the same set as' if np.array_equal(sampled, every) else 'another set than'}"
                 " the comparison on every row")
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
